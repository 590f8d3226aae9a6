/** `usage` on klisk's wire: the `done` event (SSE, WebSocket) and the JSON answer, summed over a run's model calls. */
import { tool, z } from "../../src/index";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, openWs, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";
import { tokens } from "../helpers/fakeWire";

const fake = useFakeOpenAI({ presets: ["GROQ"] });
let server: RunningServer;

beforeAll(async () => {
  const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) });
  server = await serve(makeProject([{ name: "Assistant", tools: [add] }]));
});
afterAll(() => server.close());

/** Input tokens as the fake counts them, summed over the model calls it received. */
const inputTokens = () => fake().requests.reduce((n, r) => n + tokens(JSON.stringify(r.body.input ?? "").length), 0);

const callAdd = () => fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] }, { text: "It is 5." });

test("SSE: the done event carries the usage of both model calls of a tool run", async () => {
  callAdd();
  const events = parseSse(await (await postChat(server.url, { message: "2+3?" })).text());
  const done = events.find((e) => e.type === "done");
  expect(fake().requests).toHaveLength(2);
  expect(done.usage).toEqual({ input_tokens: inputTokens(), output_tokens: expect.any(Number), total_tokens: expect.any(Number) });
  expect(done.usage.output_tokens).toBeGreaterThan(tokens("It is 5.".length) - 1);
  expect(done.usage.total_tokens).toBe(done.usage.input_tokens + done.usage.output_tokens);
  // Only the done event carries it.
  expect(events.filter((e) => e !== "[DONE]" && e.usage !== undefined)).toEqual([done]);
});

test("JSON: the answer carries the same usage", async () => {
  callAdd();
  const body = await json(await postChat(server.url, { message: "2+3?", stream: false }));
  expect(body).toMatchObject({ response: "It is 5.", done: true, usage: { input_tokens: inputTokens() } });
  expect(body.usage.total_tokens).toBe(body.usage.input_tokens + body.usage.output_tokens);
});

test("WebSocket: the done frame carries usage", async () => {
  const socket = await openWs(server.url);
  try {
    socket.send({ message: "hello" });
    const frames = await socket.until("done");
    expect(frames.at(-1).usage).toEqual({ input_tokens: inputTokens(), output_tokens: tokens("Echo: hello".length), total_tokens: inputTokens() + tokens("Echo: hello".length) });
  } finally {
    socket.close();
  }
});

test("a failed run's error event carries no usage", async () => {
  fake().enqueue({ httpError: { status: 400, message: "bad request" } });
  const events = parseSse(await (await postChat(server.url, { message: "x" })).text());
  expect(events.find((e) => e.type === "error")).not.toHaveProperty("usage");
});

describe("reasoning tokens", () => {
  const thought = "First add two and three, then answer with the sum.";

  test("Responses: output_tokens_details.reasoning_tokens becomes reasoning_tokens, summed over the calls", async () => {
    fake().enqueue({ reasoning: thought, toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] }, { reasoning: thought, text: "It is 5." });
    const body = await json(await postChat(server.url, { message: "2+3?", stream: false }));
    expect(body.usage.reasoning_tokens).toBe(2 * tokens(thought.length));
    expect(body.usage.output_tokens).toBeGreaterThan(body.usage.reasoning_tokens);
  });

  test("Chat Completions: completion_tokens_details.reasoning_tokens becomes reasoning_tokens", async () => {
    const chatServer = await serve(makeProject([{ name: "Thinker", model: "groq/fake-model" }]));
    try {
      fake().enqueue({ reasoning: thought, text: "Done." });
      const events = parseSse(await (await postChat(chatServer.url, { message: "think" })).text());
      expect(events.find((e) => e.type === "done").usage.reasoning_tokens).toBe(tokens(thought.length));
    } finally {
      await chatServer.close();
    }
  });

  test("a model that spent none (the provider says 0) gets no reasoning_tokens field", async () => {
    const body = await json(await postChat(server.url, { message: "hi", stream: false }));
    expect(body.usage).not.toHaveProperty("reasoning_tokens");
  });
});
