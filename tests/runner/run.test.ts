/** runChat against the loopback fake through the real openai SDK: the loop, tools, errors, abort. */
import { tool, z } from "../../src/index";
import type { Agent } from "../../src/sdk/agent";
import { runChat } from "../../src/runner/run";
import { codeOfError, type ChatEvent } from "../../src/runner/events";
import { statusOfCode } from "../../src/server/statuses";

/** The HTTP status a JSON-mode client gets for a run that ended with this error event. */
const statusOfError = (event: ChatEvent) => statusOfCode(codeOfError(event));
import { useFakeOpenAI } from "../helpers/project";
import { collectEvents, defineAgents, memoryProject } from "../helpers/runner";

const fake = useFakeOpenAI();

const project = (agents: Agent[], limits: Record<string, number> = {}) => memoryProject(agents, { limits });
const collect = collectEvents;
const agents = defineAgents;

test("streams tokens and ends with done carrying text, response id and state", async () => {
  fake().enqueue({ text: "Hello there friend" });
  const events = await collect({ project: project(agents({ name: "A", instructions: "Be nice" })), message: "hi" });
  expect(events.filter((e) => e.type === "token").map((e) => e.data)).toEqual(["Hello", " there", " friend"]);
  const done = events.at(-1)!;
  expect(done).toMatchObject({ type: "done", data: "Hello there friend", response_id: fake().requests[0].responseId });
  // The history always travels with the response id, so a later turn may go to a Chat Completions model.
  expect(done.type === "done" && done.state).toEqual({
    previous_response_id: fake().requests[0].responseId,
    conversation_history: [
      { role: "user", content: [{ type: "input_text", text: "hi" }] },
      { role: "assistant", content: "Hello there friend" },
    ],
    current_agent_name: "A",
  });
  expect(fake().requests[0].body).toMatchObject({ model: "gpt-5.2", instructions: "Be nice", stream: true });
  expect(fake().requests[0].body.input).toEqual([{ role: "user", content: [{ type: "input_text", text: "hi" }] }]);
});

test("requests reasoning summaries from reasoning models and maps them to thinking", async () => {
  fake().enqueue({ reasoning: "Let me think", text: "42" });
  const events = await collect({ project: project(agents({ name: "A", model: "o4-mini" })), message: "q" });
  expect(fake().requests[0].body.reasoning).toEqual({ summary: "auto" });
  expect(events.filter((e) => e.type === "thinking").map((e) => e.data).join("")).toBe("Let me think");
  expect(events.findIndex((e) => e.type === "thinking")).toBeLessThan(events.findIndex((e) => e.type === "token"));
});

test("does not send a reasoning block to non-reasoning models", async () => {
  await collect({ project: project(agents({ name: "A", model: "gpt-4.1" })), message: "q" });
  expect(fake().requests[0].body.reasoning).toBeUndefined();
});

test("runs two parallel tool calls concurrently and sends outputs back with previous_response_id", async () => {
  let running = 0;
  let maxRunning = 0;
  const slow = tool({
    name: "slow_add",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: async ({ a, b }) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 50));
      running--;
      return { sum: a + b };
    },
  });
  fake().enqueue(
    { toolCalls: [{ name: "slow_add", arguments: { a: 1, b: 2 }, callId: "call_1" }, { name: "slow_add", arguments: { a: 3, b: 4 }, callId: "call_2" }] },
    { text: "Sums are 3 and 7" },
  );
  const events = await collect({ project: project(agents({ name: "A", tools: [slow] })), message: "add" });
  expect(maxRunning).toBe(2);
  const calls = events.filter((e) => e.type === "tool_call");
  expect(calls.map((e) => e.type === "tool_call" && e.data)).toEqual([
    { tool: "slow_add", arguments: '{"a":1,"b":2}', status: "running", call_id: "call_1" },
    { tool: "slow_add", arguments: '{"a":3,"b":4}', status: "running", call_id: "call_2" },
  ]);
  const results = events.filter((e) => e.type === "tool_result").map((e) => e.type === "tool_result" && e.data);
  expect(results).toEqual(expect.arrayContaining([
    { output: '{"sum":3}', call_id: "call_1", tool: "slow_add" },
    { output: '{"sum":7}', call_id: "call_2", tool: "slow_add" },
  ]));
  const second = fake().requests[1].body;
  expect(second.previous_response_id).toBe(fake().requests[0].responseId);
  expect(second.input).toEqual([
    { type: "function_call_output", call_id: "call_1", output: '{"sum":3}' },
    { type: "function_call_output", call_id: "call_2", output: '{"sum":7}' },
  ]);
  expect(fake().requests[0].body.tools[0]).toMatchObject({ type: "function", name: "slow_add", parameters: { type: "object" } });
  expect(events.at(-1)).toMatchObject({ type: "done", data: "Sums are 3 and 7" });
});

test("a throwing tool ends the run with the spec's error message", async () => {
  const boom = tool({ name: "boom", execute: () => { throw new TypeError("kaput"); } });
  fake().enqueue({ toolCalls: [{ name: "boom", arguments: {} }] });
  const events = await collect({ project: project(agents({ name: "A", tools: [boom] })), message: "go" });
  const last = events.at(-1)!;
  expect(last).toEqual({ type: "error", data: "Tool 'boom' raised: TypeError: kaput" });
  expect(statusOfError(last)).toBe(500);
  expect(fake().requests).toHaveLength(1);
});

