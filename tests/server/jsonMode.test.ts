/**
 * JSON mode (stream:false) runs the same runner as SSE and WebSocket but asks the upstream for one plain
 * answer on both APIs, so a JSON client does not pay for parsing a token stream it never sees. An upstream
 * that streams anyway is still read. Tool turns, hand-offs and failures work the same.
 */
import { tool, z } from "../../src/index";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, postChat, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
let server: RunningServer;

beforeAll(async () => {
  process.env.FIREWORKS_API_KEY = "test";
  process.env.FIREWORKS_BASE_URL = fake().url;
  const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) });
  const project = makeProject([
    { name: "Responses", tools: [add], handoffs: ["Chat"] },
    { name: "Chat", model: "fireworks/llama-v3p1-8b", tools: [add] },
  ]);
  server = await serve(project);
});
afterAll(async () => {
  delete process.env.FIREWORKS_API_KEY;
  delete process.env.FIREWORKS_BASE_URL;
  await server.close();
});

test.each(["Responses", "Chat"])("%s: a tool turn then the answer, each upstream call plain (non-streamed)", async (agent) => {
  fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] }, { text: "It is 5." });
  const res = await postChat(server.url, { message: "2+3?", stream: false, agent_name: agent });
  expect(res.status).toBe(200);
  const body = await json(res);
  expect(body).toMatchObject({ response: "It is 5.", done: true, state: { current_agent_name: agent } });
  expect(fake().requests.map((r) => r.body.stream)).toEqual([false, false]);
  expect(fake().requests[0].body).not.toHaveProperty("stream_options");
  // The tool's output went back to the model on the second call.
  expect(JSON.stringify(fake().requests[1].body)).toContain('"5"');
});

test("a hand-off from a Responses agent to a Chat agent in JSON mode", async () => {
  fake().enqueue({ toolCalls: [{ name: "transfer_to_chat", arguments: {} }] }, { text: "Chat here." });
  const body = await json(await postChat(server.url, { message: "switch", stream: false }));
  expect(body).toMatchObject({ response: "Chat here.", state: { current_agent_name: "Chat" } });
  expect(fake().requests.map((r) => r.path)).toEqual(["/v1/responses", "/v1/chat/completions"]);
});

test("a failed response is a 502 with the provider's message", async () => {
  fake().enqueue({ fail: "model overloaded" });
  const res = await postChat(server.url, { message: "hi", stream: false });
  expect(res.status).toBe(502);
  expect((await json(res)).error).toContain("model overloaded");
});

test("streaming requests still stream from the upstream", async () => {
  const res = await postChat(server.url, { message: "hi" });
  await res.text();
  expect(fake().requests[0].body.stream).toBe(true);
});

test.each(["Responses", "Chat"])("%s: an upstream that streams although JSON mode asked for a plain answer is still read", async (agent) => {
  fake().enqueue({ alwaysStream: true, toolCalls: [{ name: "add", arguments: { a: 1, b: 1 } }] }, { alwaysStream: true, reasoning: "hmm", text: "It is 2." });
  const res = await postChat(server.url, { message: "1+1?", stream: false, agent_name: agent });
  expect(res.status).toBe(200);
  expect(await json(res)).toMatchObject({ response: "It is 2.", done: true, state: { current_agent_name: agent } });
  expect(fake().requests.map((r) => r.body.stream)).toEqual([false, false]);
});
