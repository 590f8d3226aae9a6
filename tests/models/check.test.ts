/** Load-time model checks: unknown providers, hosted tools on Chat models, unsupported settings. */
import { defineAgent } from "../../src/index";
import { ConfigError, UserError } from "../../src/errors";
import { loadProject } from "../../src/project/load";
import { resetRegistry, type AgentOptions } from "../../src/sdk/agent";
import { checkAgentModels } from "../../src/project/modelCheck";
import { writeFiles } from "../helpers/tmp";

function agents(...defs: AgentOptions[]) {
  resetRegistry();
  return defs.map((d) => defineAgent(d));
}

const custom = { local: { base_url: "http://localhost:9/v1", api: "chat" as const, headers: {} } };

test("known prefixes, presets and custom providers pass without warnings", () => {
  const list = agents(
    { name: "A", model: "gpt-5.2", builtinTools: ["web_search"] },
    { name: "B", model: "openai/o4-mini" },
    { name: "C", model: "openrouter/anthropic/claude-sonnet-4.5" },
    { name: "D", model: "local/qwen3", modelSettings: { temperature: 0.1, maxOutputTokens: 100 } },
  );
  expect(checkAgentModels(list, custom)).toEqual([]);
});

test("an unknown provider prefix is a ConfigError naming the agent and listing the known providers", () => {
  const list = agents({ name: "A", model: "grok/grok-4" });
  let err: unknown;
  try {
    checkAgentModels(list, custom);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toMatch(/^Agent 'A': Unknown model provider 'grok' in model 'grok\/grok-4'\. Known providers: openai, anthropic, gemini, .*xai.*vllm, local\.$/);
});

test("hosted tools on a Chat Completions model are a load error", () => {
  const list = agents({ name: "Searcher", model: "groq/llama-3.3-70b", builtinTools: ["web_search", "code_interpreter"] });
  expect(() => checkAgentModels(list)).toThrow("Agent 'Searcher': builtinTools (web_search, code_interpreter) need an OpenAI Responses model, but 'groq/llama-3.3-70b' uses Chat Completions.");
  // A custom provider speaking the Responses API may use them.
  const ok = agents({ name: "S", model: "azure/gpt-5", builtinTools: ["web_search"] });
  expect(checkAgentModels(ok, { azure: { base_url: "https://x.example/v1", api: "responses", headers: {} } })).toEqual([]);
});

test("settings the API cannot send, and unknown keys, are warnings", () => {
  const list = agents(
    { name: "A", model: "deepseek/deepseek-reasoner", modelSettings: { reasoningEffort: "high", reasoningSummary: "auto" } },
    { name: "B", model: "gpt-5.2", modelSettings: { maxTokens: 5 } as any },
  );
  expect(checkAgentModels(list)).toEqual([
    "Agent 'A': modelSettings.reasoningSummary is not supported by the Chat Completions API of 'deepseek/deepseek-reasoner' and is ignored",
    "Agent 'B': unknown modelSettings key 'maxTokens' is ignored (known: temperature, topP, maxOutputTokens, reasoningEffort, reasoningSummary, parallelToolCalls, extraBody)",
  ]);
});

test("builtinTools: unknown names and file_search without vector stores fail at defineAgent", () => {
  expect(() => agents({ name: "A", builtinTools: ["browser" as any] })).toThrow(UserError);
  expect(() => agents({ name: "A", builtinTools: ["file_search"] })).toThrow(/file_search needs vector stores/);
  const [agent] = agents({ name: "A", builtinTools: [{ type: "file_search", vector_store_ids: ["vs_1"] }, "code_interpreter"] });
  expect(agent.builtinTools).toEqual(["file_search", "code_interpreter"]);
  expect(agent.builtinToolConfigs).toEqual([
    { type: "file_search", vector_store_ids: ["vs_1"] },
    { type: "code_interpreter", container: { type: "auto" } },
  ]);
});

describe("loadProject runs the checks", () => {
  const entry = (body: string) => ({ "src/main.ts": `import { defineAgent } from "klisk";\n${body}\n` });

  test("an unknown provider fails the load", async () => {
    const dir = writeFiles(entry(`defineAgent({ name: "A", model: "nope/m" });`));
    await expect(loadProject(dir)).rejects.toThrow(/Agent 'A': Unknown model provider 'nope'.*Known providers: openai, anthropic/);
  });

  test("a custom provider from klisk.config.yaml is known; unsupported settings become warnings", async () => {
    const dir = writeFiles({
      ...entry(`defineAgent({ name: "A", model: "mine/m", modelSettings: { reasoningSummary: "auto" } });`),
      "klisk.config.yaml": "providers:\n  mine:\n    base_url: http://localhost:9/v1\n",
    });
    const project = await loadProject(dir);
    expect(project.warnings).toContain("Agent 'A': modelSettings.reasoningSummary is not supported by the Chat Completions API of 'mine/m' and is ignored");
  });

  test("hosted tools on a Chat model fail the load", async () => {
    const dir = writeFiles(entry(`defineAgent({ name: "A", model: "mistral/mistral-large-latest", builtinTools: ["image_generation"] });`));
    await expect(loadProject(dir)).rejects.toThrow(/builtinTools \(image_generation\) need an OpenAI Responses model/);
  });
});
