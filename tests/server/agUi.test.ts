/**
 * POST /api/ag-ui run by @ag-ui/client's HttpAgent (its SSE decoder and event verifier) against the running
 * server; every event is checked against @ag-ui/core's schemas, and klisk's state round-trips as the
 * agent's state (signed: KLISK_STATE_SECRET is set).
 */
import { HttpAgent } from "@ag-ui/client";
import type { BaseEvent } from "@ag-ui/core";
import { EventSchemas } from "@ag-ui/core/schemas";
import type { RunningServer } from "../../src/server/listen";
import { makeProject, serve, useFakeOpenAI } from "../helpers/project";
import { testTools } from "../helpers/tools";

const fake = useFakeOpenAI({ env: { KLISK_STATE_SECRET: "ag-ui-test-secret" } });
let server: RunningServer;

beforeAll(async () => {
  const { weather, explode } = testTools();
  server = await serve(makeProject([{ name: "Assistant", tools: [weather, explode] }, { name: "Thinker", model: "o4-mini" }]));
});
afterAll(() => server.close());

function agentWith(text: string): HttpAgent {
  return new HttpAgent({ url: `${server.url}/api/ag-ui`, initialMessages: [{ id: "u1", role: "user", content: text }] });
}

/** Runs the agent and returns every event it received, each validated by @ag-ui/core's schema. */
async function run(agent: HttpAgent, forwardedProps: Record<string, unknown> = {}): Promise<BaseEvent[]> {
  const events: BaseEvent[] = [];
  await agent.runAgent({ forwardedProps }, { onEvent: ({ event }) => { events.push(event); } });
  for (const event of events) expect(EventSchemas.safeParse(event).error).toBeUndefined();
  return events;
}

test("text and reasoning: the event sequence, the assembled message and klisk's state", async () => {
  fake().enqueue({ reasoning: "Let me think", text: "The answer is 42" });
  const agent = agentWith("meaning of life?");
  const events = await run(agent, { agent_name: "Thinker" });
  expect(events.map((e) => e.type)).toEqual([
    "RUN_STARTED", "REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT",
    "REASONING_MESSAGE_END", "REASONING_END", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CONTENT",
    "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "STATE_SNAPSHOT", "RUN_FINISHED",
  ]);
  expect(events[0]).toMatchObject({ threadId: agent.threadId, protocolVersion: "1.0" });
  const assistant = agent.messages.filter((m) => m.role === "assistant");
  expect(assistant.map((m) => m.content)).toEqual(["The answer is 42"]);
  expect(agent.messages.filter((m) => m.role === "reasoning").map((m) => m.content)).toEqual(["Let me think"]);
  expect(agent.state).toMatchObject({ current_agent_name: "Thinker", previous_response_id: fake().requests[0].responseId, signature: expect.any(String) });
  expect(fake().requests[0].body.model).toBe("o4-mini");
});

test("state round-trips: the second run continues the first", async () => {
  const agent = agentWith("My name is Ada");
  await run(agent);
  agent.addMessage({ id: "u2", role: "user", content: "What is my name?" });
  await run(agent);
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  expect(agent.messages.filter((m) => m.role === "assistant").map((m) => m.content)).toEqual(["Echo: My name is Ada", "Echo: What is my name?"]);
  expect(agent.state.previous_response_id).toBe(fake().requests[1].responseId);
});

test("a tool call: TOOL_CALL_START/ARGS/END and TOOL_CALL_RESULT assemble into the messages", async () => {
  fake().enqueue({ toolCalls: [{ name: "weather", arguments: { city: "Paris" }, callId: "call_w" }] }, { text: "It is sunny." });
  const agent = agentWith("Weather in Paris?");
  const events = await run(agent);
  expect(events.filter((e) => e.type.startsWith("TOOL_CALL")).map((e) => e.type)).toEqual(["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"]);
  const withCall = agent.messages.find((m) => m.role === "assistant" && m.toolCalls?.length) as any;
  expect(withCall.toolCalls).toEqual([{ id: "call_w", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }]);
  expect(agent.messages.find((m) => m.role === "tool")).toMatchObject({ toolCallId: "call_w", content: "Sunny in Paris" });
  expect(agent.messages.at(-1)).toMatchObject({ role: "assistant", content: "It is sunny." });
});

test("a failing run ends with RUN_ERROR carrying the message and code", async () => {
  fake().enqueue({ toolCalls: [{ name: "explode", arguments: {} }] });
  const agent = agentWith("blow up");
  const events: BaseEvent[] = [];
  const failure = await agent.runAgent({}, { onEvent: ({ event }) => { events.push(event); } }).catch((e) => e);
  expect(failure instanceof Error ? failure.message : "").not.toMatch(/verif|sequence/i);
  const last = events.at(-1) as any;
  expect(last).toMatchObject({ type: "RUN_ERROR", message: "Tool 'explode' raised: Error: boom", code: "tool_error" });
  expect(EventSchemas.safeParse(last).success).toBe(true);
});

test("a tampered state is refused with 400 before anything runs", async () => {
  const agent = agentWith("hi");
  await run(agent);
  const res = await fetch(`${server.url}/api/ag-ui`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "u", role: "user", content: "again" }], state: { ...agent.state, current_agent_name: "Thinker" } }),
  });
  expect(res.status).toBe(400);
  expect((await res.json()).error).toMatch(/^Invalid state/);
  expect(fake().requests).toHaveLength(1);
});

test("aborting the run aborts the upstream request", async () => {
  fake().enqueue({ hang: true });
  const agent = agentWith("hang");
  const running = agent.runAgent({}).catch(() => undefined);
  await fake().waitForRequests(1);
  agent.abortRun();
  await running;
  for (let i = 0; i < 200 && !fake().requests[0].aborted; i++) await new Promise((r) => setTimeout(r, 25));
  expect(fake().requests[0].aborted).toBe(true);
});
