/** `klisk check` through the real binary: the table, the problems, and the exit code. */
import path from "node:path";
import { klisk } from "../helpers/cli";
import { tempDir, writeFiles } from "../helpers/tmp";

const KEY = { OPENAI_API_KEY: "sk-test" };

function project(entry: string, config = "name: checked\n", env?: string): string {
  return writeFiles({ "klisk.config.yaml": config, "src/main.ts": entry, ...(env !== undefined ? { ".env": env } : {}) });
}

const TWO_AGENTS = `
import { defineAgent, tool, z } from "klisk";
const lookup = tool({ name: "lookup", parameters: z.object({ id: z.string() }), execute: ({ id }) => id });
defineAgent({ name: "Triage", model: "gpt-5.2", tools: [lookup], builtinTools: ["web_search"], handoffs: ["Billing"] });
defineAgent({ name: "Billing", model: "groq/llama-3.3-70b" });
`;

describe("klisk check", () => {
  test("a freshly initialised project passes once the key is set", async () => {
    const cwd = tempDir();
    expect((await klisk(["init", "fresh", "--no-install"], { cwd })).code).toBe(0);
    const res = await klisk(["check", "fresh"], { cwd, env: KEY });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Project\s+fresh\s/m);
    expect(res.stdout).toMatch(/^Entry\s+src\/main\.ts$/m);
    expect(res.stdout).toMatch(/^\s+Agent\s+Model\s+Provider\s+Tools\s+Hand-offs$/m);
    expect(res.stdout).toMatch(/^\s+Assistant \(default\)\s+gpt-5\.2\s+OpenAI\s+greet\s+-$/m);
    expect(res.stdout.trim().split("\n").pop()).toBe("✔ fresh: 1 agent, 1 tool, ready to serve.");
  });

  test("a missing key is an error (from .env or the environment)", async () => {
    const cwd = tempDir();
    await klisk(["init", "nokey", "--no-install"], { cwd });
    const res = await klisk(["check"], { cwd: path.join(cwd, "nokey") });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✖ OPENAI_API_KEY is not set \(needed by 'Assistant'\)/);
    expect(res.stdout.match(/OPENAI_API_KEY is not set/g)).toHaveLength(1); // the loader's warning is not repeated
    expect(res.stdout).toMatch(/Check failed: 1 error\./);

    const withEnvFile = project(`import { defineAgent } from "klisk"; defineAgent({ name: "A" });`, "", "OPENAI_API_KEY=sk-from-dotenv\n");
    expect((await klisk(["check", withEnvFile])).code).toBe(0);
  });

  test("tabulates tools, built-in tools, hand-offs and providers; each provider needs its own key", async () => {
    const dir = project(TWO_AGENTS);
    const res = await klisk(["check", dir], { env: KEY });
    expect(res.stdout).toMatch(/^\s+Triage \(default\)\s+gpt-5\.2\s+OpenAI\s+lookup, web_search\s+Billing$/m);
    expect(res.stdout).toMatch(/^\s+Billing\s+groq\/llama-3\.3-70b\s+Groq\s+-\s+-$/m);
    expect(res.stdout).toMatch(/✖ GROQ_API_KEY is not set \(needed by 'Billing'\)/);
    expect(res.code).toBe(1);

    const ok = await klisk(["check", dir], { env: { ...KEY, GROQ_API_KEY: "gsk-test" } });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/✔ checked: 2 agents, 1 tool, ready to serve\./);
  });

  test("an unknown provider is an error naming the known ones", async () => {
    const dir = project(`import { defineAgent } from "klisk"; defineAgent({ name: "A", model: "nosuch/model-1" });`);
    const res = await klisk(["check", dir], { env: KEY });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✖ Agent 'A': Unknown model provider 'nosuch' in model 'nosuch\/model-1'\. Known providers: openai, /);
    expect(res.stdout).toMatch(/add it under 'providers:' in klisk\.config\.yaml/);
  });

  test("a custom provider from klisk.config.yaml uses its api_key_env", async () => {
    const config = "providers:\n  mycloud:\n    base_url: https://llm.example.com/v1\n    api_key_env: MYCLOUD_KEY\n";
    const dir = project(`import { defineAgent } from "klisk"; defineAgent({ name: "A", model: "mycloud/m1" });`, config);
    const res = await klisk(["check", dir]);
    expect(res.stdout).toMatch(/^\s+A \(default\)\s+mycloud\/m1\s+mycloud\s/m);
    expect(res.stdout).toMatch(/✖ MYCLOUD_KEY is not set/);
    expect((await klisk(["check", dir], { env: { MYCLOUD_KEY: "k" } })).code).toBe(0);
  });

  test("a hand-off to an agent that does not exist fails the check", async () => {
    const dir = project(`import { defineAgent } from "klisk"; defineAgent({ name: "A", handoffs: ["Ghost"] });`);
    const res = await klisk(["check", dir], { env: KEY });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✖ .*agent 'A' hands off to 'Ghost', which is not defined/);
    expect(res.stdout).toMatch(/Check failed: the project does not load\./);
  });

  test("config warnings are shown but do not fail the check", async () => {
    const dir = project(`import { defineAgent } from "klisk"; defineAgent({ name: "A" });`, "name: warned\nsevrer:\n  port: 1\n");
    const res = await klisk(["check", dir], { env: KEY });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/⚠ klisk\.config\.yaml: unknown key 'sevrer' \(did you mean 'server'\?\)/);
    expect(res.stdout).toMatch(/✔ warned: 1 agent, 0 tools, ready to serve, 1 warning\./);
  });

  test.each([
    ["invalid YAML", "name: [oops\n", `import { defineAgent } from "klisk"; defineAgent({ name: "A" });`, /klisk\.config\.yaml:\d+:\d+: Invalid YAML/],
    ["a bad value", "limits:\n  max_turns: 0\n", `import { defineAgent } from "klisk"; defineAgent({ name: "A" });`, /limits\.max_turns must be an integer >= 1/],
    ["an entry with a syntax error", "", "defineAgent({ name: ", /src\/main\.ts:\d+:\d+: Syntax error/],
    ["an entry without agents", "", "export const x = 1;", /defines no agents/],
  ])("%s fails with the loader's message", async (_what, config, entry, message) => {
    const dir = project(entry, config);
    const res = await klisk(["check", dir], { env: KEY });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(message);
  });

  test("a YAML alias bomb fails with the file's name and no stack", async () => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (const [prev, key] of [["a", "b"], ["b", "c"], ["c", "d"], ["d", "e"], ["e", "f"]]) levels.push(`${key}: &${key} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    const res = await klisk(["check", project('import { defineAgent } from "klisk"; defineAgent({ name: "A" });', `${levels.join("\n")}\n`)], { env: KEY });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✖ klisk\.config\.yaml: Invalid YAML: too many aliases/);
    expect(res.stdout + res.stderr).not.toMatch(/ReferenceError|\n\s+at /);
  });

  test("a directory that is not a project", async () => {
    const res = await klisk(["check", tempDir()], { env: KEY });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/Entry file src\/main\.ts not found/);
  });
});
