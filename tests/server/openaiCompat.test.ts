/**
 * /v1/models and /v1/chat/completions read by the real `openai` client pointed at a klisk server (auth on),
 * with the fake upstream behind it: the agents are the models, the client's transcript is the
 * conversation, the agent's tools run on the server, and errors land in the SDK's own error classes.
 */
import OpenAI from "openai";
import type { RunningServer } from "../../src/server/listen";
import { tokens } from "../helpers/fakeWire";
import { makeProject, serve, useFakeOpenAI } from "../helpers/project";
import { testTools } from "../helpers/tools";

const KEY = "sk-klisk-test";
const fake = useFakeOpenAI({ env: { KLISK_API_KEY: KEY } });
let server: RunningServer;
let lenient: RunningServer;
let client: OpenAI;
const tools = testTools();
const { weatherCalls } = tools;

beforeAll(async () => {
  const { weather, explode, slow } = tools;
  const agents = [
    { name: "Assistant", instructions: "Be brief.", tools: [weather, explode, slow] },
    { name: "Thinker", model: "o4-mini" },
  ];
  server = await serve(makeProject(agents));
  lenient = await serve(makeProject(agents, "deploy:\n  openai:\n    allow_system_messages: true\n"));
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
  await lenient.close();
});

test("models.list() lists the agents", async () => {
  const ids: string[] = [];
  for await (const model of client.models.list()) ids.push(model.id);
  expect(ids).toEqual(["Assistant", "Thinker"]);
});

test("GET /api/info lists the endpoints", async () => {
  const info = await (await fetch(`${server.url}/api/info`)).json();
  expect(info.endpoints).toMatchObject({ chat: "/api/chat", ai_sdk: "/api/ai-sdk", openai_chat_completions: "/v1/chat/completions", openai_models: "/v1/models" });
});

test("a non-streamed completion answers with the agent's text and usage", async () => {
  fake().enqueue({ text: "2 + 2 equals 4." });
  const completion = await client.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "What is 2+2?" }] });
  expect(completion.object).toBe("chat.completion");
  expect(completion.model).toBe("Assistant");
  expect(completion.choices).toEqual([{ index: 0, message: { role: "assistant", content: "2 + 2 equals 4.", refusal: null }, logprobs: null, finish_reason: "stop" }]);
  expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
  expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
  expect(completion.usage!.completion_tokens_details).toBeUndefined(); // no reasoning spent
  expect(fake().requests[0].body.instructions).toBe("Be brief.");
});

test("reasoning tokens go where OpenAI puts them: usage.completion_tokens_details.reasoning_tokens", async () => {
  fake().enqueue({ reasoning: "Two and two make four.", text: "4." });
  const completion = await client.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "What is 2+2?" }] });
  expect(completion.usage!.completion_tokens_details?.reasoning_tokens).toBe(tokens("Two and two make four.".length));
});

test("a streamed completion: content deltas, reasoning_content, finish_reason, usage", async () => {
  fake().enqueue({ reasoning: "Let me think", text: "Once upon a time" });
  const stream = await client.chat.completions.create({
    model: "Thinker",
    messages: [{ role: "user", content: "Tell me a story" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id)).toBe(true);
  expect(chunks[0].choices[0].delta.role).toBe("assistant");
  const deltas = chunks.flatMap((c) => c.choices.map((choice) => choice.delta));
  expect(deltas.map((d) => d.content ?? "").join("")).toBe("Once upon a time");
  expect(deltas.map((d) => (d as { reasoning_content?: string }).reasoning_content ?? "").join("")).toBe("Let me think");
  const finishes = chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter((f) => f !== null);
  expect(finishes).toEqual(["stop"]);
  expect(chunks.at(-1)!.choices).toEqual([]);
  expect(chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(0);
});

test("a multi-turn conversation: the client's transcript goes upstream as the history", async () => {
  const completion = await client.chat.completions.create({
    model: "Assistant",
    messages: [
      { role: "user", content: "My name is Ada" },
      { role: "assistant", content: "Hello Ada!" },
      { role: "user", content: [{ type: "text", text: "What is my name?" }] },
    ],
  });
  expect(completion.choices[0].message.content).toBe("Echo: What is my name?");
  const input = fake().requests[0].body.input;
  expect(JSON.stringify(input)).toContain("My name is Ada");
  expect(input.filter((i: any) => i.role === "assistant").map((i: any) => JSON.stringify(i.content))).toEqual([expect.stringContaining("Hello Ada!")]);
  expect(fake().requests[0].body.previous_response_id).toBeUndefined();
});

test("the agent's own tools run on the server and never show as tool_calls", async () => {
  weatherCalls.length = 0;
  fake().enqueue({ toolCalls: [{ name: "weather", arguments: { city: "Paris" } }] }, { text: "It is sunny in Paris." });
  const completion = await client.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "Weather in Paris?" }] });
  expect(weatherCalls).toEqual(["Paris"]);
  expect(completion.choices[0].message).toEqual({ role: "assistant", content: "It is sunny in Paris.", refusal: null });
  expect(completion.choices[0].finish_reason).toBe("stop");
});

