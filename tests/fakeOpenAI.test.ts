/** Drives the fake through the real `openai` SDK, so a wire-format mismatch fails here first. */
import OpenAI, { APIError } from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { startFakeOpenAI, type FakeOpenAI } from "./helpers/fakeOpenAI";

let fake: FakeOpenAI;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  client = new OpenAI({ apiKey: "test", baseURL: fake.url, maxRetries: 0 });
});
afterEach(() => fake.reset());
afterAll(() => fake.close());

async function collect(input: OpenAI.Responses.ResponseCreateParams["input"] = "hi"): Promise<ResponseStreamEvent[]> {
  const stream = await client.responses.create({ model: "gpt-5.2", input, stream: true });
  const events: ResponseStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  return events;
}

const deltas = (events: ResponseStreamEvent[]) =>
  events.flatMap((e) => (e.type === "response.output_text.delta" ? [e.delta] : []));

test("text streams in word deltas with full envelope and increasing sequence numbers", async () => {
  fake.enqueue({ text: "Hello there, world" });
  const events = await collect();
  expect(deltas(events)).toEqual(["Hello", " there,", " world"]);
  expect(events[0].type).toBe("response.created");
  expect(events[1].type).toBe("response.in_progress");
  expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
  const done = events[events.length - 1];
  if (done.type !== "response.completed") throw new Error(`last event was ${done.type}`);
  expect(done.response.id).toMatch(/^resp_[0-9a-f]+$/);
  expect(done.response.id).toBe(fake.requests[0].responseId);
  expect(done.response.output[0]).toMatchObject({ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Hello there, world" }] });
  expect(done.response.usage?.total_tokens).toBeGreaterThan(0);
  expect(fake.requests[0]).toMatchObject({ method: "POST", path: "/v1/responses", body: { model: "gpt-5.2", input: "hi", stream: true } });
});

test("array text gives exact deltas; default turn echoes the last user message", async () => {
  fake.enqueue({ text: ["a", "bc"] });
  expect(deltas(await collect())).toEqual(["a", "bc"]);
  const echoed = await collect([{ role: "user", content: [{ type: "input_text", text: "ping" }] }]);
  expect(deltas(echoed).join("")).toBe("Echo: ping");
  const tool = await collect([{ type: "function_call_output", call_id: "call_1", output: "42" }]);
  expect(deltas(tool).join("")).toBe("Tool said: 42");
});

test("reasoning streams a summary before the text", async () => {
  fake.enqueue({ reasoning: "Thinking hard", text: "Done" });
  const events = await collect();
  const summary = events.flatMap((e) => (e.type === "response.reasoning_summary_text.delta" ? [e.delta] : []));
  expect(summary).toEqual(["Thinking", " hard"]);
  const firstText = events.findIndex((e) => e.type === "response.output_text.delta");
  expect(events.findIndex((e) => e.type === "response.reasoning_summary_text.delta")).toBeLessThan(firstText);
  const done = events.find((e) => e.type === "response.completed");
  if (done?.type !== "response.completed") throw new Error("no response.completed");
  expect(done.response.output.map((o) => o.type)).toEqual(["reasoning", "message"]);
  expect(done.response.output[0]).toMatchObject({ id: expect.stringMatching(/^rs_/), summary: [{ type: "summary_text", text: "Thinking hard" }] });
});

test("tool calls stream arguments and land in the completed output", async () => {
  fake.enqueue({
    toolCalls: [
      { name: "get_weather", arguments: { city: "Paris" }, callId: "call_abc" },
      { name: "add", arguments: '{"a":1,"b":2}' },
    ],
  });
  const events = await collect();
  const calls = events.flatMap((e) => (e.type === "response.output_item.done" && e.item.type === "function_call" ? [e.item] : []));
  expect(calls).toHaveLength(2);
  expect(calls[0]).toMatchObject({ name: "get_weather", arguments: '{"city":"Paris"}', call_id: "call_abc", status: "completed", id: expect.stringMatching(/^fc_/) });
  expect(calls[1]).toMatchObject({ name: "add", arguments: '{"a":1,"b":2}', call_id: expect.stringMatching(/^call_/) });
  const argDeltas = events.filter((e) => e.type === "response.function_call_arguments.delta" && e.item_id === calls[0].id);
  expect(argDeltas.length).toBeGreaterThanOrEqual(2);
  const done = events.find((e) => e.type === "response.completed");
  if (done?.type !== "response.completed") throw new Error("no response.completed");
  expect(done.response.output).toEqual(calls);
  expect(deltas(events)).toEqual([]); // no text when only tool calls are scripted
});

test("httpError makes the SDK throw an APIError with that status", async () => {
  fake.enqueue({ httpError: { status: 500, message: "boom" } });
  const err = await collect().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(APIError);
  expect((err as APIError).status).toBe(500);
  expect((err as APIError).message).toContain("boom");
});

test("fail emits response.failed instead of response.completed", async () => {
  fake.enqueue({ text: "partial", fail: "model exploded" });
  const events = await collect();
  const last = events[events.length - 1];
  if (last.type !== "response.failed") throw new Error(`last event was ${last.type}`);
  expect(last.response.status).toBe("failed");
  expect(last.response.error?.message).toBe("model exploded");
  expect(events.some((e) => e.type === "response.completed")).toBe(false);
});

test("aborting a hanging stream marks the request aborted", async () => {
  fake.enqueue({ hang: true });
  const controller = new AbortController();
  const stream = await client.responses.create({ model: "gpt-5.2", input: "hi", stream: true }, { signal: controller.signal });
  const seen: string[] = [];
  for await (const e of stream) {
    seen.push(e.type);
    if (e.type === "response.in_progress") controller.abort();
  }
  expect(seen).toEqual(["response.created", "response.in_progress"]);
  const deadline = Date.now() + 1000;
  while (!fake.requests[0].aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(fake.requests[0].aborted).toBe(true);
});

test("stream:false returns a plain Response the SDK gives output_text for", async () => {
  fake.enqueue({ text: "Plain answer" });
  const response = await client.responses.create({ model: "gpt-5.2", input: "hi" });
  expect(response.output_text).toBe("Plain answer");
  expect(response.status).toBe("completed");
  expect(fake.requests[0].aborted).toBe(false);
});

test("onRequest scripts turns dynamically; waitForRequests and previous_response_id are recorded", async () => {
  fake.onRequest = (body) => ({ text: `model=${body.model}` });
  const pending = client.responses.create({ model: "gpt-5.2", input: "hi", previous_response_id: "resp_prev" });
  await fake.waitForRequests(1);
  expect((await pending).output_text).toBe("model=gpt-5.2");
  expect(fake.requests[0].body.previous_response_id).toBe("resp_prev");
  await expect(fake.waitForRequests(2, 50)).rejects.toThrow(/expected 2/);
});

test("missing auth is 401 and unknown paths are 404", async () => {
  const noAuth = await fetch(`${fake.url}/responses`, { method: "POST", body: JSON.stringify({ model: "m", input: "hi" }) });
  expect(noAuth.status).toBe(401);
  expect(((await noAuth.json()) as any).error.type).toBe("invalid_request_error");
  const missing = await fetch(`${fake.url}/nope`, { headers: { authorization: "Bearer x" } });
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as any).error.message).toContain("Invalid URL");
});

test("delayMs spaces events, and close() never hangs on an open stream", async () => {
  const own = await startFakeOpenAI();
  const c = new OpenAI({ apiKey: "test", baseURL: own.url, maxRetries: 0 });
  own.enqueue({ text: "a b", delayMs: 20 }, { hang: true });
  const started = Date.now();
  const first = await c.responses.create({ model: "gpt-5.2", input: "hi", stream: true });
  for await (const _ of first) void _;
  expect(Date.now() - started).toBeGreaterThanOrEqual(100); // ~10 events x 20ms
  const second = await c.responses.create({ model: "gpt-5.2", input: "hi", stream: true });
  const iterating = (async () => { for await (const _ of second) void _; })().catch(() => undefined);
  await own.waitForRequests(2);
  await own.close();
  await iterating;
  expect(own.requests[1].aborted).toBe(true);
});
