"use strict";
/** The figures, each measured against a running server (see run.js for the order and the table). */
const http = require("node:http");
const net = require("node:net");
const autocannon = require("autocannon");
const WebSocket = require("ws");
const { cpuMs, rssKb } = require("./processes");

const TOKENS = 200;
const PROMPT = "Tell me something long.";
const STREAM_BODY = JSON.stringify({ message: PROMPT });
const JSON_BODY = JSON.stringify({ message: PROMPT, stream: false });

/**
 * The streamed protocols klisk serves, each as: its path, a request for the same turn, and how to tell its
 * token frames and its final frame. `klisk` is POST /api/chat, what every server in the bench speaks.
 */
const PROTOCOLS = {
  klisk: { path: "/api/chat", body: STREAM_BODY, token: 'data: {"type":"token"', done: "data: [DONE]" },
  "ai-sdk": {
    path: "/api/ai-sdk",
    body: JSON.stringify({ id: "bench", trigger: "submit-message", messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: PROMPT }] }] }),
    token: '"type":"text-delta"',
    done: "data: [DONE]",
  },
  "ag-ui": {
    path: "/api/ag-ui",
    body: JSON.stringify({ threadId: "t1", runId: "r1", messages: [{ id: "m1", role: "user", content: PROMPT }], tools: [], context: [], state: {}, forwardedProps: {} }),
    token: '"type":"TEXT_MESSAGE_CONTENT"',
    done: '"type":"RUN_FINISHED"',
  },
  openai: {
    path: "/v1/chat/completions",
    body: JSON.stringify({ model: "Assistant", stream: true, messages: [{ role: "user", content: PROMPT }] }),
    token: '"delta":{"content"',
    done: "data: [DONE]",
  },
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** autocannon against POST /api/chat (or `path`); also the server's CPU time per completed request. */
async function load(server, { body, connections = 32, duration, path = "/api/chat" }) {
  const cpuBefore = cpuMs(server.pid);
  const result = await autocannon({
    url: `${server.url}${path}`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    connections,
    duration,
  });
  const cpu = cpuMs(server.pid) - cpuBefore;
  const ok = result["2xx"];
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${server.kind}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts under load`);
  }
  return { rps: ok / result.duration, p50: result.latency.p50, p99: result.latency.p99, cpuUsPerReq: (cpu * 1000) / ok };
}

async function warmUp(server, seconds) {
  await load(server, { body: STREAM_BODY, duration: seconds });
  await load(server, { body: JSON_BODY, duration: seconds });
}

/**
 * One streamed chat in `protocol` (PROTOCOLS): resolves with { ttft, ttlt } in ms (first and last token
 * frame seen by the client) after checking all TOKENS tokens and the final frame arrived.
 */
function streamOnce(server, agent, protocol = PROTOCOLS.klisk) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - start) / 1e6;
    let ttft;
    let ttlt;
    let tokens = 0;
    let done = false;
    let buffer = "";
    const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(protocol.body) };
    const req = http.request(`${server.url}${protocol.path}`, { method: "POST", agent, headers }, (res) => {
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        buffer += chunk;
        const frames = buffer.split("\n\n");
        buffer = frames.pop();
        for (const frame of frames) {
          if (frame.includes(protocol.done)) done = true;
          if (!frame.includes(protocol.token)) continue;
          tokens++;
          if (tokens === 1) ttft = elapsed();
          if (tokens === TOKENS) ttlt = elapsed();
        }
      });
      res.on("end", () => {
        if (tokens !== TOKENS || !done) return reject(new Error(`${server.kind} ${protocol.path}: stream had ${tokens} tokens${done ? "" : " and no final frame"}`));
        resolve({ ttft, ttlt });
      });
    });
    req.on("error", reject);
    req.end(protocol.body);
  });
}

/** TTFT / time to last token over `count` sequential streams on one keep-alive connection: p50 and p99. */
async function latency(server, count, protocol = PROTOCOLS.klisk) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ttft = [];
  const ttlt = [];
  for (let i = 0; i < 5; i++) await streamOnce(server, agent, protocol); // warm the connection and the JIT
  for (let i = 0; i < count; i++) {
    const r = await streamOnce(server, agent, protocol);
    ttft.push(r.ttft);
    ttlt.push(r.ttlt);
  }
  agent.destroy();
  return { ttftP50: percentile(ttft, 50), ttftP99: percentile(ttft, 99), ttltP50: percentile(ttlt, 50), ttltP99: percentile(ttlt, 99) };
}

/**
 * Opens `count` streams that the upstream (in slow mode) holds open after their first tokens, samples the
 * server's RSS while it holds them all, then releases them. Per-stream cost = (peak - baseline) / count.
 */
async function openStreams(server, upstream, count) {
  await upstream.setMode("slow");
  const baseline = rssKb(server.pid);
  const started = [];
  const finished = [];
  for (let i = 0; i < count; i++) {
    let resolveStarted;
    started.push(new Promise((r) => (resolveStarted = r)));
    finished.push(
      new Promise((resolve, reject) => {
        const req = http.request(`${server.url}/api/chat`, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(STREAM_BODY) } }, (res) => {
          res.setEncoding("utf8");
          res.on("data", (chunk) => {
            if (chunk.includes('"type":"token"')) resolveStarted();
          });
          res.on("end", resolve);
        });
        req.on("error", reject);
        req.end(STREAM_BODY);
      }),
    );
    if (i % 100 === 99) await sleep(5); // let the server accept in waves instead of one burst of SYNs
  }
  await withTimeout(Promise.all(started), 60_000, `${server.kind}: ${count} streams did not all start`);
  let peak = 0;
  for (let i = 0; i < 10; i++) {
    peak = Math.max(peak, rssKb(server.pid));
    await sleep(100);
  }
  const held = await upstream.held();
  await upstream.release();
  await upstream.setMode("instant");
  await withTimeout(Promise.all(finished), 60_000, `${server.kind}: held streams did not finish`);
  if (held !== count) throw new Error(`${server.kind}: upstream held ${held} streams, expected ${count}`);
  return { peakRssMb: peak / 1024, kbPerStream: (peak - baseline) / count };
}

/** Opens `count` idle WebSockets and reports the server's RSS growth per connection. */
async function idleSockets(server, count) {
  const url = `${server.url.replace(/^http/, "ws")}/ws/chat`;
  const open = () =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    });
  // A few first, so lazily loaded code (ws, the session class) is in the baseline, not in the per-socket cost.
  for (const ws of await Promise.all(Array.from({ length: 20 }, open))) ws.terminate();
  await sleep(300);
  const baseline = rssKb(server.pid);
  const sockets = [];
  for (let i = 0; i < count; i += 250) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(250, count - i) }, open))));
  }
  await sleep(500);
  let peak = 0;
  for (let i = 0; i < 5; i++) {
    peak = Math.max(peak, rssKb(server.pid));
    await sleep(100);
  }
  for (const ws of sockets) ws.terminate();
  return { kbPerSocket: (peak - baseline) / count };
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function median(values) {
  return percentile(values, 50);
}

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

/** A port that was free a moment ago. */
function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

module.exports = { STREAM_BODY, JSON_BODY, PROTOCOLS, load, warmUp, latency, openStreams, idleSockets, median, freePort };
