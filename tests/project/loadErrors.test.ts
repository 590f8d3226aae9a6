import path from "node:path";
import { ConfigError } from "../../src/errors";
import { loadProject } from "../../src/project/load";
import { writeFiles } from "../helpers/tmp";

/** Loads a project made of `files` and returns the ConfigError it must fail with. */
async function loadError(files: Record<string, string>, entry?: string): Promise<ConfigError> {
  const dir = writeFiles(files);
  const err = await loadProject(dir, entry ? { entry } : {}).then(
    () => { throw new Error("expected loadProject to fail"); },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

/** Messages must point at the user's file, never dump a stack of our internals. */
function expectNoInternals(message: string): void {
  expect(message).not.toMatch(/\n\s+at /);
  expect(message).not.toContain("jiti");
  expect(message).not.toContain(path.join("src", "project"));
}

const HEADER = `import { defineAgent, tool, z } from "klisk";\n`;

test("a missing entry file says where it looked and what to set", async () => {
  const dir = writeFiles({});
  await expect(loadProject(dir)).rejects.toThrow(
    new ConfigError(`Entry file src/main.ts not found in ${dir} (set 'entry' in klisk.config.yaml)`),
  );
});

test("an entry that is not JavaScript or TypeScript (a Python klisk config) is named", async () => {
  const err = await loadError({ "klisk.config.yaml": "entry: src/main.py\n", "src/main.py": "" });
  expect(err.message).toMatch(/^Entry file src\/main.py must be one of \.ts, \.mts/);
});

test("an entry given without extension is found like an import would", async () => {
  const dir = writeFiles({ "src/bot.mts": `${HEADER}defineAgent({ name: "Bot" });\n` });
  const project = await loadProject(dir, { entry: "src/bot" });
  expect(project.entryFile).toBe(path.join(dir, "src", "bot.mts"));
});

test.each([
  ["src/main.ts", `${HEADER}\nconst x = {\n  a: 1,,\n};\n`, 4],
  ["main.mjs", `import { defineAgent } from "klisk";\nfoo(;\n`, 2],
  ["main.cjs", `const { defineAgent } = require("klisk");\n\n\nlet = 3;\n`, 4],
])("a syntax error in %s names the file, line and column", async (entry, code, line) => {
  const err = await loadError({ [entry]: code }, entry);
  expect(err.message).toMatch(new RegExp(`^${entry.replace(".", "\\.")}:${line}:\\d+: Syntax error: \\S`));
  expectNoInternals(err.message);
});

test("a syntax error in a file the entry imports names that file", async () => {
  const err = await loadError({
    "src/main.ts": `${HEADER}import { helper } from "./helper";\ndefineAgent({ name: "A", tools: [helper] });\n`,
    "src/helper.ts": `export const helper = ;\n`,
  });
  expect(err.message).toMatch(new RegExp(`^${path.join("src", "helper.ts").replace(/[.\\]/g, "\\$&")}:1:\\d+: Syntax error:`));
});

test("an entry that throws while loading names the line and the error", async () => {
  const err = await loadError({
    "src/main.ts": `${HEADER}\ndefineAgent({ name: "A" });\nconst config: Record<string, string> = {};\nthrow new TypeError("no config for " + config.region);\n`,
  });
  expect(err.message).toBe("src/main.ts:5: Error while loading: TypeError: no config for undefined");
  expectNoInternals(err.message);
});

test("an error thrown from a helper module points at the helper's line", async () => {
  const err = await loadError({
    "src/main.ts": `${HEADER}import "./setup";\ndefineAgent({ name: "A" });\n`,
    "src/setup.ts": `\n\nif (!process.env.KLISK_TEST_NEVER_SET) throw new Error("KLISK_TEST_NEVER_SET is required");\n`,
  });
  expect(err.message).toBe(`${path.join("src", "setup.ts")}:3: Error while loading: Error: KLISK_TEST_NEVER_SET is required`);
});

test("importing a package the project does not have is a load error, not a crash", async () => {
  const err = await loadError({ "src/main.ts": `${HEADER}import "left-pad-that-does-not-exist";\ndefineAgent({ name: "A" });\n` });
  expect(err.message).toMatch(/^src\/main\.ts(:\d+)?: Error while loading: .*left-pad-that-does-not-exist/);
});

test("duplicate agent names: the line of the second defineAgent call", async () => {
  const err = await loadError({
    "src/main.ts": `${HEADER}\ndefineAgent({ name: "Twin" });\n\ndefineAgent({ name: "Twin" });\n`,
  });
  expect(err.message).toBe("src/main.ts:5: Duplicate agent name 'Twin': each agent needs a unique name.");
});

test("a bad tool definition: the line of the tool() call", async () => {
  const err = await loadError({
    "src/main.ts": `${HEADER}\nconst bad = tool({\n  name: "has spaces",\n  execute: () => "x",\n});\ndefineAgent({ name: "A", tools: [bad] });\n`,
  });
  expect(err.message).toMatch(/^src\/main\.ts:3: Invalid tool name "has spaces"/);
});

test("an entry that defines no agents says what to do", async () => {
  const err = await loadError({ "src/main.ts": `${HEADER}export const nothing = 1;\n` });
  expect(err.message).toBe("src/main.ts defines no agents: call defineAgent({...}) in it");
});

test("a hand-off to an agent that does not exist lists the known agents", async () => {
  const err = await loadError({
    "src/main.ts": `${HEADER}defineAgent({ name: "Triage", handoffs: ["Billing"] });\ndefineAgent({ name: "Support" });\n`,
  });
  expect(err.message).toBe("src/main.ts: agent 'Triage' hands off to 'Billing', which is not defined. Known agents: Triage, Support");
});

test("exported agents are deduplicated by identity (module.exports = agent, re-exports)", async () => {
  const dir = writeFiles({
    "main.cjs": `const { defineAgent } = require("klisk");\nconst a = defineAgent({ name: "A" });\nmodule.exports = a;\n`,
    "src/main.ts": `${HEADER}import { b } from "./b";\nexport { b };\nexport const again = b;\nexport default defineAgent({ name: "C" });\n`,
    "src/b.ts": `${HEADER}export const b = defineAgent({ name: "B" });\n`,
  });
  expect((await loadProject(dir, { entry: "main.cjs" })).agents.map((a) => a.name)).toEqual(["A"]);
  expect((await loadProject(dir)).agents.map((a) => a.name)).toEqual(["B", "C"]);
});

test("a bad klisk.config.yaml fails before the entry runs", async () => {
  const err = await loadError({ "klisk.config.yaml": "server:\n  port: abc\n", "src/main.ts": "throw new Error('must not run');\n" });
  expect(err.message).toBe('klisk.config.yaml: server.port must be an integer between 1 and 65535 (got "abc")');
});

test("a SyntaxError thrown at run time (JSON.parse) is a load error at its line, not a syntax error", async () => {
  const err = await loadError({ "src/main.ts": `${HEADER}\nconst settings = JSON.parse("{oops");\ndefineAgent({ name: "A" });\n` });
  expect(err.message).toMatch(/^src\/main\.ts:3: Error while loading: SyntaxError: /);
});
