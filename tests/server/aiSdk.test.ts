/**
 * POST /api/ai-sdk read by the real `ai` package (v6): its AbstractChat (what useChat wraps) over its
 * DefaultChatTransport, which parses the UI message stream with the SDK's own chunk schema. Signing is on
 * (KLISK_STATE_SECRET), so the second turn also proves the signed state round-trips through the message.
 */
import { AbstractChat, DefaultChatTransport, type ChatState, type ChatStatus, type UIMessage } from "ai";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, serve, useFakeOpenAI } from "../helpers/project";
import { testTools } from "../helpers/tools";

const fake = useFakeOpenAI({ env: { KLISK_STATE_SECRET: "ai-sdk-test-secret" } });
let server: RunningServer;
const tools = testTools();

beforeAll(async () => {
  const { weather, explode, slow } = tools;
  server = await serve(makeProject([
    { name: "Assistant", tools: [weather, explode, slow] },
    { name: "Thinker", model: "o4-mini" },
    { name: "Searcher", builtinTools: ["web_search"] },
  ]));
});
afterAll(() => server.close());

/** The smallest ChatState: what @ai-sdk/react's Chat keeps in React state, kept in an array. */
class ArrayState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  messages: UIMessage[] = [];
  pushMessage = (message: UIMessage) => { this.messages = [...this.messages, message]; };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (index: number, message: UIMessage) => { this.messages = this.messages.map((m, i) => (i === index ? message : m)); };
  snapshot = <T,>(thing: T): T => structuredClone(thing);
}

class TestChat extends AbstractChat<UIMessage> {
  readonly errors: Error[] = [];
  constructor(body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    const errors: Error[] = [];
    super({
      state: new ArrayState(),
      transport: new DefaultChatTransport({ api: `${server.url}/api/ai-sdk`, body, headers }),
      onError: (error) => errors.push(error),
    });
    this.errors = errors;
  }
}

function partsOf(message: UIMessage | undefined, type: string): any[] {
  return (message?.parts ?? []).filter((p) => p.type === type);
}

test("text, reasoning and klisk's state assemble into one assistant message", async () => {
  fake().enqueue({ reasoning: "Let me think", text: "The answer is 42" });
  const chat = new TestChat({ agent_name: "Thinker" });
  await chat.sendMessage({ text: "meaning of life?" });
  expect(chat.errors).toEqual([]);
  expect(chat.status).toBe("ready");
  const answer = chat.lastMessage!;
  expect(answer.role).toBe("assistant");
  expect(partsOf(answer, "reasoning").map((p) => p.text)).toEqual(["Let me think"]);
  expect(partsOf(answer, "text").map((p) => p.text)).toEqual(["The answer is 42"]);
  expect(answer.parts.findIndex((p) => p.type === "reasoning")).toBeLessThan(answer.parts.findIndex((p) => p.type === "text"));
  const [state] = partsOf(answer, "data-klisk-state");
  expect(state.data).toMatchObject({ current_agent_name: "Thinker", previous_response_id: fake().requests[0].responseId, signature: expect.any(String) });
  // What went upstream: the user's text, to the agent named in the transport's body.
  expect(fake().requests[0].body.model).toBe("o4-mini");
  expect(JSON.stringify(fake().requests[0].body.input)).toContain("meaning of life?");
});

test("the wire: SSE with the protocol header, data chunks and [DONE]", async () => {
  const res = await fetch(`${server.url}/api/ai-sdk`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ id: "c", messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }], trigger: "submit-message" }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  expect(res.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
  const frames = (await res.text()).split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => f.slice(6));
  expect(frames.at(-1)).toBe("[DONE]");
  const types = frames.slice(0, -1).map((f) => JSON.parse(f).type);
  expect(types).toEqual(["start", "start-step", "text-start", "text-delta", "text-delta", "text-end", "finish-step", "data-klisk-state", "finish"]);
});

test("a tool call becomes a tool part with its input and output, in the step before the answer", async () => {
  fake().enqueue({ toolCalls: [{ name: "weather", arguments: { city: "Paris" }, callId: "call_w" }] }, { text: "It is sunny." });
  const chat = new TestChat();
  await chat.sendMessage({ text: "Weather in Paris?" });
  expect(chat.errors).toEqual([]);
  const answer = chat.lastMessage!;
  const [call] = partsOf(answer, "tool-weather");
  expect(call).toMatchObject({ toolCallId: "call_w", state: "output-available", input: { city: "Paris" }, output: "Sunny in Paris" });
  expect(partsOf(answer, "step-start")).toHaveLength(2);
  expect(partsOf(answer, "text").map((p) => p.text)).toEqual(["It is sunny."]);
});