test("invalid tool arguments go back to the model instead of failing the run", async () => {
  const add = tool({ name: "add", parameters: z.object({ a: z.number() }), execute: ({ a }) => a });
  fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: "x" } }] }, { text: "sorry" });
  const events = await collect({ project: project(agents({ name: "A", tools: [add] })), message: "go" });
  expect(fake().requests[1].body.input[0].output).toMatch(/^Invalid arguments for tool 'add': a: /);
  expect(events.at(-1)).toMatchObject({ type: "done", data: "sorry" });
});

test("max_turns ends a tool loop with an error event", async () => {
  const again = tool({ name: "again", execute: () => "more" });
  fake().onRequest = () => ({ toolCalls: [{ name: "again", arguments: {} }] });
  const events = await collect({ project: project(agents({ name: "A", tools: [again] }), { max_turns: 3 }), message: "loop" });
  expect(fake().requests).toHaveLength(3);
  expect(events.at(-1)).toMatchObject({ type: "error", data: expect.stringContaining("Max turns (3) exceeded") });
});

test("previous_response_id from the state continues the conversation", async () => {
  await collect({ project: project(agents({ name: "A" })), message: "two", state: { previous_response_id: "resp_prev" } });
  expect(fake().requests[0].body.previous_response_id).toBe("resp_prev");
});

test("upstream errors become error events with a status a user can act on", async () => {
  fake().enqueue({ httpError: { status: 401 } });
  let events = await collect({ project: project(agents({ name: "A" })), message: "x" });
  expect(events.at(-1)).toEqual({ type: "error", data: "Authentication with OpenAI failed: check OPENAI_API_KEY" });
  expect(statusOfError(events.at(-1)!)).toBe(502);
  fake().enqueue({ fail: "model overloaded" });
  events = await collect({ project: project(agents({ name: "A" })), message: "x" });
  expect(events.at(-1)).toMatchObject({ type: "error", data: expect.stringContaining("model overloaded") });
});

test("a missing OPENAI_API_KEY is a clear error, not a crash", async () => {
  delete process.env.OPENAI_API_KEY;
  try {
    const events = await collect({ project: project(agents({ name: "A" })), message: "x" });
    expect(events).toEqual([{ type: "error", data: expect.stringContaining("OPENAI_API_KEY is not set") }]);
  } finally {
    process.env.OPENAI_API_KEY = "test-key";
  }
});

test("aborting the client signal aborts the upstream request and signals the tool", async () => {
  let toolSignal: AbortSignal | undefined;
  const wait = tool({
    name: "wait",
    execute: (_args, ctx) => new Promise((resolve) => { toolSignal = ctx.signal; ctx.signal.addEventListener("abort", () => resolve("stopped")); }),
  });
  fake().enqueue({ toolCalls: [{ name: "wait", arguments: {} }] });
  const controller = new AbortController();
  const events: ChatEvent[] = [];
  for await (const e of runChat({ project: project(agents({ name: "A", tools: [wait] })), message: "x", signal: controller.signal })) {
    events.push(e);
    if (e.type === "tool_call") setTimeout(() => controller.abort(), 20);
  }
  expect(toolSignal?.aborted).toBe(true);
  expect(events.at(-1)).toEqual({ type: "error", data: "Run cancelled" });

  fake().enqueue({ hang: true });
  const c2 = new AbortController();
  const pending = collect({ project: project(agents({ name: "A" })), message: "y", signal: c2.signal });
  expect(fake().requests).toHaveLength(1); // no second model call after the abort
  await fake().waitForRequests(2);
  c2.abort();
  expect((await pending).at(-1)).toEqual({ type: "error", data: "Run cancelled" });
  await new Promise((r) => setTimeout(r, 100));
  expect(fake().requests[1].aborted).toBe(true);
});

test("a hand-off continues the run with the other agent and keeps it in the state", async () => {
  const refund = tool({ name: "refund", execute: () => "refunded" });
  const team = agents(
    { name: "Triage", instructions: "Route", handoffs: ["Billing"] },
    { name: "Billing", instructions: "Handle billing", model: "gpt-4.1", tools: [refund] },
  );
  fake().enqueue({ toolCalls: [{ name: "transfer_to_billing", arguments: {}, callId: "call_h" }] }, { text: "Billing here" });
  const events = await collect({ project: project(team), message: "refund me" });
  expect(fake().requests[0].body.tools.map((t: any) => t.name)).toEqual(["transfer_to_billing"]);
  expect(events.filter((e) => e.type === "tool_call")).toEqual([]);
  expect(events).toContainEqual({ type: "handoff", data: { from: "Triage", to: "Billing" } });
  const second = fake().requests[1].body;
  expect(second).toMatchObject({ model: "gpt-4.1", instructions: "Handle billing", previous_response_id: fake().requests[0].responseId });
  expect(second.input).toEqual([{ type: "function_call_output", call_id: "call_h", output: '{"assistant":"Billing"}' }]);
  expect(second.tools.map((t: any) => t.name)).toEqual(["refund"]);
  const done = events.at(-1)!;
  expect(done.type === "done" && done.state.current_agent_name).toBe("Billing");

  // The next turn stays with Billing unless the request names another agent.
  await collect({ project: project(team), message: "again", state: done.type === "done" ? done.state : {} });
  expect(fake().requests[2].body.instructions).toBe("Handle billing");
  await collect({ project: project(team), message: "back", agentName: "Triage", state: done.type === "done" ? done.state : {} });
  expect(fake().requests[3].body.instructions).toBe("Route");
});
