/** /ws/chat: auth (4001), per-connection state, clear/restore/cancel, ordering, and bad frames. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket from "ws";
import { tool, z } from "../../src/index";
import { loadApiKeys } from "../../src/server/auth";
import { createServerContext } from "../../src/server/context";
import { chatSocketServer } from "../../src/server/ws";
import type { Project } from "../../src/project/project";
import type { RunningServer } from "../../src/server/listen";
import { expectWsErrorFrameThenChat, makeProject, openWs, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
let project: Project;
let server: RunningServer;

beforeAll(async () => {
  const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });
  project = makeProject([{ name: "Assistant", tools: [add] }, { name: "Other" }]);
  server = await serve(project);
});
afterAll(() => server.close());

test("a message frame streams events as JSON frames ending with done (no [DONE])", async () => {
  fake().enqueue({ text: "Hello there!" });
  const client = await openWs(server.url);
  client.send({ message: "Hello!" });
  const frames = await client.until("done");
  expect(frames.filter((f) => f.type === "token").map((f) => f.data)).toEqual(["Hello", " there!"]);
  expect(frames.at(-1)).toMatchObject({ type: "done", data: "Hello there!", response_id: fake().requests[0].responseId });
  client.close();
  expect(await client.closed).toBe(1005);
});

test("the connection keeps the conversation state between turns", async () => {
  const client = await openWs(server.url);
  client.send({ message: "one" });
  await client.until("done");
  client.send({ message: "two" });
  const frames = await client.until("done");
  expect(frames.at(-1).data).toBe("Echo: two");
  expect(fake().requests[0].body.previous_response_id).toBeUndefined();
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  client.close();
});

test("clear drops the state; restore sets it", async () => {
  const client = await openWs(server.url);
  client.send({ message: "one" });
  await client.until("done");
  client.send({ type: "clear" });
  client.send({ message: "two" });
  await client.until("done");
  expect(fake().requests[1].body.previous_response_id).toBeUndefined();
  client.send({ type: "restore", previous_response_id: "resp_restored" });
  client.send({ message: "three" });
  await client.until("done");
  expect(fake().requests[2].body.previous_response_id).toBe("resp_restored");
  client.close();
});

test("previous_response_id and state on a message frame override the connection's state", async () => {
  const client = await openWs(server.url);
  client.send({ message: "one", previous_response_id: "resp_given" });
  await client.until("done");
  expect(fake().requests[0].body.previous_response_id).toBe("resp_given");
  client.send({ message: "two", state: { previous_response_id: "resp_state", current_agent_name: "Other" } });
  expect((await client.until("done")).at(-1).state.current_agent_name).toBe("Other");
  expect(fake().requests[1].body.previous_response_id).toBe("resp_state");
  client.close();
});

test("agent_name picks the agent and the connection keeps it", async () => {
  const client = await openWs(server.url);
  client.send({ message: "hi", agent_name: "Other" });
  expect((await client.until("done")).at(-1).state.current_agent_name).toBe("Other");
  client.send({ message: "again" });
  expect((await client.until("done")).at(-1).state.current_agent_name).toBe("Other");
  client.close();
});

test("turns run strictly in order: a message sent during a run waits for it", async () => {
  fake().enqueue({ text: "first answer", delayMs: 30 }, { text: "second answer" });
  const client = await openWs(server.url);
  client.send({ message: "first" });
  client.send({ message: "second" });
  const frames = [...(await client.until("done")), ...(await client.until("done"))];
  expect(frames.map((f) => (f.type === "token" ? f.data : f.type))).toEqual(["first", " answer", "done", "second", " answer", "done"]);
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  client.close();
});

test("tool calls and results arrive as frames", async () => {
  fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: 2, b: 3 }, callId: "call_1" }] }, { text: "5" });
  const client = await openWs(server.url);
  client.send({ message: "2+3?" });
  const frames = await client.until("done");
  expect(frames.find((f) => f.type === "tool_call").data).toMatchObject({ tool: "add", call_id: "call_1" });
  expect(frames.find((f) => f.type === "tool_result").data).toEqual({ output: "5", call_id: "call_1", tool: "add" });
  client.close();
});

test("cancel aborts the running turn with 'Run cancelled'; the connection stays usable", async () => {
  fake().enqueue({ hang: true });
  const client = await openWs(server.url);
  client.send({ message: "long" });
  await fake().waitForRequests(1);
  client.send({ type: "cancel" });
  const frames = await client.until(["error", "done"]);
  expect(frames.at(-1)).toEqual({ type: "error", data: "Run cancelled" });
  client.send({ message: "after" });
  expect((await client.until("done")).at(-1).data).toBe("Echo: after");
  client.close();
});

test("closing the socket aborts the upstream request", async () => {
  fake().enqueue({ hang: true });
  const client = await openWs(server.url);
  client.send({ message: "long" });
  await fake().waitForRequests(1);
  client.close();
  await client.closed;
  await waitFor(() => fake().requests[0].aborted);
});

const badFrames: Array<[string, string | object, RegExp]> = [
  ["non-JSON text", "hello?", /Malformed JSON frame/],
  ["a JSON array", "[1,2]", /must be a JSON object/],
  ["a JSON string", '"hi"', /must be a JSON object/],
  ["no message", { agent_name: "Assistant" }, /'message' is required/],
  ["a numeric message", { message: 7 }, /'message' must be a string/],
  ["an empty message", { message: "   " }, /must not be empty/],
  ["an unknown agent", { message: "hi", agent_name: "Ghost" }, /Unknown agent 'Ghost'. Available agents: Assistant, Other/],
  ["a numeric agent_name", { message: "hi", agent_name: 1 }, /'agent_name' must be a string/],
  ["a bad attachment", { message: "hi", attachments: [{ mime_type: "image/png", data: "@@@@" }] }, /not valid base64/],
  ["an unsupported attachment", { message: "hi", attachments: [{ mime_type: "text/html", data: "aGk=" }] }, /unsupported MIME type/],
  ["state as an array", { message: "hi", state: [] }, /'state' must be an object/],
  ["a numeric previous_response_id", { message: "hi", previous_response_id: 3 }, /'previous_response_id' must be a string/],
  ["an unknown type", { type: "dance" }, /Unknown frame type "dance"/],
  ["a numeric type", { type: 5 }, /'type' must be a string/],
  ["restore without an id", { type: "restore" }, /restore frame needs/],
];

test.each(badFrames)("%s gets an error frame and the connection stays open", async (_name, frame, message) => {
  await expectWsErrorFrameThenChat(server.url, frame, message);
  expect(fake().requests).toHaveLength(1); // only the follow-up chat reached the model
});

test("a binary frame gets an error frame", async () => {
  const client = await openWs(server.url);
  client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  expect(await client.next()).toEqual({ type: "error", data: expect.stringMatching(/Binary frames are not supported/) });
  client.close();
});

test("cancel and clear with nothing running send nothing back", async () => {
  const client = await openWs(server.url);
  client.send({ type: "cancel" });
  client.send({ type: "clear" });
  client.send({ message: "hi" });
  expect((await client.next()).type).toBe("token");
  client.close();
});

describe("auth", () => {
  let authed: RunningServer;
  const saved = process.env.KLISK_API_KEY;
  beforeAll(async () => {
    process.env.KLISK_API_KEY = "sk-ws";
    authed = await serve(project);
  });
  afterAll(async () => {
    await authed.close();
    if (saved === undefined) delete process.env.KLISK_API_KEY;
    else process.env.KLISK_API_KEY = saved;
  });

  test.each([
    ["a missing key", ""],
    ["a bad key", "?key=sk-wrong"],
  ])("%s gets auth_error and close code 4001", async (_name, query) => {
    const client = await openWs(authed.url, { path: `/ws/chat${query}` });
    expect(await client.next()).toEqual({ type: "auth_error", data: "Invalid API key" });
    expect(await client.closed).toBe(4001);
    expect(fake().requests).toHaveLength(0);
  });

  test("?key= authenticates", async () => {
    const client = await openWs(authed.url, { path: "/ws/chat?key=sk-ws" });
    client.send({ message: "hi" });
    expect((await client.until("done")).at(-1).data).toBe("Echo: hi");
    client.close();
  });

  test("an Authorization: Bearer header authenticates", async () => {
    const client = await openWs(authed.url, { headers: { Authorization: "Bearer sk-ws" } });
    client.send({ message: "hi" });
    expect((await client.until("done")).at(-1).data).toBe("Echo: hi");
    client.close();
  });
});

test("upgrades on other paths are refused with 404", async () => {
  await expect(openWs(server.url, { path: "/ws/other" })).rejects.toThrow(/404/);
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
});

test("a client that stops answering pings is dropped; one that answers stays", async () => {
  const sockets = chatSocketServer(createServerContext(project, { keys: loadApiKeys({}), signer: null }), { pingIntervalMs: 40 });
  const httpServer = http.createServer();
  httpServer.on("upgrade", sockets.handleUpgrade);
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/ws/chat`;
  try {
    const silent = new WebSocket(url, { autoPong: false });
    const healthy = new WebSocket(url);
    const silentClosed = new Promise<number>((resolve) => silent.on("close", resolve));
    expect(await silentClosed).toBe(1006); // terminated, no close frame
    expect(healthy.readyState).toBe(WebSocket.OPEN);
    healthy.close();
  } finally {
    await sockets.close();
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
