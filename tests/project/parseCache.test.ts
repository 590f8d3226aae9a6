/** The parse cache behind klisk.config.yaml: same text → stored result; anything odd → parse again. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { cacheDir, cachedParse } from "../../src/project/parseCache";
import { removeTmpProjects, tmpProject } from "../fixtures/tmpProject";

afterAll(removeTmpProjects);

function counting(parse: (text: string) => unknown = (text) => ({ text })) {
  const calls: string[] = [];
  return { calls, parse: (text: string) => (calls.push(text), parse(text)) };
}

test("the same text and parser version is parsed once; a new text or version parses again", () => {
  const dir = tmpProject();
  const { calls, parse } = counting();
  const options = { kind: "config", version: "1.0.0", dir };
  expect(cachedParse("a: 1", options, parse)).toEqual({ text: "a: 1" });
  expect(cachedParse("a: 1", options, parse)).toEqual({ text: "a: 1" });
  expect(calls).toEqual(["a: 1"]);
  cachedParse("a: 2", options, parse);
  cachedParse("a: 1", { ...options, version: "1.0.1" }, parse);
  expect(calls).toEqual(["a: 1", "a: 2", "a: 1"]);
});

test("values JSON cannot hold survive the cache (YAML's .inf and .nan)", () => {
  const dir = tmpProject();
  const value = { max: Infinity, min: -Infinity, odd: NaN, list: [1, "two", null] };
  const options = { kind: "config", version: "1", dir };
  cachedParse("x", options, () => value);
  expect(cachedParse("x", options, () => "parsed again")).toEqual(value);
});

test("a corrupt cache file is ignored and replaced; a parse error is thrown and not stored", () => {
  const dir = tmpProject();
  const options = { kind: "config", version: "1", dir };
  cachedParse("x", options, () => "first");
  for (const file of fs.readdirSync(dir)) fs.writeFileSync(path.join(dir, file), "not a v8 serialization");
  expect(cachedParse("x", options, () => "second")).toBe("second");
  expect(cachedParse("x", options, () => "third")).toBe("second");

  const bad = () => {
    throw new Error("Invalid YAML");
  };
  expect(() => cachedParse("broken", options, bad)).toThrow("Invalid YAML");
  expect(() => cachedParse("broken", options, bad)).toThrow("Invalid YAML");
});

test("no cache directory: every call parses", () => {
  const { calls, parse } = counting();
  cachedParse("a", { kind: "config", version: "1", dir: undefined }, parse);
  cachedParse("a", { kind: "config", version: "1", dir: undefined }, parse);
  expect(calls).toHaveLength(2);
});

test("cacheDir: node_modules/.cache/klisk in an installed project, else a private temp dir, never one others can write", () => {
  const installed = tmpProject({ "node_modules/.keep": "" });
  expect(cacheDir(installed)).toBe(path.join(installed, "node_modules", ".cache", "klisk"));

  const tmp = tmpProject();
  const own = cacheDir(tmpProject(), tmp);
  expect(own).toBe(path.join(tmp, `klisk-cache-${process.getuid!()}`));
  expect(fs.statSync(own!).mode & 0o777).toBe(0o700);
  fs.chmodSync(own!, 0o777);
  expect(cacheDir(tmpProject(), tmp)).toBeUndefined();
});

test("a second start on an unchanged klisk.config.yaml does not load the yaml library", () => {
  const dir = tmpProject({ "klisk.config.yaml": "name: cached\nlimits:\n  max_turns: 3\n", "node_modules/.keep": "" });
  const config = path.resolve(__dirname, "../../dist/project/config.js");
  const script = `
    const { loadConfig } = require(${JSON.stringify(config)});
    const { config } = loadConfig(${JSON.stringify(dir)});
    const yamlLoaded = Object.keys(require.cache).some((file) => /node_modules[\\\\/]yaml[\\\\/]dist/.test(file));
    console.log(JSON.stringify({ name: config.name, maxTurns: config.limits.max_turns, yamlLoaded }));`;
  const start = () => JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }));
  expect(start()).toEqual({ name: "cached", maxTurns: 3, yamlLoaded: true });
  expect(start()).toEqual({ name: "cached", maxTurns: 3, yamlLoaded: false });
  fs.writeFileSync(path.join(dir, "klisk.config.yaml"), "name: changed\n");
  expect(start()).toMatchObject({ name: "changed", yamlLoaded: true });
});