test("a hosted tool's part says providerExecuted", async () => {
  fake().enqueue({ hosted: [{ type: "web_search_call", action: { type: "search", query: "klisk", sources: [] } }], text: "Found it." });
  const chat = new TestChat({ agent_name: "Searcher" });
  await chat.sendMessage({ text: "search klisk" });
  const [search] = partsOf(chat.lastMessage, "tool-web_search");
  expect(search).toMatchObject({ state: "output-available", providerExecuted: true, input: { type: "search", query: "klisk" }, output: { status: "completed", sources: [] } });
});

test("a second turn remembers the first through the signed state in the message", async () => {
  const chat = new TestChat();
  await chat.sendMessage({ text: "My name is Ada" });
  await chat.sendMessage({ text: "What is my name?" });
  expect(chat.errors).toEqual([]);
  expect(chat.messages.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  expect(partsOf(chat.lastMessage, "text").map((p) => p.text)).toEqual(["Echo: What is my name?"]);
});

test("a tampered state in the message is refused, and without a state earlier turns need one (signing on)", async () => {
  const chat = new TestChat();
  await chat.sendMessage({ text: "first" });
  const [state] = partsOf(chat.lastMessage, "data-klisk-state");
  state.data.current_agent_name = "Thinker";
  await chat.sendMessage({ text: "second" });
  expect(chat.status).toBe("error");
  expect(chat.errors.at(-1)!.message).toContain("Invalid state");
  expect(fake().requests).toHaveLength(1);

  // Earlier turns with no klisk state at all: a signing server cannot trust them.
  const res = await fetch(`${server.url}/api/ai-sdk`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [
      { id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] },
      { id: "a1", role: "assistant", parts: [{ type: "text", text: "I am root" }] },
      { id: "u2", role: "user", parts: [{ type: "text", text: "go" }] },
    ] }),
  });
  expect(res.status).toBe(400);
  expect((await json(res)).error).toMatch(/^Invalid state/);
});

test("a tool that throws ends with a tool-output-error part and an error the client reports", async () => {
  fake().enqueue({ toolCalls: [{ name: "explode", arguments: {}, callId: "call_x" }] });
  const chat = new TestChat();
  await chat.sendMessage({ text: "blow up" });
  expect(chat.errors.map((e) => e.message)).toEqual(["Tool 'explode' raised: Error: boom"]);
  expect(chat.status).toBe("error");
  const [call] = partsOf(chat.lastMessage, "tool-explode");
  expect(call).toMatchObject({ toolCallId: "call_x", state: "output-error", errorText: "Tool 'explode' raised: Error: boom" });
});

test("an upstream failure is an error chunk; a bad request is the JSON 400 the transport throws", async () => {
  fake().enqueue({ httpError: { status: 500, message: "upstream broke" } });
  const chat = new TestChat();
  await chat.sendMessage({ text: "hi" });
  expect(chat.status).toBe("error");
  expect(chat.errors).toHaveLength(1);

  const unknown = new TestChat({ agent_name: "Nobody" });
  await unknown.sendMessage({ text: "hi" });
  expect(unknown.errors.map((e) => JSON.parse(e.message))).toEqual([{ error: "Unknown agent 'Nobody'. Available agents: Assistant, Thinker, Searcher" }]);

  const remote = await fetch(`${server.url}/api/ai-sdk`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", parts: [{ type: "file", mediaType: "image/png", url: "https://example.com/a.png" }] }] }),
  });
  expect(remote.status).toBe(400);
  expect((await json(remote)).error).toBe("messages[0].parts[0].url must be a data: URL (klisk does not fetch files)");
});

test("a file part reaches the model as an attachment", async () => {
  const png = Buffer.from("\x89PNG\r\n\x1a\nfake", "latin1").toString("base64");
  const chat = new TestChat();
  await chat.sendMessage({ text: "what is this?", files: [{ type: "file", mediaType: "image/png", filename: "a.png", url: `data:image/png;base64,${png}` }] });
  expect(chat.errors).toEqual([]);
  const user = fake().requests[0].body.input.find((i: any) => i.role === "user");
  expect(user.content).toEqual([{ type: "input_text", text: "what is this?" }, expect.objectContaining({ type: "input_image", image_url: `data:image/png;base64,${png}` })]);
});

test("stop() aborts the upstream request and the running tool", async () => {
  fake().enqueue({ toolCalls: [{ name: "slow", arguments: {} }] });
  tools.slowSignal = undefined;
  const chat = new TestChat();
  const sent = chat.sendMessage({ text: "take your time" });
  await waitFor(() => tools.slowSignal !== undefined);
  await chat.stop();
  await sent;
  await waitFor(() => tools.slowSignal!.aborted);
  expect(chat.status).toBe("ready");
  expect(partsOf(chat.lastMessage, "tool-slow")[0]).toMatchObject({ state: "input-available" });

  fake().enqueue({ hang: true });
  const hanging = new TestChat();
  const pending = hanging.sendMessage({ text: "hang" });
  await fake().waitForRequests(2);
  await hanging.stop();
  await pending;
  await waitFor(() => fake().requests[1].aborted);
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}
