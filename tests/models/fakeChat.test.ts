/** The fake's Chat Completions endpoint and fault modes, driven through the real `openai` SDK. */
import OpenAI, { APIError } from "openai";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fakeOpenAI";

let fake: FakeOpenAI;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  client = new OpenAI({ apiKey: "test", baseURL: fake.url, maxRetries: 0, logLevel: "off" });
});
afterEach(() => fake.reset());
afterAll(() => fake.close());

async function chunks(messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: "user", content: "hi" }]) {
  const stream = await client.chat.completions.create({ model: "m", messages, stream: true, stream_options: { include_usage: true } });
  const out: ChatCompletionChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

const contentOf = (cs: ChatCompletionChunk[]) => cs.flatMap((c) => (c.choices[0]?.delta.content ? [c.choices[0].delta.content] : []));

test("streams text deltas, a finish_reason, then a usage chunk without choices", async () => {
  fake.enqueue({ text: "Hello there" });
  const cs = await chunks();
  expect(contentOf(cs)).toEqual(["Hello", " there"]);
  expect(cs[0].choices[0].delta.role).toBe("assistant");
  expect(cs.at(-2)!.choices[0].finish_reason).toBe("stop");
  expect(cs.at(-1)!.choices).toEqual([]);
  expect(cs.at(-1)!.usage?.total_tokens).toBeGreaterThan(0);
  expect(cs[0].id).toBe(fake.requests[0].responseId);
  expect(fake.requests[0]).toMatchObject({ path: "/v1/chat/completions", aborted: false });
});

test("the default script echoes the last user message or reports the last tool message", async () => {
  expect(contentOf(await chunks([{ role: "user", content: [{ type: "text", text: "ping" }] }])).join("")).toBe("Echo: ping");
  const tool = await chunks([
    { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
    { role: "tool", tool_call_id: "c1", content: "42" },
  ]);
  expect(contentOf(tool).join("")).toBe("Tool said: 42");
});

test("tool calls arrive in fragments by index, or whole in one chunk", async () => {
  fake.enqueue({ toolCalls: [{ name: "add", arguments: { a: 1 }, callId: "call_a" }, { name: "mul", arguments: { b: 2 }, oneChunk: true }] });
  const cs = await chunks();
  const fragments = cs.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
  expect(fragments.filter((f) => f.index === 0).map((f) => f.function?.arguments).join("")).toBe('{"a":1}');
  expect(fragments.filter((f) => f.index === 0).length).toBeGreaterThanOrEqual(3);
  expect(fragments.filter((f) => f.index === 1)).toEqual([
    { index: 1, id: expect.stringMatching(/^call_/), type: "function", function: { name: "mul", arguments: '{"b":2}' } },
  ]);
  expect(cs.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe("tool_calls");
});

test("reasoning deltas use reasoning_content by default, or the field asked for", async () => {
  fake.enqueue({ reasoning: "Hmm ok", text: "Yes" }, { reasoning: "Think", reasoningField: "reasoning", text: "No" });
  const first = (await chunks()).map((c) => (c.choices[0]?.delta as any)?.reasoning_content).filter(Boolean);
  expect(first).toEqual(["Hmm", " ok"]);
  const second = (await chunks()).map((c) => (c.choices[0]?.delta as any)?.reasoning).filter(Boolean);
  expect(second).toEqual(["Think"]);
});

test("a mid-stream error chunk makes the SDK throw an APIError", async () => {
  fake.enqueue({ text: "partial", streamError: "overloaded" });
  const err = await chunks().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(APIError);
  expect((err as APIError).message).toContain("overloaded");
});

test("malformed data makes the SDK throw a SyntaxError, on both APIs", async () => {
  fake.enqueue({ text: "partial", malformed: true }, { text: "partial", malformed: true });
  await expect(chunks()).rejects.toBeInstanceOf(SyntaxError);
  const stream = await client.responses.create({ model: "m", input: "hi", stream: true });
  await expect((async () => { for await (const _ of stream) void _; })()).rejects.toBeInstanceOf(SyntaxError);
});

test("cut destroys the socket mid-stream, on both APIs", async () => {
  fake.enqueue({ text: "partial", cut: true }, { text: "partial", cut: true });
  const chatErr = await chunks().catch((e: unknown) => e);
  expect(String(chatErr)).toMatch(/terminated/);
  const stream = await client.responses.create({ model: "m", input: "hi", stream: true });
  const responsesErr = await (async () => { for await (const _ of stream) void _; })().catch((e: unknown) => e);
  expect(String(responsesErr)).toMatch(/terminated/);
});

test("stream:false answers a chat.completion with the message and tool calls", async () => {
  fake.enqueue({ text: "Plain", toolCalls: [{ name: "f", arguments: {}, callId: "c9" }] });
  const completion = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
  expect(completion.choices[0]).toMatchObject({
    finish_reason: "tool_calls",
    message: { content: "Plain", tool_calls: [{ id: "c9", function: { name: "f", arguments: "{}" } }] },
  });
});

test("hosted items are emitted as output items with ids and a completed status", async () => {
  fake.enqueue({ hosted: [{ type: "web_search_call", action: { type: "search", query: "q" } }], text: "ok" });
  const stream = await client.responses.create({ model: "m", input: "hi", stream: true });
  const done: any[] = [];
  for await (const e of stream) if (e.type === "response.output_item.done") done.push(e.item);
  expect(done[0]).toMatchObject({ type: "web_search_call", id: expect.stringMatching(/^ws_/), status: "completed", action: { query: "q" } });
});

test("httpError can carry headers such as retry-after-ms", async () => {
  fake.enqueue({ httpError: { status: 429, headers: { "retry-after-ms": "5" } } });
  const err = (await chunks().catch((e: unknown) => e)) as APIError;
  expect(err.status).toBe(429);
  expect(err.headers?.get("retry-after-ms")).toBe("5");
});
