/**
 * Attacks on the HTTP side (issue "Hardening II"): readers that stop reading, bodies that never finish or
 * inflate without end, malformed HTTP, cross-origin requests under a cors_origins list. Each is bounded and
 * the server keeps serving.
 */
import net from "node:net";
import zlib from "node:zlib";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, postChat, serve, useFakeOpenAI, waitForFreeRunSlot } from "../helpers/project";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();

async function withServer(configYaml: string, fn: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await serve(makeProject([{ name: "Assistant" }], configYaml));
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** A raw connection: writes what it is given, collects what comes back, and says when the server closed it. */
function rawClient(server: RunningServer) {
  const socket = net.connect(server.port, "127.0.0.1");
  let received = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => (received += chunk));
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  return {
    socket,
    received: () => received,
    closed,
    /** Status and parsed JSON body of the first response (waits until it is complete). */
    async response(timeoutMs = 5000): Promise<{ status: number; body: any; head: string }> {
      await waitFor(() => /\r\n\r\n/.test(received) && bodyComplete(received), timeoutMs, "a response");
      const [head, body] = received.split("\r\n\r\n");
      return { status: Number(head.split(" ")[1]), body: JSON.parse(body.slice(0, Number(/content-length: (\d+)/i.exec(head)![1]))), head };
    },
  };
}

function bodyComplete(text: string): boolean {
  const [head, body] = text.split("\r\n\r\n");
  const length = /content-length: (\d+)/i.exec(head);
  return length !== null && Buffer.byteLength(body, "latin1") >= Number(length[1]);
}

function postHead(length: number, extra = ""): string {
  return `POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;
}

/** Starts an SSE chat of 8 MB of tokens on a raw socket that never reads. */
function pausedReader(server: RunningServer) {
  fake().enqueue({ text: Array.from({ length: 500 }, () => "x".repeat(16 * 1024)) });
  const client = rawClient(server);
  client.socket.pause();
  const body = '{"message":"flood"}';
  client.socket.write(postHead(body.length) + body);
  return client;
}

describe("a reader that stops reading", () => {
  test("loses its run after limits.write_stall_s: the slot is freed", () =>
    withServer("limits:\n  max_concurrent_runs: 1\n  write_stall_s: 0.3\n", async (server) => {
      const client = pausedReader(server);
      await fake().waitForRequests(1);
      await waitForFreeRunSlot(server.url);
      client.socket.destroy();
    }));

  test("is bounded by limits.run_timeout_s too: the run timeout covers time spent writing", () =>
    withServer("limits:\n  max_concurrent_runs: 1\n  run_timeout_s: 0.5\n  write_stall_s: 600\n", async (server) => {
      const client = pausedReader(server);
      await fake().waitForRequests(1);
      await waitForFreeRunSlot(server.url);
      client.socket.destroy();
    }));
});

describe("request bodies", () => {
  const config = "limits:\n  max_body_mb: 1\n  max_pending_body_mb: 1\n  body_timeout_s: 0.5\n";

  test("a body that stops arriving gets 408 in JSON after limits.body_timeout_s", () =>
    withServer(config, async (server) => {
      const client = rawClient(server);
      client.socket.write(postHead(100) + '{"message":');
      const res = await client.response();
      expect(res.status).toBe(408);
      expect(res.body.error).toMatch(/took longer than 0\.5 s to arrive \(limits\.body_timeout_s\)/);
      await client.closed;
    }));

  test("unfinished bodies may hold limits.max_pending_body_mb between them: past it 503, then all is released", () =>
    withServer(`${config}deploy:\n  metrics:\n    enabled: true\n`, async (server) => {
      // 0.7 MB of JSON each once inflated, all but the gzip trailer sent, never finished.
      const gzip = zlib.gzipSync(`{"message":"${"a".repeat(700 * 1024)}"}`);
      const partial = gzip.subarray(0, gzip.length - 8);
      const clients = [1, 2].map(() => {
        const client = rawClient(server);
        client.socket.write(postHead(gzip.length, "Content-Encoding: gzip\r\n"));
        client.socket.write(partial);
        return client;
      });
      const answers = await Promise.all(clients.map((c) => c.response()));
      expect(answers.map((a) => a.status).sort()).toEqual([408, 503]);
      const busy = answers.find((a) => a.status === 503)!;
      expect(busy.body.error).toMatch(/Too many request bodies are being received at once/);
      expect(busy.head).toMatch(/retry-after: 1/i);
      // Released: a complete gzip body of the same size is read and answered.
      const res = await fetch(`${server.url}/api/chat`, { method: "POST", headers: { "Content-Encoding": "gzip" }, body: zlib.gzipSync('{"message":"hi","stream":false}') });
      expect([res.status, (await json(res)).response]).toEqual([200, "Echo: hi"]);
      // Both refusals were limits (the body timeout and the pending-body budget), not a busy server.
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^klisk_rejected_requests_total\{reason="limits"\} 2$/m);
      expect(metrics).not.toMatch(/reason="busy"/);
    }));

  test("the server's own timeouts are set on purpose", () =>
    withServer("", async (server) => {
      expect(server.server.headersTimeout).toBe(20_000);
      expect(server.server.keepAliveTimeout).toBe(65_000);
      expect(server.server.requestTimeout).toBeGreaterThan(30_000);
    }));
});

describe("malformed HTTP gets a JSON error, and the server keeps serving", () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ["bad bytes in a header", "GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n", 400, /^Malformed HTTP request/],
    ["Content-Length and Transfer-Encoding together (smuggling)", `POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, /^Malformed HTTP request/],
    ["a 20 KB header", `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20 * 1024)}\r\n\r\n`, 431, /^Request headers are too large$/],
    ["a 20 KB URL", `GET /health?${"a".repeat(20 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, /^Request URL is too long$/],
  ];
  test.each(cases)("%s", (_name, request, status, error) =>
    withServer("", async (server) => {
      const client = rawClient(server);
      client.socket.write(request);
      const res = await client.response();
      expect([res.status, res.body.error]).toEqual([status, expect.stringMatching(error)]);
      expect(res.head).toMatch(/content-type: application\/json/i);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    }));
});

describe("deploy.api.cors_origins is access control, not only headers", () => {
  const config = 'deploy:\n  api:\n    cors_origins: ["https://good.example"]\n';

  test("a request from another origin gets 403 before anything runs; listed, same-host and origin-less requests pass", () =>
    withServer(config, async (server) => {
      const from = (origin: string) =>
        fetch(`${server.url}/api/chat`, { method: "POST", headers: { "Content-Type": "text/plain", Origin: origin }, body: '{"message":"hi","stream":false}' });
      const evil = await from("https://evil.example");
      expect([evil.status, await json(evil)]).toEqual([403, { error: "Origin not allowed: https://evil.example" }]);
      const preflight = await fetch(`${server.url}/api/chat`, { method: "OPTIONS", headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" } });
      expect(preflight.status).toBe(403);
      expect(fake().requests).toHaveLength(0);

      const good = await from("https://good.example");
      expect([good.status, good.headers.get("access-control-allow-origin")]).toEqual([200, "https://good.example"]);
      expect((await from(`http://127.0.0.1:${server.port}`)).status).toBe(200);
      expect((await postChat(server.url, { message: "hi", stream: false })).status).toBe(200);
    }));
});
