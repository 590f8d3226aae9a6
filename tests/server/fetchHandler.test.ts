/**
 * klisk/fetch: the API as `(request: Request) => Promise<Response>`, driven with Node's own Request and
 * Response (no listening socket for the handler; the model is the loopback fake). Where the answer must
 * be the Express routes' own, it is compared with a real `klisk serve` server.
 */
import zlib from "node:zlib";
import { configureLogger } from "../../src/log";
import { createFetchHandler, type FetchHandler } from "../../src/fetch";
import { loadApiKeys } from "../../src/server/auth";
import { json, makeProject, parseSse, serve, useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { bodyReader, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const BASE = "http://klisk.test";
const handlers: FetchHandler[] = [];

/** A handler over a one-agent project with this klisk.config.yaml; closed after the file. */
async function handlerFor(config = "", options: Parameters<typeof createFetchHandler>[1] = {}): Promise<FetchHandler> {
  const handler = await createFetchHandler(makeProject([{ name: "Assistant" }], config), options);
  handlers.push(handler);
  return handler;
}
afterAll(() => Promise.all(handlers.map((h) => h.close(200))));

function get(handler: FetchHandler, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return handler(new Request(`${BASE}${path}`, { headers }));
}

function chat(handler: FetchHandler, body: unknown, init: { headers?: Record<string, string>; signal?: AbortSignal; path?: string } = {}): Promise<Response> {
  return handler(
    new Request(`${BASE}${init.path ?? "/api/chat"}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...init.headers },
      body: typeof body === "string" ? body : body instanceof Uint8Array ? new Uint8Array(body) : JSON.stringify(body),
      signal: init.signal,
    }),
  );
}

/** A request body that arrives as a stream (no Content-Length), chunk by chunk; `end: false` never ends it. */
function streamedBody(chunks: string[], end = true): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      if (end) controller.close();
    },
  });
}

function postStream(handler: FetchHandler, body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Promise<Response> {
  return handler(new Request(`${BASE}/api/chat`, { method: "POST", headers, body, duplex: "half" } as RequestInit));
}

describe("the routes", () => {
  let handler: FetchHandler;
  beforeAll(async () => {
    handler = await handlerFor();
  });

  test("GET /health is ok; HEAD answers the same without a body", async () => {
    const res = await get(handler, "/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await json(res)).toEqual({ status: "ok" });
    const head = await handler(new Request(`${BASE}/health`, { method: "HEAD" }));
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String('{"status":"ok"}'.length));
    expect(await head.text()).toBe("");
  });

  test("GET /api/info is the Express router's body", async () => {
    const project = makeProject([{ name: "Assistant" }, { name: "Billing" }]);
    const fetchHandler = await createFetchHandler(project);
    handlers.push(fetchHandler);
    const server = await serve(project);
    try {
      const expressInfo = await json(await fetch(`${server.url}/api/info`));
      const info = await json(await get(fetchHandler, "/api/info"));
      // The router also lists its endpoints; the fetch handler serves /api/chat only.
      const { endpoints, ...shared } = expressInfo;
      expect(endpoints.chat).toBe("/api/chat");
      expect(info).toEqual(shared);
      expect(info).toMatchObject({ agent: "Assistant", auth_required: false, agents: [{ name: "Assistant" }, { name: "Billing" }] });
    } finally {
      await server.close();
    }
  });

  test("an unknown route, or a known path with another method, is the JSON 404", async () => {
    const res = await get(handler, "/nope?key=secret");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: "Not found: GET /nope" });
    expect(await json(await get(handler, "/api/chat"))).toEqual({ error: "Not found: GET /api/chat" });
  });

  test("X-Request-Id is echoed when it looks like an id, else generated", async () => {
    expect((await get(handler, "/health", { "X-Request-Id": "edge-1234.abc" })).headers.get("x-request-id")).toBe("edge-1234.abc");
    expect((await get(handler, "/health", { "X-Request-Id": "x".repeat(200) })).headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("stream:false answers {response, state, done, usage}", async () => {
    fake().enqueue({ text: "2 + 2 equals 4." });
    const res = await chat(handler, { message: "What is 2+2?", stream: false });
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

  test("stream defaults to SSE: the sse.ts headers, token frames, done, then [DONE]", async () => {
    fake().enqueue({ text: "Once upon a time" });
    const res = await chat(handler, { message: "Tell me a story" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const text = await res.text();
    expect(text).toContain('data: {"type":"token","data":"Once"}\n\n');
    const events = parseSse(text);
    expect(events.filter((e) => e.type === "token").map((e) => e.data)).toEqual(["Once", " upon", " a", " time"]);
    expect(events.at(-2)).toMatchObject({ type: "done", data: "Once upon a time", response_id: fake().requests[0].responseId });
    expect(events.at(-1)).toBe("[DONE]");
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  test("multi-turn: the returned state continues the conversation (JSON, then SSE)", async () => {
    const first = await json(await chat(handler, { message: "My name is Ada", stream: false }));
    const second = await chat(handler, { message: "What is my name?", state: first.state });
    const done = parseSse(await second.text()).find((e) => e.type === "done");
    expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
    expect(done).toMatchObject({ data: "Echo: What is my name?", state: { previous_response_id: fake().requests[1].responseId } });
  });

  test("validation errors are parseChatRequest's 400s; bad JSON and an empty body too", async () => {
    const notString = await chat(handler, { message: 5, stream: false });
    expect(notString.status).toBe(400);
    expect(await json(notString)).toEqual({ error: "'message' must be a string" });
    expect(await json(await chat(handler, ""))).toEqual({ error: "'message' is required" });
    const malformed = await chat(handler, '{"message": ');
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).error).toMatch(/^Malformed JSON body: /);
    const agent = await chat(handler, { message: "hi", agent_name: "Nobody" });
    expect(agent.status).toBe(400);
    expect(await json(agent)).toEqual({ error: "Unknown agent 'Nobody'. Available agents: Assistant" });
    expect(fake().requests).toHaveLength(0);
  });

  test("an upstream failure in JSON mode is a 502", async () => {
    fake().enqueue({ httpError: { status: 500, message: "upstream broke" } });
    const res = await chat(handler, { message: "hi", stream: false });
    expect(res.status).toBe(502);
    expect((await json(res)).error).toEqual(expect.any(String));
  });

  test("one log line per request, written when an SSE stream ends", async () => {
    const lines: any[] = [];
    configureLogger({ level: "debug", destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    try {
      const res = await chat(handler, { message: "hi" }, { headers: { "X-Request-Id": "sse-1" } });
      expect(lines.filter((l) => l.msg === "request")).toHaveLength(0); // the stream has not ended yet
      await res.text();
      await get(handler, "/health");
      const requests = lines.filter((l) => l.msg === "request");
      expect(requests).toHaveLength(2);
      expect(requests[0]).toMatchObject({ level: 30, reqId: "sse-1", method: "POST", path: "/api/chat", status: 200, agent: "Assistant" });
      expect(requests[0].aborted).toBeUndefined();
      expect(requests[1]).toMatchObject({ level: 20, path: "/health", status: 200 });
    } finally {
      configureLogger({ level: "silent" });
    }
  });
});

describe("request bodies", () => {
  let handler: FetchHandler;
  beforeAll(async () => {
    // About 50 KB.
    handler = await handlerFor("limits:\n  max_body_mb: 0.05\n  body_timeout_s: 0.2\n");
  });

  test("an announced Content-Length over the limit is a 413, and the body is not read", async () => {
    let pulled = false;
    const body = new ReadableStream<Uint8Array>({ pull: () => void (pulled = true) }, { highWaterMark: 0 });
    const res = await postStream(handler, body, { "Content-Length": String(100_000) });
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({ error: "Request body is too large (limit 0.1 MB)" });
    expect(pulled).toBe(false);
  });

  test("a body without a Content-Length is counted as it arrives: 413 at the limit", async () => {
    const res = await postStream(handler, streamedBody(['{"message":"', "a".repeat(30_000), "a".repeat(30_000), '"}']));
    expect(res.status).toBe(413);
  });

  test("gzip and deflate bodies are decompressed; a gzip bomb stops at the limit; brotli is a 415", async () => {
    const payload = JSON.stringify({ message: "zipped", stream: false });
    const gzip = await chat(handler, zlib.gzipSync(payload), { headers: { "Content-Encoding": "gzip" } });
    expect(await json(gzip)).toMatchObject({ response: "Echo: zipped" });
    const deflate = await chat(handler, zlib.deflateSync(payload), { headers: { "Content-Encoding": "deflate" } });
    expect(await json(deflate)).toMatchObject({ response: "Echo: zipped" });

    const bomb = zlib.gzipSync(JSON.stringify({ message: "a".repeat(5_000_000) }));
    expect(bomb.length).toBeLessThan(50 * 1024);
    const bombed = await chat(handler, bomb, { headers: { "Content-Encoding": "gzip" } });
    expect(bombed.status).toBe(413);

    const broken = await chat(handler, new Uint8Array([1, 2, 3, 4]), { headers: { "Content-Encoding": "gzip" } });
    expect(broken.status).toBe(400);
    expect((await json(broken)).error).toMatch(/^Unreadable gzip body: /);

    const br = await chat(handler, zlib.brotliCompressSync(payload), { headers: { "Content-Encoding": "br" } });
    expect(br.status).toBe(415);
    expect(await json(br)).toEqual({ error: 'unsupported content encoding "br"' });
  });

  test("a charset other than UTF-8 is a 415", async () => {
    const res = await chat(handler, { message: "hi" }, { headers: { "Content-Type": "application/json; charset=latin1" } });
    expect(res.status).toBe(415);
    expect(await json(res)).toEqual({ error: 'unsupported charset "LATIN1"' });
  });

  test("a body that does not finish in limits.body_timeout_s is a 408, and its bytes are released", async () => {
    const res = await postStream(handler, streamedBody(['{"message":'], false));
    expect(res.status).toBe(408);
    expect(await json(res)).toEqual({ error: "The request body took longer than 0.2 s to arrive (limits.body_timeout_s)" });
    expect(handler.context.pendingBodies.bytes).toBe(0);
  });
});

describe("auth, CORS and the rate limit", () => {
  test("with keys, chat needs one (401 with WWW-Authenticate: Bearer); health and info do not", async () => {
    const handler = await handlerFor("", { keys: loadApiKeys({ KLISK_API_KEY: "sk-one,sk-two" }) });
    const refused = await chat(handler, { message: "hi", stream: false });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe("Bearer");
    expect(await json(refused)).toEqual({ error: "Invalid API key" });
    expect((await chat(handler, { message: "hi", stream: false }, { headers: { Authorization: "Bearer sk-wrong" } })).status).toBe(401);
    expect(fake().requests).toHaveLength(0);

    const bearer = await chat(handler, { message: "hi", stream: false }, { headers: { Authorization: "Bearer sk-two" } });
    expect(await json(bearer)).toMatchObject({ response: "Echo: hi" });
    expect((await chat(handler, { message: "hi", stream: false }, { headers: { "X-API-Key": "sk-one" } })).status).toBe(200);
    expect((await get(handler, "/health")).status).toBe(200);
    expect(await json(await get(handler, "/api/info"))).toMatchObject({ auth_required: true });
  });

  test("listed origins: preflight answered, a refused Origin is a 403, the own host passes", async () => {
    const handler = await handlerFor('deploy:\n  api:\n    cors_origins: ["https://shop.example"]\n');
    const preflight = await handler(
      new Request(`${BASE}/api/chat`, {
        method: "OPTIONS",
        headers: { Origin: "https://shop.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" },
      }),
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://shop.example");
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET,POST,OPTIONS");
    expect(preflight.headers.get("access-control-allow-headers")).toBe("authorization,content-type");
    expect(preflight.headers.get("access-control-max-age")).toBe("600");
    expect(preflight.headers.get("vary")).toBe("Origin, Access-Control-Request-Headers");

    const allowed = await chat(handler, { message: "hi", stream: false }, { headers: { Origin: "https://shop.example" } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://shop.example");

    const refused = await chat(handler, { message: "hi", stream: false }, { headers: { Origin: "https://evil.example" } });
    expect(refused.status).toBe(403);
    expect(await json(refused)).toEqual({ error: "Origin not allowed: https://evil.example" });
    const refusedPreflight = await handler(new Request(`${BASE}/api/chat`, { method: "OPTIONS", headers: { Origin: "https://evil.example" } }));
    expect(refusedPreflight.status).toBe(403);

    // The chat page calling its own server: Origin's host is the request's host.
    expect((await get(handler, "/health", { Origin: BASE })).status).toBe(200);
  });

  test("by default any origin is allowed", async () => {
    const handler = await handlerFor();
    const res = await get(handler, "/api/info", { Origin: "https://anywhere.example" });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const preflight = await handler(new Request(`${BASE}/api/chat`, { method: "OPTIONS", headers: { Origin: "https://anywhere.example" } }));
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
  });

  test("limits.rate_limit: a budget per clientAddress; 429 with Retry-After and RateLimit-* headers as over Express", async () => {
    const handler = await handlerFor("limits:\n  rate_limit:\n    window_s: 60\n    max: 2\n", {
      clientAddress: (request) => request.headers.get("x-test-client") ?? undefined,
    });
    const from = (client: string) => chat(handler, { message: "hi", stream: false }, { headers: { "X-Test-Client": client } });
    const first = await from("10.0.0.1");
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-policy")).toBe("2;w=60");
    expect(first.headers.get("ratelimit-limit")).toBe("2");
    expect(first.headers.get("ratelimit-remaining")).toBe("1");
    expect((await from("10.0.0.1")).status).toBe(200);
    const limited = await from("10.0.0.1");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    expect(limited.headers.get("ratelimit-reset")).toMatch(/^\d+$/);
    expect((await json(limited)).error).toMatch(/^Too many requests: at most 2 per 60 s; retry in \d+ s$/);
    expect((await from("10.0.0.2")).status).toBe(200);
  });

  test("limits.rate_limit without clientAddress: every client shares the one 'unknown' budget", async () => {
    const handler = await handlerFor("limits:\n  rate_limit:\n    window_s: 60\n    max: 1\n");
    expect((await chat(handler, { message: "hi", stream: false })).status).toBe(200);
    expect((await chat(handler, { message: "hi", stream: false }, { headers: { "X-Forwarded-For": "10.9.9.9" } })).status).toBe(429);
  });
});

describe("runs: the slot, the client going away, shutdown", () => {
  test("limits.max_concurrent_runs: a second run is a 503 busy; a client cancelling mid-stream frees the slot", async () => {
    const handler = await handlerFor("limits:\n  max_concurrent_runs: 1\n");
    fake().enqueue({ text: Array.from({ length: 50 }, (_, i) => `w${i} `), delayMs: 50 });
    const res = await chat(handler, { message: "long" });
    const body = bodyReader(res);
    await body.until(/"type":"token"/);

    const busy = await chat(handler, { message: "meanwhile", stream: false });
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(await json(busy)).toEqual({ error: "Too many runs in progress; try again shortly" });

    body.release();
    await res.body!.cancel();
    await waitFor(() => handler.context.runs.size === 0, 5000, "the run slot freed");
    await waitFor(() => fake().requests[0].aborted, 5000, "the upstream request aborted");
    const next = await chat(handler, { message: "again", stream: false });
    expect(next.status).toBe(200);
    expect(await json(next)).toMatchObject({ response: "Echo: again" });
  });

  test("request.signal aborting mid-stream ends the stream with the reason and frees the slot", async () => {
    const handler = await handlerFor("limits:\n  max_concurrent_runs: 1\n");
    fake().enqueue({ text: Array.from({ length: 50 }, (_, i) => `w${i} `), delayMs: 50 });
    const client = new AbortController();
    const res = await chat(handler, { message: "long" }, { signal: client.signal });
    const body = bodyReader(res);
    await body.until(/"type":"token"/);
    client.abort();
    const events = parseSse(await body.rest());
    expect(events.slice(-2)).toEqual([{ type: "error", data: "Client disconnected" }, "[DONE]"]);
    await waitFor(() => handler.context.runs.size === 0, 5000, "the run slot freed");
    expect((await chat(handler, { message: "again", stream: false })).status).toBe(200);
  });

  test("JSON mode: the client going away aborts the run", async () => {
    const handler = await handlerFor();
    fake().enqueue({ hang: true });
    const client = new AbortController();
    const answer = chat(handler, { message: "long", stream: false }, { signal: client.signal });
    await fake().waitForRequests(1);
    client.abort();
    const res = await answer;
    expect(res.status).toBe(503);
    expect(await json(res)).toEqual({ error: "Client disconnected" });
    expect(handler.context.runs.size).toBe(0);
  });

  test("': ping' heartbeats while the run is silent", async () => {
    const handler = await handlerFor("limits:\n  sse_heartbeat_s: 0.05\n");
    fake().enqueue({ hang: true });
    const res = await chat(handler, { message: "wait" });
    const body = bodyReader(res);
    expect(await body.until(/: ping\n\n: ping\n\n/)).toMatch(/^: ping\n\n/);
    body.release();
    await res.body!.cancel();
    await waitFor(() => handler.context.runs.size === 0, 5000, "the run slot freed");
  });

  test("a reader that stops reading is backpressure: the run waits, then loses its run after write_stall_s", async () => {
    const handler = await handlerFor("limits:\n  write_stall_s: 0.3\n");
    const delta = "x".repeat(4096);
    fake().enqueue({ text: Array.from({ length: 400 }, () => delta) });
    const res = await chat(handler, { message: "flood" });
    const reader = res.body!.getReader();
    await reader.read();
    await waitFor(() => handler.context.runs.size === 0, 5000, "the stalled run ended");
    // What the stream held was bounded (16 KB and a frame), not the 1.6 MB the model had ready.
    let held = 0;
    await expect(
      (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          held += value.byteLength;
        }
      })(),
    ).rejects.toThrow("Client stopped reading the response");
    expect(held).toBeLessThan(64 * 1024);
  });

  test("the run deadline ends a stream whose reader is behind, with the timeout as the last event", async () => {
    const handler = await handlerFor("limits:\n  run_timeout_s: 0.3\n");
    const delta = "x".repeat(4096);
    fake().enqueue({ text: Array.from({ length: 400 }, () => delta) });
    const res = await chat(handler, { message: "flood" });
    const body = bodyReader(res);
    await body.until(/"type":"token"/);
    await waitFor(() => handler.context.runs.size === 0, 5000, "the run ended at its deadline");
    const events = parseSse(await body.rest());
    expect(events.slice(-2)).toEqual([{ type: "error", data: "The run timed out after 0.3 s" }, "[DONE]"]);
  });

  test("close() drains: new work is a 503, a running stream ends with 'Server shutting down'", async () => {
    const handler = await handlerFor();
    fake().enqueue({ hang: true });
    const res = await chat(handler, { message: "long" });
    const text = res.text();
    await fake().waitForRequests(1);
    const closed = handler.close(100);
    const health = await get(handler, "/health");
    expect(health.status).toBe(503);
    expect(health.headers.get("retry-after")).toBe("5");
    expect(await json(health)).toEqual({ status: "draining" });
    expect(await json(await chat(handler, { message: "hi", stream: false }))).toEqual({ error: "Server shutting down" });
    await closed;
    expect(parseSse(await text).slice(-2)).toEqual([{ type: "error", data: "Server shutting down" }, "[DONE]"]);
  });
});

test("a Next.js route file (app/api/agent/[...path]/route.ts) over a project directory", async () => {
  const dir = writeProjectDir({ config: "name: from-dir\n", entry: 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Dir" });\n' });
  // What the route file holds: `const handler = await createFetchHandler(...); export const GET = handler; ...`
  const handler = await createFetchHandler(dir, { prefix: "/api/agent" });
  handlers.push(handler);
  const route = { GET: handler, POST: handler, OPTIONS: handler };

  expect(await json(await route.GET(new Request(`${BASE}/api/agent/health`)))).toEqual({ status: "ok" });
  expect(await json(await route.GET(new Request(`${BASE}/api/agent/api/info`)))).toMatchObject({ name: "from-dir", agent: "Dir" });
  const answer = await chat(route.POST, { message: "hi", stream: false }, { path: "/api/agent/api/chat" });
  expect(await json(answer)).toMatchObject({ response: "Echo: hi", state: { current_agent_name: "Dir" } });
  const streamed = parseSse(await (await chat(route.POST, { message: "hi" }, { path: "/API/Agent/api/chat/" })).text());
  expect(streamed.at(-2)).toMatchObject({ type: "done", data: "Echo: hi" });
  expect((await route.OPTIONS(new Request(`${BASE}/api/agent/api/chat`, { method: "OPTIONS" }))).status).toBe(204);

  // Paths outside the mount are not klisk's.
  const outside = await route.GET(new Request(`${BASE}/api/agentx/health`));
  expect(outside.status).toBe(404);
  expect(await json(outside)).toEqual({ error: "Not found: GET /api/agentx/health" });
  expect((await route.GET(new Request(`${BASE}/health`))).status).toBe(404);
});
