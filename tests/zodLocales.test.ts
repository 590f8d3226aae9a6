/** deferZodLocales: zod's locales load when read, and zod behaves as before. Fresh processes: the require cache is the subject. */
import { execFileSync } from "node:child_process";
import path from "node:path";

const DIST = path.resolve(__dirname, "../dist/zodLocales.js");

function run(body: string): Record<string, unknown> {
  const script = `
    const deferred = require(${JSON.stringify(DIST)}).deferZodLocales();
    const loadedLocales = () => Object.keys(require.cache).filter((f) => /zod[\\\\/]v4[\\\\/]locales[\\\\/](?!index)/.test(f)).map((f) => require("path").basename(f)).sort();
    const { z } = require("zod");
    ${body}`;
  return JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: path.resolve(__dirname, ".."), encoding: "utf8" }));
}

test("only English loads with zod; a locale loads when a project asks for it, and works", () => {
  const result = run(`
    const english = z.string().safeParse(1).error.issues[0].message;
    const before = loadedLocales();
    z.config(z.locales.fr());
    const french = z.string().safeParse(1).error.issues[0].message;
    console.log(JSON.stringify({ deferred, before, english, french, after: loadedLocales(), names: Object.keys(z.locales).length }));`);
  expect(result.deferred).toBe(true);
  expect(result.before).toEqual(["en.cjs"]);
  expect(result.english).toMatch(/^Invalid input: expected string/);
  expect(result.french).toMatch(/^Entrée invalide/);
  expect(result.after).toEqual(["en.cjs", "fr.cjs"]);
  expect(result.names).toBeGreaterThan(40); // every locale is still listed
});

test("without the stand-in zod loads every locale (what the stand-in saves), and a second call changes nothing", () => {
  const script = `
    require("zod");
    const count = Object.keys(require.cache).filter((f) => /zod[\\\\/]v4[\\\\/]locales[\\\\/]/.test(f)).length;
    console.log(JSON.stringify({ count, deferredAfterZod: require(${JSON.stringify(DIST)}).deferZodLocales() }));`;
  const result = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: path.resolve(__dirname, ".."), encoding: "utf8" }));
  expect(result.count).toBeGreaterThan(40);
  expect(result.deferredAfterZod).toBe(false);
});
