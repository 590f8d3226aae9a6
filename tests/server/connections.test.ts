/** Connection care: SSE `: ping` heartbeats while nothing else is sent, and backpressure to a reader that stops reading. */
import type http from "node:http";
import net from "node:net";
import { tool } from "../../src/index";
import { resolveServerLimits } from "../../src/server/limits";
import type { RunningServer } from "../../src/server/listen";
import { makeProject, parseSse, serve, useFakeOpenAI } from "../helpers/project";
import { bodyReader, sleep, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
let server: RunningServer;
/** Lets the test decide when the slow tool returns. */
let releaseTool: () => void = () => {};

beforeAll(async () => {
  const wait = tool({
    name: "wait",
    execute: () => new Promise((resolve) => (releaseTool = () => resolve("done waiting"))),
  });
  server = await serve(makeProject([{ name: "Assistant", tools: [wait] }], "limits:\n  sse_heartbeat_s: 0.05\n"));
});
afterAll(() => server.close());

test("heartbeats default to every 15 s", () => {
  expect(resolveServerLimits(makeProject([{ name: "A" }])).sseHeartbeatMs).toBe(15_000);
});

test("an SSE stream waiting on a slow tool carries ': ping' comments, which clients skip", async () => {
  fake().enqueue({ toolCalls: [{ name: "wait", arguments: {} }] }, { text: "All done" });
  const res = await fetch(`${server.url}/api/chat`, { method: "POST", body: '{"message":"wait"}' });
  const body = bodyReader(res);
  await body.until(/"type":"tool_call"[\s\S]*\n: ping\n\n/);
  releaseTool();
  const events = parseSse(await body.rest());
  expect(events.map((e) => (typeof e === "string" ? e : e.type))).toEqual(["tool_call", "tool_result", "token", "token", "done", "[DONE]"]);
});

test("a reader that stops reading is waited for: the server's buffer stays bounded, then the stream completes", async () => {
  // 8 MB of tokens: about twice what the loopback socket buffers hold here, so the server must see backpressure.
  const delta = "x".repeat(16 * 1024);
  fake().enqueue({ text: Array.from({ length: 500 }, () => delta) });
  let serverRes: http.ServerResponse | undefined;
  const capture = (_req: http.IncomingMessage, res: http.ServerResponse) => (serverRes = res);
  server.server.on("request", capture);

  const body = '{"message":"flood"}';
  const socket = net.connect(server.port, "127.0.0.1");
  socket.write(`POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  socket.pause();
  try {
    await waitFor(() => serverRes?.writableNeedDrain === true, 10_000, "server-side backpressure");
    const written = serverRes!.socket!.bytesWritten;
    await sleep(300);
    // Stalled, not buffering: next to nothing more went to the socket (4+ MB were ready upstream), and the
    // response holds its high-water mark and about one frame more (the mark is 16 KB on Node 20, 64 KB on 22+).
    const bound = serverRes!.writableHighWaterMark + 48 * 1024;
    expect(serverRes!.socket!.bytesWritten - written).toBeLessThan(bound);
    expect(serverRes!.writableLength).toBeLessThan(bound);
    expect(fake().requests[0].aborted).toBe(false);

    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (received += chunk));
    const ended = new Promise((resolve) => socket.on("end", resolve));
    socket.resume();
    await ended;
    expect(received.length).toBeGreaterThan(16 * 1024 * 500);
    expect(received).toContain("data: [DONE]\n\n");
  } finally {
    server.server.off("request", capture);
    socket.destroy();
  }
});
