/** POST /api/chat in JSON and SSE modes against the fake upstream: turns, state, tools, errors, attachments. */
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";
import { testTools } from "../helpers/tools";

const fake = useFakeOpenAI();
let server: RunningServer;
const tools = testTools();
const { weatherCalls } = tools;

beforeAll(async () => {
  const { weather, explode } = tools;
  const project = makeProject([
    { name: "Assistant", tools: [weather, explode] },
    { name: "Thinker", model: "o4-mini" },
  ]);
  server = await serve(project);
});
afterAll(() => server.close());
beforeEach(() => { weatherCalls.length = 0; });

async function sse(body: object): Promise<{ res: Response; events: any[] }> {
  const res = await postChat(server.url, body);
  return { res, events: parseSse(await res.text()) };
}

test("stream:false answers {response, state, done, usage}", async () => {
  fake().enqueue({ text: "2 + 2 equals 4." });
  const res = await postChat(server.url, { message: "What is 2+2?", stream: false });
  expect(res.status).toBe(200);
  const body = await json(res);
  expect(Object.keys(body).sort()).toEqual(["done", "response", "state", "usage"]);
  expect(body).toMatchObject({
    response: "2 + 2 equals 4.",
    state: { previous_response_id: fake().requests[0].responseId, current_agent_name: "Assistant" },
    done: true,
    usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number), total_tokens: expect.any(Number) },
  });
});

test("stream defaults to SSE: token frames, done, then [DONE]", async () => {
  fake().enqueue({ text: "Once upon a time" });
  const { res, events } = await sse({ message: "Tell me a story" });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  expect(res.headers.get("cache-control")).toBe("no-cache");
  expect(res.headers.get("x-accel-buffering")).toBe("no");
  expect(events.filter((e) => e.type === "token").map((e) => e.data)).toEqual(["Once", " upon", " a", " time"]);
  const done = events.at(-2);
  expect(done).toMatchObject({ type: "done", data: "Once upon a time", response_id: fake().requests[0].responseId });
  expect(done.state).toMatchObject({ previous_response_id: fake().requests[0].responseId, current_agent_name: "Assistant" });
  expect(events.at(-1)).toBe("[DONE]");
});

test("multi-turn over JSON sends the previous response id upstream", async () => {
  const first = await json(await postChat(server.url, { message: "My name is Ada", stream: false }));
  const second = await postChat(server.url, { message: "What is my name?", stream: false, state: first.state });
  expect(second.status).toBe(200);
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  expect((await json(second)).state.previous_response_id).toBe(fake().requests[1].responseId);
});

test("multi-turn over SSE continues from done.state", async () => {
  const { events } = await sse({ message: "one" });
  const state = events.find((e) => e.type === "done").state;
  const { events: second } = await sse({ message: "two", state });
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  expect(second.find((e) => e.type === "done").data).toBe("Echo: two");
});

test("two parallel tool calls pair tool_call and tool_result by call_id", async () => {
  fake().enqueue(
    { toolCalls: [{ name: "weather", arguments: { city: "Paris" }, callId: "call_p" }, { name: "weather", arguments: { city: "Rome" }, callId: "call_r" }] },
    { text: "Both sunny." },
  );
  const { events } = await sse({ message: "Weather in Paris and Rome?" });
  const calls = events.filter((e) => e.type === "tool_call");
  const results = events.filter((e) => e.type === "tool_result");
  expect(calls.map((c) => c.data)).toEqual([
    { tool: "weather", arguments: '{"city":"Paris"}', status: "running", call_id: "call_p" },
    { tool: "weather", arguments: '{"city":"Rome"}', status: "running", call_id: "call_r" },
  ]);
  const byId = Object.fromEntries(results.map((r) => [r.data.call_id, r.data]));
  expect(byId.call_p).toEqual({ output: "Sunny in Paris", call_id: "call_p", tool: "weather" });
  expect(byId.call_r).toEqual({ output: "Sunny in Rome", call_id: "call_r", tool: "weather" });
  expect(weatherCalls.sort()).toEqual(["Paris", "Rome"]);
  expect(events.at(-2)).toMatchObject({ type: "done", data: "Both sunny." });
  // The outputs went back upstream in the second request.
  const outputs = fake().requests[1].body.input.filter((i: any) => i.type === "function_call_output");
  expect(outputs.map((o: any) => o.call_id)).toEqual(["call_p", "call_r"]);
});

