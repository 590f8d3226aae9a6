/** startServer: port conflicts, shutdown, client disconnects, limits, and the last-resort error mapping. */
import express from "express";
import net from "node:net";
import request from "supertest";
import { KliskError, RequestError } from "../../src/errors";
import { configureLogger } from "../../src/log";
import { errorHandler } from "../../src/server/errorHandler";
import { startServer } from "../../src/server/listen";
import { json, makeProject, openWs, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();

test("a port in use rejects with an EADDRINUSE KliskError and a clear message", async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const attempt = startServer(makeProject([{ name: "A" }]), { port, host: "127.0.0.1" });
    await expect(attempt).rejects.toBeInstanceOf(KliskError);
    await expect(attempt).rejects.toMatchObject({
      code: "EADDRINUSE",
      message: `Port ${port} is already in use. Stop the other process or pass --port <n>.`,
    });
  } finally {
    blocker.close();
  }
});

test("url shows localhost for a wildcard host", async () => {
  const server = await startServer(makeProject([{ name: "A" }]), { port: 0, host: "0.0.0.0" });
  try {
    expect(server.url).toBe(`http://localhost:${server.port}`);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  } finally {
    await server.close();
  }
});

test("an SSE client that disconnects aborts the upstream request", async () => {
  const server = await serve(makeProject([{ name: "A" }]));
  try {
    fake().enqueue({ hang: true });
    const controller = new AbortController();
    const pending = fetch(`${server.url}/api/chat`, { method: "POST", body: JSON.stringify({ message: "long" }), signal: controller.signal });
    await fake().waitForRequests(1);
    const response = await pending;
    expect(response.headers.get("content-type")).toMatch(/event-stream/);
    controller.abort();
    await waitFor(() => fake().requests[0].aborted);
    expect((await postChat(server.url, { message: "next", stream: false })).status).toBe(200);
  } finally {
    await server.close();
  }
});

test("close() ends running SSE streams with an error then [DONE], and closes WebSocket clients", async () => {
  const server = await serve(makeProject([{ name: "A" }]));
  fake().enqueue({ hang: true });
  const stream = postChat(server.url, { message: "long" }).then((r) => r.text());
  await fake().waitForRequests(1);
  const client = await openWs(server.url);
  await server.close();
  const events = parseSse(await stream);
  expect(events.at(-2)).toEqual({ type: "error", data: expect.any(String) });
  expect(events.at(-1)).toBe("[DONE]");
  expect(await client.closed).toBe(1001);
  await expect(fetch(`${server.url}/health`)).rejects.toThrow();
});

test("max_concurrent_runs answers 503 with Retry-After when full", async () => {
  const server = await serve(makeProject([{ name: "A" }], "limits:\n  max_concurrent_runs: 1\n"));
  try {
    fake().enqueue({ hang: true });
    const controller = new AbortController();
    const first = await fetch(`${server.url}/api/chat`, { method: "POST", body: '{"message":"long"}', signal: controller.signal });
    await fake().waitForRequests(1);
    const second = await postChat(server.url, { message: "another", stream: false });
    expect(second.status).toBe(503);
    expect(second.headers.get("retry-after")).toBe("1");
    expect((await json(second)).error).toMatch(/Too many runs/);
    controller.abort();
    void first;
  } finally {
    await server.close();
  }
});

test("a body over limits.max_body_mb is a 413", async () => {
  const server = await serve(makeProject([{ name: "A" }], "limits:\n  max_body_mb: 1\n"));
  try {
    const res = await postChat(server.url, { message: "x".repeat(2 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect((await json(res)).error).toMatch(/too large \(limit 1 MB\)/);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  } finally {
    await server.close();
  }
});

test("the error middleware maps RequestError, hides unexpected errors and logs them", async () => {
  const logged: string[] = [];
  configureLogger({ level: "error", destination: { write: (line: string) => void logged.push(line) } });
  const app = express();
  app.get("/teapot", () => { throw new RequestError(418, "short and stout"); });
  app.get("/bug", () => { throw new Error("secret internals"); });
  app.use(errorHandler());
  expect((await request(app).get("/teapot")).body).toEqual({ error: "short and stout" });
  const bug = await request(app).get("/bug");
  expect(bug.status).toBe(500);
  expect(bug.body).toEqual({ error: "Internal server error" });
  expect(JSON.stringify(bug.body)).not.toMatch(/secret/);
  expect(logged.join("\n")).toMatch(/secret internals/);
  configureLogger({ level: "silent" });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
