/**
 * Fault suite against the fake upstream, over real sockets: clients that leave mid-stream, cancels,
 * a tool that is running when the client goes, upstream failures (500, 429, cut, hang) and shutdown
 * with runs in flight. "Within a second" is a bound on waiting, not a timing measurement.
 */
import http from "node:http";
import { tool } from "../../src/index";
import { configureLogger } from "../../src/log";
import type { Project } from "../../src/project/project";
import { startServer, type RunningServer } from "../../src/server/listen";
import { json, makeProject, openWs, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";
import { readUntil, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
let project: Project;
let server: RunningServer;
/** The ctx.signal of each call of the slow tool, to see it aborted. */
const toolSignals: AbortSignal[] = [];
const LONG_TEXT = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");

beforeAll(async () => {
  const slow = tool({
    name: "slow",
    description: "Waits until it is aborted.",
    execute: (_args, ctx) =>
      new Promise((resolve) => {
        toolSignals.push(ctx.signal);
        ctx.signal.addEventListener("abort", () => resolve("stopped"), { once: true });
      }),
  });
  project = makeProject([{ name: "Assistant", tools: [slow] }], "limits:\n  run_timeout_s: 0.5\n");
  server = await serve(project);
});
afterAll(() => server.close());
beforeEach(() => {
  toolSignals.length = 0;
});

const withinASecond = (condition: () => boolean, what: string) => waitFor(condition, 1000, what);

async function startSse(message: string): Promise<{ res: Response; controller: AbortController }> {
  const controller = new AbortController();
  const res = await fetch(`${server.url}/api/chat`, { method: "POST", body: JSON.stringify({ message }), signal: controller.signal });
  return { res, controller };
}

async function stillServes(): Promise<void> {
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
  const ok = await postChat(server.url, { message: "still there?", stream: false });
  expect((await json(ok)).response).toBe("Echo: still there?");
}

describe("cancellation", () => {
  test("an SSE client that disconnects mid-stream aborts the upstream request within a second", async () => {
    fake().enqueue({ text: LONG_TEXT, delayMs: 20 });
    const { res, controller } = await startSse("tell me everything");
    await readUntil(res, /"type":"token"/);
    controller.abort();
    await withinASecond(() => fake().requests[0].aborted, "upstream abort");
    await stillServes();
  });

  test("a JSON-mode client that disconnects aborts the upstream request within a second", async () => {
    fake().enqueue({ hang: true });
    const controller = new AbortController();
    const pending = fetch(`${server.url}/api/chat`, { method: "POST", body: '{"message":"x","stream":false}', signal: controller.signal });
    await fake().waitForRequests(1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await withinASecond(() => fake().requests[0].aborted, "upstream abort");
    await stillServes();
  });

  test("a WebSocket that closes mid-stream aborts the upstream request within a second", async () => {
    fake().enqueue({ text: LONG_TEXT, delayMs: 20 });
    const client = await openWs(server.url);
    client.send({ message: "long" });
    expect((await client.next()).type).toBe("token");
    client.close();
    await withinASecond(() => fake().requests[0].aborted, "upstream abort");
  });

  test("WS cancel: upstream aborted, error frame 'Run cancelled', the socket serves the next turn", async () => {
    fake().enqueue({ text: LONG_TEXT, delayMs: 20 });
    const client = await openWs(server.url);
    client.send({ message: "long" });
    expect((await client.next()).type).toBe("token");
    client.send({ type: "cancel" });
    expect((await client.until(["error", "done"])).at(-1)).toEqual({ type: "error", data: "Run cancelled" });
    await withinASecond(() => fake().requests[0].aborted, "upstream abort");
    client.send({ message: "next" });
    expect((await client.until("done")).at(-1).data).toBe("Echo: next");
    client.close();
  });

  test("WS cancel during a slow tool aborts ctx.signal with the cancel reason", async () => {
    fake().enqueue({ toolCalls: [{ name: "slow", arguments: {} }] });
    const client = await openWs(server.url);
    client.send({ message: "use the slow tool" });
    expect((await client.until("tool_call")).at(-1).data.tool).toBe("slow");
    await waitFor(() => toolSignals.length === 1, 1000, "tool started");
    client.send({ type: "cancel" });
    await withinASecond(() => toolSignals[0].aborted, "tool signal");
    expect((toolSignals[0].reason as Error).message).toBe("Run cancelled");
    expect((await client.until(["error", "done"])).at(-1)).toEqual({ type: "error", data: "Run cancelled" });
    client.send({ message: "after" });
    expect((await client.until("done")).at(-1).data).toBe("Echo: after");
    client.close();
  });

  test("an SSE client leaving during a slow tool aborts ctx.signal", async () => {
    fake().enqueue({ toolCalls: [{ name: "slow", arguments: {} }] });
    const { res, controller } = await startSse("use the slow tool");
    await readUntil(res, /"type":"tool_call"/);
    await waitFor(() => toolSignals.length === 1, 1000, "tool started");
    controller.abort();
    await withinASecond(() => toolSignals[0].aborted, "tool signal");
    expect(fake().requests).toHaveLength(1); // the model is not called again with the tool's output
    await stillServes();
  });

  test("aborts are logged at info with their reason, not as errors", async () => {
    const lines: string[] = [];
    configureLogger({ level: "info", destination: { write: (line: string) => void lines.push(line) } });
    try {
      fake().enqueue({ hang: true });
      const client = await openWs(server.url);
      client.send({ message: "long" });
      await fake().waitForRequests(1);
      client.send({ type: "cancel" });
      await client.until("error");
      fake().enqueue({ hang: true });
      const { controller } = await startSse("long");
      await fake().waitForRequests(2);
      controller.abort();
      await waitFor(() => lines.filter((l) => l.includes('"Run aborted"')).length === 2, 2000, "two abort lines");
      client.close();
    } finally {
      configureLogger({ level: "silent" });
    }
    const aborts = lines.map((l) => JSON.parse(l)).filter((e) => e.msg === "Run aborted");
    expect(aborts.map((e) => [e.level, e.transport, e.reason])).toEqual([
      [30, "ws", "Run cancelled"],
      [30, "sse", "Client disconnected"],
    ]);
    expect(lines.map((l) => JSON.parse(l)).filter((e) => e.level >= 50)).toEqual([]);
  });
});

describe("upstream failures", () => {
  test.each([
    ["a 500", { httpError: { status: 500, message: "upstream broke" } }],
    ["a 429", { httpError: { status: 429, message: "Rate limit reached", headers: { "retry-after": "0" } } }],
    ["a cut connection", { text: "partial answer", cut: true }],
    ["a hang past run_timeout_s", { hang: true }],
  ])("%s: SSE ends with an error event then [DONE]; JSON answers 502; the server keeps serving", async (_name, turn) => {
    fake().enqueue(turn, turn);
    const events = parseSse(await (await postChat(server.url, { message: "hi" })).text());
    expect(events.at(-2)).toEqual({ type: "error", data: expect.any(String) });
    expect(events.at(-1)).toBe("[DONE]");
    const res = await postChat(server.url, { message: "hi", stream: false });
    expect(res.status).toBe(502);
    expect(await json(res)).toEqual({ error: expect.any(String) });
    await stillServes();
  });

  test("a hang is ended by the run timeout, which aborts the upstream request", async () => {
    fake().enqueue({ hang: true });
    const res = await postChat(server.url, { message: "hi", stream: false });
    expect(await json(res)).toEqual({ error: "The run timed out after 0.5 s" });
    await withinASecond(() => fake().requests[0].aborted, "upstream abort");
  });
});

describe("shutdown with runs in flight", () => {
  // No short run timeout here: only the shutdown may end these runs.
  const drainProject = () => makeProject([{ name: "Assistant" }]);

  test("runs finish within the timeout, /health says draining, the rest end with 'Server shutting down', WS closes 1001", async () => {
    const drainServer = await startServer(drainProject(), { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 1500 });
    const { url } = drainServer;
    // "quick" finishes during the drain; "stuck" never does and must be aborted at the timeout.
    fake().onRequest = (body) => (JSON.stringify(body.input).includes("stuck") ? { hang: true } : { text: "finished in time", delayMs: 30 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const stuck = postChat(url, { message: "stuck" }).then((r) => r.text());
    const quick = httpPost(agent, `${url}/api/chat`, '{"message":"quick"}');
    await fake().waitForRequests(2);
    const client = await openWs(url);

    const closed = drainServer.close();
    const quickEvents = parseSse((await quick).body);
    expect(quickEvents.at(-2)).toMatchObject({ type: "done", data: "finished in time" });
    // The same keep-alive connection, reused after its stream ended, sees the drain.
    const health = await httpGet(agent, `${url}/health`);
    expect([health.status, JSON.parse(health.body)]).toEqual([503, { status: "draining" }]);
    // A new connection too: the listener stays open while runs drain, so load balancers see the 503.
    const fresh = await fetch(`${url}/health`);
    expect([fresh.status, await fresh.json()]).toEqual([503, { status: "draining" }]);

    const stuckEvents = parseSse(await stuck);
    expect(stuckEvents.slice(-2)).toEqual([{ type: "error", data: "Server shutting down" }, "[DONE]"]);
    expect(await client.closed).toBe(1001);
    await closed;
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    agent.destroy();
  });

  test("a JSON-mode run still going at the timeout answers 503 'Server shutting down'", async () => {
    const drainServer = await startServer(drainProject(), { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 200 });
    fake().enqueue({ hang: true });
    const pending = postChat(drainServer.url, { message: "long", stream: false });
    await fake().waitForRequests(1);
    const closed = drainServer.close();
    const res = await pending;
    expect([res.status, await json(res)]).toEqual([503, { error: "Server shutting down" }]);
    await withinASecond(() => fake().requests[0].aborted, "upstream abort");
    await closed;
  });

  test("a WebSocket turn in flight at the timeout gets an error frame 'Server shutting down', then 1001", async () => {
    const drainServer = await startServer(drainProject(), { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 200 });
    fake().enqueue({ hang: true });
    const client = await openWs(drainServer.url);
    client.send({ message: "long" });
    await fake().waitForRequests(1);
    const closed = drainServer.close();
    expect(await client.next()).toEqual({ type: "error", data: "Server shutting down" });
    expect(await client.closed).toBe(1001);
    await closed;
  });
});

function httpPost(agent: http.Agent, url: string, body: string): Promise<{ status: number; body: string }> {
  return httpRequest(agent, url, "POST", body);
}

function httpGet(agent: http.Agent, url: string): Promise<{ status: number; body: string }> {
  return httpRequest(agent, url, "GET");
}

function httpRequest(agent: http.Agent, url: string, method: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body ? { "Content-Type": "application/json" } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