test("a throwing tool ends the SSE stream with its error, then [DONE]", async () => {
  fake().enqueue({ toolCalls: [{ name: "explode", arguments: {} }] });
  const { res, events } = await sse({ message: "blow up" });
  expect(res.status).toBe(200);
  expect(events.at(-2)).toEqual({ type: "error", data: "Tool 'explode' raised: Error: boom" });
  expect(events.at(-1)).toBe("[DONE]");
});

test("a throwing tool in JSON mode is a 500 with the tool's message", async () => {
  fake().enqueue({ toolCalls: [{ name: "explode", arguments: {} }] });
  const res = await postChat(server.url, { message: "blow up", stream: false });
  expect(res.status).toBe(500);
  expect(await json(res)).toEqual({ error: "Tool 'explode' raised: Error: boom" });
});

test("an upstream failure in JSON mode is a 502", async () => {
  fake().enqueue({ httpError: { status: 500, message: "upstream broke" } });
  const res = await postChat(server.url, { message: "hi", stream: false });
  expect(res.status).toBe(502);
  expect((await json(res)).error).toEqual(expect.any(String));
});

test("an upstream failure over SSE is an error event then [DONE]", async () => {
  fake().enqueue({ httpError: { status: 500 } });
  const { res, events } = await sse({ message: "hi" });
  expect(res.status).toBe(200);
  expect(events.at(-2).type).toBe("error");
  expect(events.at(-1)).toBe("[DONE]");
});

test("reasoning models stream thinking events before tokens", async () => {
  fake().enqueue({ reasoning: "Let me think", text: "42" });
  const { events } = await sse({ message: "meaning of life?", agent_name: "Thinker" });
  const thinking = events.filter((e) => e.type === "thinking");
  expect(thinking.map((e) => e.data).join("")).toBe("Let me think");
  expect(events.indexOf(thinking[0])).toBeLessThan(events.findIndex((e) => e.type === "token"));
  expect(events.at(-2)).toMatchObject({ type: "done", data: "42", state: { current_agent_name: "Thinker" } });
});

test("agent_name picks the agent and the next turn keeps it through state", async () => {
  const first = await json(await postChat(server.url, { message: "hi", stream: false, agent_name: "Thinker" }));
  expect(first.state.current_agent_name).toBe("Thinker");
  expect(fake().requests[0].body.model).toBe("o4-mini");
  await postChat(server.url, { message: "again", stream: false, state: first.state });
  expect(fake().requests[1].body.model).toBe("o4-mini");
});

describe("attachments", () => {
  const png = Buffer.from("\x89PNG\r\n\x1a\nfake", "latin1").toString("base64");
  const pdf = Buffer.from("%PDF-1.4 fake").toString("base64");

  test("images and PDFs go upstream as input_image and input_file", async () => {
    const res = await postChat(server.url, {
      message: "What is this?",
      stream: false,
      attachments: [
        { mime_type: "image/png", data: png, name: "a.png" },
        { mime_type: "application/pdf", data: pdf, name: "doc.pdf" },
      ],
    });
    expect(res.status).toBe(200);
    const content = fake().requests[0].body.input.at(-1).content;
    expect(content).toEqual([
      { type: "input_text", text: "What is this?" },
      expect.objectContaining({ type: "input_image", image_url: `data:image/png;base64,${png}` }),
      expect.objectContaining({ type: "input_file", filename: "doc.pdf", file_data: `data:application/pdf;base64,${pdf}` }),
    ]);
  });

  test("bad base64 is a 400", async () => {
    const res = await postChat(server.url, { message: "x", attachments: [{ mime_type: "image/png", data: "not*base64!", name: "a.png" }] });
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatch(/not valid base64/);
  });

  test("an unsupported MIME type is a 415", async () => {
    const res = await postChat(server.url, { message: "x", attachments: [{ mime_type: "text/html", data: png, name: "a.html" }] });
    expect(res.status).toBe(415);
    expect((await json(res)).error).toMatch(/unsupported MIME type 'text\/html'/);
  });

  test("an attachment over 20 MB decoded is a 413", async () => {
    const big = "A".repeat(Math.ceil((21 * 1024 * 1024 * 4) / 3 / 4) * 4); // 21 MB once decoded
    const res = await postChat(server.url, { message: "x", attachments: [{ mime_type: "image/png", data: big, name: "big.png" }] });
    expect(res.status).toBe(413);
    expect((await json(res)).error).toMatch(/limit is 20\.0 MB per attachment/);
    expect(fake().requests).toHaveLength(0);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  test("too many attachments is a 413", async () => {
    const attachments = Array.from({ length: 11 }, () => ({ mime_type: "image/png", data: png, name: "a.png" }));
    const res = await postChat(server.url, { message: "x", attachments });
    expect(res.status).toBe(413);
  });
});