test("a wrong key is the SDK's AuthenticationError, in OpenAI's error shape", async () => {
  const wrong = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
  const err = await wrong.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "hi" }] }).catch((e) => e);
  expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
  expect(err.status).toBe(401);
  expect(err.error).toMatchObject({ message: "Invalid API key", type: "invalid_request_error", code: "invalid_api_key" });
  await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  expect(fake().requests).toHaveLength(0);
});

test("an unknown model is the SDK's NotFoundError naming the agents", async () => {
  const err = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }).catch((e) => e);
  expect(err).toBeInstanceOf(OpenAI.NotFoundError);
  expect(err.error.message).toBe("The model 'gpt-4o' does not exist. The models are this server's agents: Assistant, Thinker");
});

test("system messages are refused with 400 unless deploy.openai.allow_system_messages, then appended", async () => {
  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "system", content: "Answer in French." }, { role: "user", content: "hi" }];
  const err = await client.chat.completions.create({ model: "Assistant", messages }).catch((e) => e);
  expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  expect(err.error.message).toMatch(/deploy\.openai\.allow_system_messages: true/);
  expect(fake().requests).toHaveLength(0);

  const allowed = new OpenAI({ baseURL: `${lenient.url}/v1`, apiKey: KEY, maxRetries: 0 });
  await allowed.chat.completions.create({ model: "Assistant", messages });
  expect(fake().requests[0].body.instructions).toBe("Be brief.\n\nAnswer in French.");
});

test("a failing run: a 500 APIError without streaming, an error frame the SDK raises while streaming", async () => {
  fake().enqueue({ toolCalls: [{ name: "explode", arguments: {} }] });
  const err = await client.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "blow up" }] }).catch((e) => e);
  expect(err).toBeInstanceOf(OpenAI.InternalServerError);
  expect(err.error).toMatchObject({ message: "Tool 'explode' raised: Error: boom", type: "server_error" });

  fake().enqueue({ toolCalls: [{ name: "explode", arguments: {} }] });
  const stream = await client.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "blow up" }], stream: true });
  const failure = await (async () => { for await (const _chunk of stream) { /* drain */ } })().catch((e) => e);
  expect(failure).toBeInstanceOf(OpenAI.APIError);
  expect(failure.message).toContain("Tool 'explode' raised: Error: boom");
});

test("image parts become attachments; remote URLs and client tools are refused", async () => {
  const png = Buffer.from("\x89PNG\r\n\x1a\nfake", "latin1").toString("base64");
  await client.chat.completions.create({
    model: "Assistant",
    messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } }] }],
  });
  const user = fake().requests[0].body.input.find((i: any) => i.role === "user");
  expect(user.content[1]).toMatchObject({ type: "input_image", image_url: `data:image/png;base64,${png}` });

  const remote = await client.chat.completions
    .create({ model: "Assistant", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png" } }] }] })
    .catch((e) => e);
  expect(remote).toBeInstanceOf(OpenAI.BadRequestError);
  const tools = await client.chat.completions
    .create({ model: "Assistant", messages: [{ role: "user", content: "hi" }], tools: [{ type: "function", function: { name: "f", parameters: {} } }] })
    .catch((e) => e);
  expect(tools).toBeInstanceOf(OpenAI.BadRequestError);
  expect(fake().requests).toHaveLength(1);
});

test("aborting a stream aborts the upstream request and the running tool", async () => {
  fake().enqueue({ toolCalls: [{ name: "slow", arguments: {} }] });
  tools.slowSignal = undefined;
  const stream = await client.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "slow" }], stream: true });
  await waitFor(() => tools.slowSignal !== undefined);
  stream.controller.abort();
  await waitFor(() => tools.slowSignal!.aborted);

  fake().enqueue({ hang: true });
  const hanging = await client.chat.completions.create({ model: "Assistant", messages: [{ role: "user", content: "hang" }], stream: true });
  await fake().waitForRequests(2);
  hanging.controller.abort();
  await waitFor(() => fake().requests[1].aborted);
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}
