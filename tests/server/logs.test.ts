/** Structured logs: one line per request (id, method, path, status, duration, agent), X-Request-Id, and no key ever logged. */
import { configureLogger, log } from "../../src/log";
import { formatLine } from "../../src/logPretty";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, openWs, postChat, serve, useFakeOpenAI } from "../helpers/project";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const KEY = "sk-live-SECRET-4f9a1c";
let server: RunningServer;
let lines: string[] = [];
const entries = () => lines.map((line) => JSON.parse(line));

beforeAll(async () => {
  process.env.KLISK_API_KEY = KEY;
  server = await serve(makeProject([{ name: "Assistant" }, { name: "Billing" }]));
  delete process.env.KLISK_API_KEY;
});
afterAll(() => server.close());
beforeEach(() => {
  lines = [];
  // Everything, down to trace, so a key leaking at any level would show.
  configureLogger({ level: "trace", destination: { write: (line: string) => void lines.push(line) } });
});
afterEach(() => configureLogger({ level: "silent" }));

const auth = { Authorization: `Bearer ${KEY}` };

test("one line per request with id, method, path, status, duration and agent; X-Request-Id is returned", async () => {
  const res = await postChat(server.url, { message: "hi", stream: false, agent_name: "Billing" }, auth);
  expect(res.status).toBe(200);
  const id = res.headers.get("x-request-id");
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  await waitFor(() => entries().some((e) => e.msg === "request"), 1000, "request line");
  const requestLines = entries().filter((e) => e.msg === "request");
  expect(requestLines).toHaveLength(1);
  expect(requestLines[0]).toMatchObject({ level: 30, reqId: id, method: "POST", path: "/api/chat", status: 200, agent: "Billing" });
  expect(typeof requestLines[0].durationMs).toBe("number");
});

test("a client's X-Request-Id is kept; one that could forge a line or header is replaced", async () => {
  const kept = await postChat(server.url, { message: "hi", stream: false }, { ...auth, "X-Request-Id": "edge-1234.abc" });
  expect(kept.headers.get("x-request-id")).toBe("edge-1234.abc");
  const replaced = await fetch(`${server.url}/health`, { headers: { "X-Request-Id": "x".repeat(200) } });
  expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  await waitFor(() => entries().filter((e) => e.msg === "request").length === 2, 1000, "two request lines");
  expect(entries().find((e) => e.path === "/api/chat").reqId).toBe("edge-1234.abc");
  // /health is polled by load balancers: logged at debug, not info.
  expect(entries().find((e) => e.path === "/health").level).toBe(20);
});

test("4xx and client aborts are logged with their status; the JSON 401 body is unchanged", async () => {
  const denied = await postChat(server.url, { message: "hi" }, { Authorization: "Bearer sk-wrong-SECRET-77" });
  expect(await json(denied)).toEqual({ error: "Invalid API key" });
  fake().enqueue({ hang: true });
  const controller = new AbortController();
  void fetch(`${server.url}/api/chat`, { method: "POST", headers: auth, body: '{"message":"long"}', signal: controller.signal }).catch(() => {});
  await fake().waitForRequests(1);
  controller.abort();
  await waitFor(() => entries().filter((e) => e.msg === "request").length === 2, 2000, "two request lines");
  const [first, second] = entries().filter((e) => e.msg === "request");
  expect(first).toMatchObject({ status: 401, path: "/api/chat" });
  expect(second).toMatchObject({ status: 200, aborted: true, agent: "Assistant" });
});

test("no key leaves a trace: Authorization, X-API-Key, ?key= (good and bad), at every level", async () => {
  await postChat(server.url, { message: "a", stream: false }, auth);
  await postChat(server.url, { message: "b", stream: false }, { "X-API-Key": KEY });
  await postChat(server.url, "{broken", auth);
  await postChat(server.url, { message: "c" }, { Authorization: "Bearer sk-wrong-SECRET-77" });
  const good = await openWs(server.url, { path: `/ws/chat?key=${KEY}` });
  good.send({ message: "d" });
  await good.until("done");
  good.close();
  const bad = await openWs(server.url, { path: "/ws/chat?key=sk-wrong-SECRET-77&x=1" });
  await bad.closed;
  await waitFor(() => entries().filter((e) => e.msg === "websocket").length === 2, 2000, "two websocket lines");
  const all = lines.join("");
  expect(all).not.toContain(KEY);
  expect(all).not.toContain("SECRET");
  expect(all).not.toContain("key=");
  const sockets = entries().filter((e) => e.msg === "websocket");
  expect(sockets.map((e) => [e.path, e.status, e.closeCode, e.turns])).toEqual([
    ["/ws/chat", 101, 1005, 1],
    ["/ws/chat", 101, 4001, 0],
  ]);
});

test("whatever a call site passes, key-like fields are redacted", () => {
  log.info({ key: KEY, apiKey: KEY, headers: { authorization: `Bearer ${KEY}`, "x-api-key": KEY }, req: { headers: { authorization: KEY } } }, "careless");
  expect(lines.join("")).not.toContain(KEY);
  expect(entries()[0].headers).toEqual({ authorization: "[redacted]", "x-api-key": "[redacted]" });
});

test("redaction ignores case, reaches three levels down, leaves other fields and the caller's objects alone", () => {
  const fields = { agent: "Billing", Authorization: KEY, upstream: { headers: { "X-API-Key": KEY, accept: "json" } }, list: [1, 2] };
  const before = structuredClone(fields);
  log.warn(fields, "careless");
  expect(lines.join("")).not.toContain(KEY);
  expect(entries()[0]).toMatchObject({
    agent: "Billing",
    Authorization: "[redacted]",
    upstream: { headers: { "X-API-Key": "[redacted]", accept: "json" } },
    list: [1, 2],
  });
  expect(fields).toEqual(before);
});

test("the terminal format is one short line with level, message and fields", () => {
  const line = formatLine(JSON.stringify({ level: 40, time: 0, pid: 1, msg: "Run aborted", reqId: "r1", reason: "Run cancelled" }));
  expect(line.replace(/\x1b\[[0-9;]*m/g, "")).toMatch(/^\d\d:\d\d:\d\d WARN  Run aborted reqId=r1 reason=Run cancelled\n$/);
});
