/**
 * Start-up stand-ins in bin/ (module loads deferred for a faster cold start) change nothing a user sees.
 *
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

/**
 * bin/deferExpressParsers.js defers body-parser and qs behind stand-ins. Express and a project's own
 * configureServer must see the same parsers: JSON, urlencoded (extended, so through qs), text and raw
 * bodies, extended query strings, and body-parser's generic, each answered over a real socket.
 */
async function expressIn(when: "before Express loads" | "never"): Promise<unknown> {
  const defer = `require(${JSON.stringify(path.join(ROOT, "bin", "deferExpressParsers.js"))}).deferExpressParsers();`;
  const script = `
    ${when === "before Express loads" ? defer : ""}
    const express = require("express");
    const app = express();
    app.set("query parser", "extended");
    app.use(express.json(), express.urlencoded({ extended: true }), express.text(), express.raw());
    app.all("/", (req, res) => res.json({ body: Buffer.isBuffer(req.body) ? ["bytes", req.body.toString("hex")] : req.body, query: req.query }));
    const server = app.listen(0, "127.0.0.1", async () => {
      const url = "http://127.0.0.1:" + server.address().port + "/?a[b][c]=1&list[]=x&list[]=y";
      const post = async (type, body) => (await fetch(url, { method: "POST", headers: { "content-type": type }, body })).json();
      const answers = {
        json: await post("application/json", '{"n":[1,{"m":true}]}'),
        form: await post("application/x-www-form-urlencoded", "user[name]=ada&user[langs][]=en&user[langs][]=fr"),
        text: await post("text/plain", "plain words"),
        raw: await post("application/octet-stream", "\\u0001\\u0002"),
        badJson: (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{" })).status,
      };
      let generic;
      try { require("body-parser")(); } catch (err) { generic = err.message; }
      server.close();
      console.log(JSON.stringify({ answers, generic, names: ["json", "raw", "text", "urlencoded"].map((n) => express[n].name) }));
    });`;
  return JSON.parse((await runChild(process.execPath, ["-e", script], { cwd: ROOT, mustSucceed: true })).stdout);
}

test("with body-parser and qs deferred, Express parses bodies and extended queries as it does without", async () => {
  const deferred = (await expressIn("before Express loads")) as any;
  expect(deferred.answers.json.body).toEqual({ n: [1, { m: true }] });
  expect(deferred.answers.json.query).toEqual({ a: { b: { c: "1" } }, list: ["x", "y"] });
  expect(deferred.answers.form.body).toEqual({ user: { name: "ada", langs: ["en", "fr"] } });
  expect(deferred.answers.text.body).toBe("plain words");
  expect(deferred.answers.raw.body).toEqual(["bytes", "0102"]);
  expect(deferred.answers.badJson).toBe(400);
  expect(deferred.generic).toMatch(/split into individual middleware/);
  expect(deferred).toEqual(await expressIn("never"));
});
