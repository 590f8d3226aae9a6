/** A key defineAgent() or tool() does not know is a warning naming the agent or tool and the closest known key; `klisk check` fails on it. */
import { loadProject } from "../../src/project/load";
import { klisk } from "../helpers/cli";
import { writeFiles } from "../helpers/tmp";

const ENTRY = `
import { defineAgent, tool } from "klisk";
const lookup = tool({ name: "lookup", descripton: "Looks up", execute: () => "x" });
defineAgent({ name: "Assistant", instuctions: "Be nice", modelSettings: { temprature: 0.2 }, tools: [lookup] });
defineAgent({ name: "Other", tools: [lookup], colour: "red" });
`;

const EXPECTED = [
  "Agent 'Assistant': unknown option 'instuctions' (did you mean 'instructions'?)",
  "Tool 'lookup': unknown option 'descripton' (did you mean 'description'?)",
  "Agent 'Other': unknown option 'colour' (known options: name, instructions, model, tools, builtinTools, handoffs, modelSettings, mcpServers, allowedTools)",
];

test("the loader warns once per unknown key, with the closest known key", async () => {
  const dir = writeFiles({ "klisk.config.yaml": "name: typos\n", "src/main.ts": ENTRY, ".env": "OPENAI_API_KEY=sk-test\n" });
  const project = await loadProject(dir);
  expect(project.optionWarnings).toEqual(EXPECTED);
  expect(project.warnings).toEqual(expect.arrayContaining(EXPECTED));
  // The agents still load as they would without the unknown keys.
  expect(project.agents.map((a) => a.instructions)).toEqual(["", ""]);
});

test("klisk check fails on them, naming each", async () => {
  const dir = writeFiles({ "klisk.config.yaml": "name: typos\n", "src/main.ts": ENTRY });
  const res = await klisk(["check", dir], { env: { OPENAI_API_KEY: "sk-test" } });
  for (const line of EXPECTED) expect(res.stdout).toContain(`✖ ${line}`);
  expect(res.stdout).toMatch(/Check failed: 3 errors, 1 warning\./); // the warning: modelSettings.temprature
  expect(res.code).toBe(1);
});

test("a project without unknown options has none", async () => {
  const dir = writeFiles({ "klisk.config.yaml": "name: fine\n", "src/main.ts": `import { defineAgent } from "klisk";\ndefineAgent({ name: "A", instructions: "x", modelSettings: { temperature: 1 } });\n` });
  expect((await loadProject(dir)).optionWarnings).toEqual([]);
});
