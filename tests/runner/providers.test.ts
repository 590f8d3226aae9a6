/** runChat over each provider path (presets, custom providers, Chat and Responses) against the loopback fake. */
import { tool, z } from "../../src/index";
import { type Agent } from "../../src/sdk/agent";
import { runChat } from "../../src/runner/run";
import type { ChatEvent, ChatState } from "../../src/runner/events";
import { parseState } from "../../src/server/clientState";
import { useFakeOpenAI } from "../helpers/project";
import { collectEvents, defineAgents, doneOf, memoryProject } from "../helpers/runner";

const fake = useFakeOpenAI({ presets: ["GROQ", "OLLAMA", "DEEPSEEK"], env: { OPENAI_API_KEY: "openai-key", GROQ_API_KEY: "groq-key", DEEPSEEK_API_KEY: "ds-key", MINE_KEY: "mine-key", OLLAMA_API_KEY: undefined } });

const project = (agents: Agent[], providers: Record<string, unknown> = {}) => memoryProject(agents, { providers });
const agents = defineAgents;
const collect = collectEvents;

const tokens = (events: ChatEvent[]) => events.filter((e) => e.type === "token").map((e) => e.data).join("");

test("a preset (groq) streams over Chat Completions and keeps the conversation in the state", async () => {
  fake().enqueue({ text: "Hi from Groq" });
  const team = agents({ name: "A", instructions: "Be brief", model: "groq/llama-3.3-70b-versatile" });
  const events = await collect({ project: project(team), message: "hello" });
  expect(tokens(events)).toBe("Hi from Groq");
  const req = fake().requests[0];
  expect(req.path).toBe("/v1/chat/completions");
  expect(req.headers.authorization).toBe("Bearer groq-key");
  expect(req.body).toMatchObject({
    model: "llama-3.3-70b-versatile",
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "system", content: "Be brief" }, { role: "user", content: "hello" }],
  });
  expect(req.body.tools).toBeUndefined();
  const done = doneOf(events);
  // No server-side conversation on Chat Completions: no response id, the history carries it.
  expect(done).not.toHaveProperty("response_id");
  expect(done.state).toEqual({
    conversation_history: [
      { role: "user", content: [{ type: "input_text", text: "hello" }] },
      { role: "assistant", content: "Hi from Groq" },
    ],
    current_agent_name: "A",
  });
  expect(() => parseState(done.state)).not.toThrow(); // what we hand out passes our own validation

  fake().enqueue({ text: "Again" });
  await collect({ project: project(team), message: "more", state: done.state });
  expect(fake().requests[1].body.messages).toEqual([
    { role: "system", content: "Be brief" },
    { role: "user", content: "hello" },
    { role: "assistant", content: "Hi from Groq" },
    { role: "user", content: "more" },
  ]);
});

test("a local preset (ollama) needs no key; a missing key for a hosted preset is a clear error", async () => {
  const events = await collect({ project: project(agents({ name: "A", model: "ollama/qwen3" })), message: "ping" });
  expect(doneOf(events).data).toBe("Echo: ping");
  expect(fake().requests[0].headers.authorization).toMatch(/^Bearer \S+/);

  delete process.env.DEEPSEEK_API_KEY;
  try {
    const failed = await collect({ project: project(agents({ name: "A", model: "deepseek/deepseek-chat" })), message: "x" });
    expect(failed).toEqual([{ type: "error", data: "DEEPSEEK_API_KEY is not set. Add it to the project's .env file or the environment." }]);
  } finally {
    process.env.DEEPSEEK_API_KEY = "ds-key";
  }
});

test("Chat tool calls (in fragments and in one chunk) run and go back as assistant tool_calls + tool messages", async () => {
  const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });
  fake().enqueue(
    { reasoning: "Two sums", toolCalls: [{ name: "add", arguments: { a: 1, b: 2 }, callId: "c1" }, { name: "add", arguments: { a: 3, b: 4 }, callId: "c2", oneChunk: true }] },
    { text: "3 and 7" },
  );
  const events = await collect({ project: project(agents({ name: "A", model: "groq/m", tools: [add] })), message: "sums" });
  expect(events.filter((e) => e.type === "thinking").map((e) => e.data).join("")).toBe("Two sums");
  expect(events.filter((e) => e.type === "tool_call").map((e) => e.data)).toEqual([
    { tool: "add", arguments: '{"a":1,"b":2}', status: "running", call_id: "c1" },
    { tool: "add", arguments: '{"a":3,"b":4}', status: "running", call_id: "c2" },
  ]);
  expect(fake().requests[0].body.tools).toEqual([
    { type: "function", function: { name: "add", description: "", parameters: expect.objectContaining({ type: "object" }) } },
  ]);
  // No instructions, so no system message.
  expect(fake().requests[1].body.messages).toEqual([
    { role: "user", content: "sums" },
    {
      role: "assistant", content: null,
      tool_calls: [
        { id: "c1", type: "function", function: { name: "add", arguments: '{"a":1,"b":2}' } },
        { id: "c2", type: "function", function: { name: "add", arguments: '{"a":3,"b":4}' } },
      ],
    },
    { role: "tool", tool_call_id: "c1", content: "3" },
    { role: "tool", tool_call_id: "c2", content: "7" },
  ]);
  const done = doneOf(events);
  expect(done.data).toBe("3 and 7");
  expect(done.state.conversation_history).toHaveLength(6);
});

