/** Each configurable limit, exceeded over REST and WebSocket: a precise status and JSON error, or an error frame / close code. */
import { loadApiKeys } from "../../src/server/auth";
import { createRateLimiter } from "../../src/server/rateLimit";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, openWs, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";
import { sleep, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();

async function withServer(configYaml: string, fn: (server: RunningServer) => Promise<void>, env: Record<string, string> = {}): Promise<void> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const server = await serve(makeProject([{ name: "Assistant" }], configYaml));
  process.env = saved;
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

const chat = { message: "hi", stream: false };

test("limits.max_message_chars: 413 over REST, an error frame over WS", () =>
  withServer("limits:\n  max_message_chars: 10\n", async (server) => {
    const res = await postChat(server.url, { message: "x".repeat(11) });
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({ error: "'message' is too long: 11 characters (limit 10, limits.max_message_chars)" });
    expect((await postChat(server.url, { ...chat, message: "x".repeat(10) })).status).toBe(200);
    const client = await openWs(server.url);
    client.send({ message: "y".repeat(11) });
    expect(await client.next()).toEqual({ type: "error", data: expect.stringMatching(/too long: 11 characters/) });
    client.close();
  }));

test("limits.max_state_kb: a larger state is a 413 naming the key", () =>
  withServer("limits:\n  max_state_kb: 1\n", async (server) => {
    const state = { conversation_history: [{ role: "user", content: "z".repeat(1500) }] };
    const res = await postChat(server.url, { ...chat, state });
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({ error: "'state' is too large: 2 KB (limit 1 KB, limits.max_state_kb)" });
    expect(fake().requests).toHaveLength(0);
  }));

test("limits.ws_max_payload_mb: a bigger frame closes the socket with 1009; the server keeps serving", () =>
  withServer("limits:\n  ws_max_payload_mb: 0.01\n", async (server) => {
    const client = await openWs(server.url);
    client.send({ message: "x".repeat(20_000) });
    expect(await client.closed).toBe(1009);
    const again = await openWs(server.url);
    again.send({ message: "small" });
    expect((await again.until("done")).at(-1).data).toBe("Echo: small");
    again.close();
  }));

test("limits.max_concurrent_runs: a WS turn over the limit gets an error frame, the socket stays usable", () =>
  withServer("limits:\n  max_concurrent_runs: 1\n", async (server) => {
    fake().enqueue({ hang: true });
    const controller = new AbortController();
    void fetch(`${server.url}/api/chat`, { method: "POST", body: '{"message":"long"}', signal: controller.signal }).catch(() => {});
    await fake().waitForRequests(1);
    const client = await openWs(server.url);
    client.send({ message: "another" });
    expect(await client.next()).toEqual({ type: "error", data: "Too many runs in progress; try again shortly" });
    controller.abort();
    await waitFor(() => fake().requests[0].aborted, 1000, "upstream abort");
    await sleep(50); // the aborted run leaves the registry as its response closes
    client.send({ message: "now" });
    expect((await client.until("done")).at(-1).data).toBe("Echo: now");
    client.close();
  }));

test("limits.max_turns: a model that keeps calling tools ends with an error", () =>
  withServer("limits:\n  max_turns: 2\n", async (server) => {
    fake().onRequest = () => ({ toolCalls: [{ name: "missing", arguments: {} }] });
    const events = parseSse(await (await postChat(server.url, { message: "loop" })).text());
    expect(events.at(-2)).toEqual({ type: "error", data: "Max turns (2) exceeded: the agent kept calling tools without answering" });
    expect(fake().requests).toHaveLength(2);
  }));

describe("limits.rate_limit", () => {
  const config = "limits:\n  rate_limit:\n    window_s: 60\n    max: 2\n";

  test("REST: 429 with Retry-After and RateLimit-* headers after max requests; /health is not limited", () =>
    withServer(config, async (server) => {
      const first = await postChat(server.url, chat);
      expect(first.status).toBe(200);
      expect(first.headers.get("ratelimit-limit")).toBe("2");
      expect(first.headers.get("ratelimit-remaining")).toBe("1");
      expect((await postChat(server.url, chat)).status).toBe(200);
      const limited = await postChat(server.url, chat);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(limited.headers.get("ratelimit-remaining")).toBe("0");
      expect(limited.headers.get("ratelimit-reset")).toMatch(/^\d+$/);
      expect((await json(limited)).error).toMatch(/^Too many requests: at most 2 per 60 s; retry in \d+ s$/);
      expect(fake().requests).toHaveLength(2);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    }));

  test("WS messages draw on the same budget and get an error frame", () =>
    withServer(config, async (server) => {
      expect((await postChat(server.url, chat)).status).toBe(200);
      const client = await openWs(server.url);
      client.send({ message: "one" });
      expect((await client.until("done")).at(-1).data).toBe("Echo: one");
      client.send({ message: "two" });
      expect(await client.next()).toEqual({ type: "error", data: expect.stringMatching(/^Too many requests: at most 2 per 60 s/) });
      client.close();
    }));

  test("with auth on, each key has its own budget; wrong keys are limited by address", () =>
    withServer(
      config,
      async (server) => {
        const as = (key: string) => ({ Authorization: `Bearer ${key}` });
        for (let i = 0; i < 2; i++) expect((await postChat(server.url, chat, as("sk-a"))).status).toBe(200);
        expect((await postChat(server.url, chat, as("sk-a"))).status).toBe(429);
        expect((await postChat(server.url, chat, as("sk-b"))).status).toBe(200);
        const guesses = [];
        for (let i = 0; i < 3; i++) guesses.push((await postChat(server.url, chat, as(`sk-guess-${i}`))).status);
        expect(guesses).toEqual([401, 401, 429]);
      },
      { KLISK_API_KEY: "sk-a,sk-b" },
    ));

  test("a public key (KLISK_WIDGET_KEY) has a budget per client address: one visitor cannot use it up for all", () =>
    withServer(
      `${config}server:\n  trust_proxy: loopback\n`,
      async (server) => {
        const visitor = (ip: string) => ({ Authorization: "Bearer pk-widget", "X-Forwarded-For": ip });
        for (let i = 0; i < 2; i++) expect((await postChat(server.url, chat, visitor("203.0.113.1"))).status).toBe(200);
        expect((await postChat(server.url, chat, visitor("203.0.113.1"))).status).toBe(429);
        expect((await postChat(server.url, chat, visitor("203.0.113.2"))).status).toBe(200);
      },
      { KLISK_WIDGET_KEY: "pk-widget" },
    ));

  test("server.trust_proxy decides whether X-Forwarded-For names the client", async () => {
    const fromIp = (ip: string) => ({ "X-Forwarded-For": ip });
    await withServer(`${config}server:\n  trust_proxy: loopback\n`, async (server) => {
      for (let i = 0; i < 2; i++) expect((await postChat(server.url, chat, fromIp("203.0.113.1"))).status).toBe(200);
      expect((await postChat(server.url, chat, fromIp("203.0.113.1"))).status).toBe(429);
      expect((await postChat(server.url, chat, fromIp("203.0.113.2"))).status).toBe(200);
    });
    await withServer(config, async (server) => {
      // Not trusted: the header is ignored and both "clients" are the loopback address.
      for (let i = 0; i < 2; i++) expect((await postChat(server.url, chat, fromIp(`203.0.113.${i}`))).status).toBe(200);
      expect((await postChat(server.url, chat, fromIp("203.0.113.9"))).status).toBe(429);
    });
  });

  test("budgets are keyed by a hash of the key, never the key itself", () => {
    const limiter = createRateLimiter({ windowMs: 1000, max: 1 }, loadApiKeys({ KLISK_API_KEY: "sk-plain-secret" }));
    const budget = limiter.budgetFor("sk-plain-secret", "127.0.0.1");
    expect(budget).toMatch(/^key:[0-9a-f]{32}\|ip:127\.0\.0\.1$/);
    expect(budget).not.toContain("plain-secret");
    expect(limiter.budgetFor("sk-wrong", "127.0.0.1")).toBe("ip:127.0.0.1");
  });
});
