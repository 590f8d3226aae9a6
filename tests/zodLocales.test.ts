/**
 * bin/zodLocales.js defers zod's locales (a start-up cost; `npm run bench:startup` shows it). What it must
 * not change is how zod behaves: fresh processes, zod required after the stand-in is in place (as
 * bin/klisk.js does), after zod has loaded, or not at all.
 */
import path from "node:path";
import { runChild } from "./helpers/cli";

const ROOT = path.resolve(__dirname, "..");
const SHIM = path.join(ROOT, "bin", "zodLocales.js");

type When = "before zod loads" | "after zod loads" | "never";

/** zod's message for a bad string, by default and under the locales a project can configure, and every locale's name. */
async function zodIn(when: When): Promise<Record<string, unknown>> {
  const defer = `require(${JSON.stringify(SHIM)}).deferZodLocales();`;
  const script = `
    ${when === "before zod loads" ? defer : ""}
    const { z } = require("zod");
    ${when === "after zod loads" ? defer : ""}
    const message = () => z.string().safeParse(1).error.issues[0].message;
    const english = message();
    z.config(z.locales.fr());
    const french = message();
    z.config(z.locales.de());
    const german = message();
    z.config(z.locales.en());
    console.log(JSON.stringify({ english, french, german, englishAgain: message(), locales: Object.keys(z.locales) }));`;
  return JSON.parse((await runChild(process.execPath, ["-e", script], { cwd: ROOT, mustSucceed: true })).stdout);
}

test("with the stand-in, zod speaks English by default and the locale a project configures", async () => {
  const zod = await zodIn("before zod loads");
  expect(zod.english).toMatch(/^Invalid input: expected string/);
  expect(zod.french).toMatch(/^Entrée invalide/);
  expect(zod.german).toMatch(/^Ungültige Eingabe/);
  expect(zod.englishAgain).toBe(zod.english);
  expect(zod.locales).toEqual(expect.arrayContaining(["en", "fr", "de", "ja", "zhCN"]));
});

test("zod behaves the same with the stand-in, with it set up too late, and without it", async () => {
  const without = await zodIn("never");
  expect(await zodIn("before zod loads")).toEqual(without);
  expect(await zodIn("after zod loads")).toEqual(without);
});
