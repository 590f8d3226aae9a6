import path from "node:path";
import { loadProject } from "../../src/project/load";
import type { ToolContext } from "../../src/sdk/tool";
import { writeFiles } from "../helpers/tmp";

const ctx: ToolContext = { signal: new AbortController().signal, agentName: "Assistant", callId: "call_1", log: () => undefined };

/** The SDK example from DESIGN.md, as a user would write it (no node_modules in the project). */
const TS_ENTRY = `import { defineAgent, tool, z } from "klisk";

type Args = { a: number; b: number };

export const add = tool({
  name: "add",
  description: "Add two numbers.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: async ({ a, b }: Args) => String(a + b),
});

export const assistant = defineAgent({ name: "Assistant", model: "gpt-5.2", tools: [add], handoffs: ["Billing"] });
defineAgent({ name: "Billing", model: "anthropic/claude-sonnet-4-5" });
`;

test("a TypeScript ESM entry: agents in definition order, tools usable, frozen project", async () => {
  const dir = writeFiles({ "src/main.ts": TS_ENTRY, "klisk.config.yaml": "name: demo\nserver:\n  prot: 1\n" });
  const project = await loadProject(dir);

  expect(project.name).toBe("demo");
  expect(project.dir).toBe(path.resolve(dir));
  expect(project.entryFile).toBe(path.join(dir, "src", "main.ts"));
  expect(project.agents.map((a) => a.name)).toEqual(["Assistant", "Billing"]); // exported + registered: once
  expect(project.agents[0].handoffs).toEqual(["Billing"]);
  expect(project.warnings[0]).toBe("klisk.config.yaml: unknown key 'server.prot' (did you mean 'server.port'?)");
  expect(Object.isFrozen(project)).toBe(true);
  expect(Object.isFrozen(project.agents)).toBe(true);

  const add = project.agents[0].tools[0];
  const parsed = add.parseArguments('{"a":1,"b":2}');
  expect(parsed).toEqual({ ok: true, args: { a: 1, b: 2 } });
  if (parsed.ok) expect(await add.execute(parsed.args, ctx)).toBe("3");
  expect(add.parseArguments('{"a":"x"}').ok).toBe(false);
  expect(add.jsonSchema).toMatchObject({ type: "object", required: ["a", "b"] });
});

test("a CommonJS .js entry with require('klisk'), chosen by the entry option", async () => {
  const dir = writeFiles({
    "agent.js": `const { defineAgent, tool, z } = require("klisk");
const echo = tool({ name: "echo", parameters: z.object({ text: z.string() }), execute: ({ text }) => text });
module.exports = { bot: defineAgent({ name: "Echo", model: "openrouter/x", tools: [echo] }) };
`,
  });
  const project = await loadProject(dir, { entry: "agent.js" });
  expect(project.name).toBe(path.basename(dir));
  expect(project.agents.map((a) => a.name)).toEqual(["Echo"]);
  expect(project.agents[0].tools[0].parseArguments('{"text":"hi"}')).toEqual({ ok: true, args: { text: "hi" } });
});

test("an .mjs entry, set in klisk.config.yaml, that imports zod directly", async () => {
  const dir = writeFiles({
    "klisk.config.yaml": "entry: app/main.mjs\n",
    "app/main.mjs": `import { defineAgent, tool } from "klisk";
import { z } from "zod";
const t = tool({ name: "t", parameters: z.object({ n: z.number() }), execute: ({ n }) => n * 2 });
export default defineAgent({ name: "Mjs", tools: [t] });
`,
  });
  const project = await loadProject(dir);
  expect(project.agents.map((a) => a.name)).toEqual(["Mjs"]);
  expect(await project.agents[0].tools[0].execute({ n: 4 }, ctx)).toBe(8);
});

test("an entry that imports the project's other files", async () => {
  const dir = writeFiles({
    "src/main.ts": `import { defineAgent } from "klisk";\nimport { weather } from "./tools/weather";\ndefineAgent({ name: "W", tools: [weather] });\n`,
    "src/tools/weather.ts": `import { tool, z } from "klisk";\nexport const weather = tool({ name: "weather", parameters: z.object({ city: z.string() }), execute: ({ city }) => "Sunny in " + city });\n`,
  });
  const project = await loadProject(dir);
  expect(project.agents[0].tools.map((t) => t.name)).toEqual(["weather"]);
});

test("loading the same directory twice re-executes the entry and gives fresh agents", async () => {
  const dir = writeFiles({ "src/main.ts": TS_ENTRY });
  const first = await loadProject(dir);
  const second = await loadProject(dir);
  expect(second.agents.map((a) => a.name)).toEqual(["Assistant", "Billing"]); // no duplicate-name error
  expect(second.agents[0]).not.toBe(first.agents[0]);
});

describe("warnings", () => {
  const saved = process.env.OPENAI_API_KEY;
  afterEach(() => {
    if (saved === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved;
  });

  test("OPENAI_API_KEY missing is a warning for OpenAI models only", async () => {
    delete process.env.OPENAI_API_KEY;
    const dir = writeFiles({ "src/main.ts": TS_ENTRY });
    const project = await loadProject(dir);
    expect(project.warnings).toEqual([expect.stringMatching(/^OPENAI_API_KEY is not set: agent 'Assistant' uses an OpenAI model/)]);

    const other = writeFiles({ "src/main.ts": `import { defineAgent } from "klisk";\ndefineAgent({ name: "C", model: "anthropic/claude" });\n` });
    expect((await loadProject(other)).warnings).toEqual([]);
  });

  test("a key from the project's .env counts (and an already-set variable wins over .env)", async () => {
    process.env.OPENAI_API_KEY = "from-shell";
    const dir = writeFiles({ "src/main.ts": TS_ENTRY, ".env": "OPENAI_API_KEY=from-file\n" });
    expect((await loadProject(dir)).warnings).toEqual([]);
    expect(process.env.OPENAI_API_KEY).toBe("from-shell");

    delete process.env.OPENAI_API_KEY;
    expect((await loadProject(dir)).warnings).toEqual([]);
    expect(process.env.OPENAI_API_KEY).toBe("from-file");
  });
});

test("an .mts entry with top-level await", async () => {
  const dir = writeFiles({
    "src/main.mts": `import { defineAgent } from "klisk";\nconst model = await Promise.resolve("openai/gpt-5.2");\nexport const a = defineAgent({ name: "Async", model });\n`,
  });
  const project = await loadProject(dir, { entry: "src/main.mts" });
  expect(project.agents.map((a) => [a.name, a.model])).toEqual([["Async", "openai/gpt-5.2"]]);
});