test("reasoning in a `reasoning` delta field is thinking too", async () => {
  fake().enqueue({ reasoning: "Pondering", reasoningField: "reasoning", text: "ok" });
  const events = await collect({ project: project(agents({ name: "A", model: "ollama/deepseek-r1" })), message: "q" });
  expect(events.filter((e) => e.type === "thinking").map((e) => e.data)).toEqual(["Pondering"]);
});

test("a custom Chat provider from the config: base_url, api_key_env and headers", async () => {
  const providers = { mine: { base_url: fake().url, api_key_env: "MINE_KEY", api: "chat", headers: { "x-team": "blue" } } };
  const events = await collect({ project: project(agents({ name: "A", model: "mine/model-1" }), providers), message: "yo" });
  expect(doneOf(events).data).toBe("Echo: yo");
  expect(fake().requests[0]).toMatchObject({ path: "/v1/chat/completions", body: { model: "model-1" } });
  expect(fake().requests[0].headers).toMatchObject({ authorization: "Bearer mine-key", "x-team": "blue" });

  fake().enqueue({ httpError: { status: 403 } });
  const denied = await collect({ project: project(agents({ name: "A", model: "mine/model-1" }), providers), message: "yo" });
  expect(denied.at(-1)).toEqual({ type: "error", data: "Authentication with mine failed: check MINE_KEY" });
});

test("a custom Responses provider continues with previous_response_id", async () => {
  const providers = { azure: { base_url: fake().url, api: "responses", headers: {} } };
  const team = agents({ name: "A", model: "azure/gpt-5" });
  const first = doneOf(await collect({ project: project(team, providers), message: "one" }));
  expect(fake().requests[0]).toMatchObject({ path: "/v1/responses", body: { model: "gpt-5" } });
  expect(first.state.previous_response_id).toBe(fake().requests[0].responseId);
  await collect({ project: project(team, providers), message: "two", state: first.state });
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  expect(fake().requests[1].body.input).toEqual([{ role: "user", content: [{ type: "input_text", text: "two" }] }]);
});

test("modelSettings map to each API's field names; extraBody is merged", async () => {
  const noop = tool({ name: "noop", execute: () => "" });
  const settings = { temperature: 0.2, topP: 0.9, maxOutputTokens: 64, reasoningEffort: "low" as const, parallelToolCalls: false, extraBody: { seed: 7 } };
  await collect({ project: project(agents({ name: "A", model: "groq/m", tools: [noop], modelSettings: settings })), message: "x" });
  expect(fake().requests[0].body).toMatchObject({ temperature: 0.2, top_p: 0.9, max_tokens: 64, reasoning_effort: "low", parallel_tool_calls: false, seed: 7 });
  await collect({ project: project(agents({ name: "A", model: "gpt-5.2", tools: [noop], modelSettings: settings })), message: "x" });
  expect(fake().requests[1].body).toMatchObject({
    temperature: 0.2, top_p: 0.9, max_output_tokens: 64, reasoning: { effort: "low", summary: "auto" }, parallel_tool_calls: false, seed: 7,
  });
  // Chat without tools: parallel_tool_calls is left out (OpenAI rejects it there).
  await collect({ project: project(agents({ name: "A", model: "groq/m", modelSettings: { parallelToolCalls: true } })), message: "x" });
  expect(fake().requests[2].body.parallel_tool_calls).toBeUndefined();
});

test("attachments: sent in full this turn, a placeholder in the state, converted for Chat", async () => {
  const png = { mime_type: "image/png", data: "iVBORw0KGgo=", name: "photo.png" };
  const pdf = { mime_type: "application/pdf", data: "JVBERi0=", name: "doc.pdf" };
  const first = doneOf(await collect({ project: project(agents({ name: "A", model: "groq/vision" })), message: "look", attachments: [png, pdf] }));
  expect(fake().requests[0].body.messages[0]).toEqual({
    role: "user",
    content: [
      { type: "text", text: "look" },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "auto" } },
      { type: "file", file: { filename: "doc.pdf", file_data: "data:application/pdf;base64,JVBERi0=" } },
    ],
  });
  expect(first.state.conversation_history![0]).toEqual({
    role: "user",
    content: [
      { type: "input_text", text: "look" },
      { type: "input_text", text: "[attachment photo.png omitted]" },
      { type: "input_text", text: "[attachment doc.pdf omitted]" },
    ],
  });
  await collect({ project: project(agents({ name: "A", model: "groq/vision" })), message: "and?", state: first.state });
  expect(fake().requests[1].body.messages[0]).toEqual({ role: "user", content: "look\n[attachment photo.png omitted]\n[attachment doc.pdf omitted]" });
});

test("client-kept history in the Responses API's long forms converts to Chat messages", async () => {
  const state: ChatState = parseState({
    conversation_history: [
      { type: "message", role: "user", content: [{ type: "input_text", text: "q1" }] },
      { type: "reasoning", id: "rs_1", summary: [] },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "a1", annotations: [] }] },
      { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
      { type: "function_call_output", call_id: "c1", output: "r1" },
      { role: "assistant", content: "a2" },
    ],
  });
  await collect({ project: project(agents({ name: "A", model: "groq/m" })), message: "q2", state });
  expect(fake().requests[0].body.messages).toEqual([
    { role: "user", content: "q1" },
    { role: "assistant", content: "a1", tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
    { role: "tool", tool_call_id: "c1", content: "r1" },
    { role: "assistant", content: "a2" },
    { role: "user", content: "q2" },
  ]);
});
