"use strict";
/**
 * The attacks of issue "Hardening II", bounded, against a real `klisk serve` on loopback, reporting the
 * server's RSS and the latency of /health during each: `npm run attack` (after `npm run build`), or
 * `node bench/attack.js [klisk checkout]` to measure another build (say, an older commit's) the same way.
 *
 * 1. deep state: 4 clients in a loop post a 0.9 MB signed state nested 2,000 deep (the signature check);
 * 2. WebSocket never-reader: one client sends 300,000 tiny bad frames and an unsolicited pong every second,
 *    and never reads;
 * 3. compressed bodies: 25 connections each send 61 KB of gzip that inflates to 60 MB, and never finish.
 * Each attack lasts at most ATTACK_S seconds; the server is restarted between attacks.
 */
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");
const zlib = require("node:zlib");
const { spawn } = require("node:child_process");
const { startUpstream, writeBenchProject, rssKb, stop } = require("./processes");

const KLISK_ROOT = path.resolve(process.argv[2] ?? path.join(__dirname, ".."));
const ATTACK_S = 10;

async function startKlisk(upstreamUrl, projectDir) {
  const env = { ...process.env, OPENAI_BASE_URL: upstreamUrl, OPENAI_API_KEY: "attack", KLISK_STATE_SECRET: "attack-secret", KLISK_LOG_LEVEL: "silent", PORT: "0", NO_COLOR: "1" };
  const child = spawn(process.execPath, [path.join(KLISK_ROOT, "bin", "klisk.js"), "serve", projectDir, "--host", "127.0.0.1"], { env, stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  const port = await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const match = /URL: http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`klisk exited with ${code}: ${out}`)));
  });
  child.removeAllListeners("exit");
  return { child, port };
}

function get(port, pathName) {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: pathName, agent: false, timeout: 30_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.on("error", () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
  });
}

/** Polls RSS and /health (one request at a time) until `done()`; returns the peaks. */
async function watch(server, done) {
  let peakRssMb = rssKb(server.child.pid) / 1024;
  let worstHealthMs = 0;
  let healthFailures = 0;
  while (!done()) {
    const health = await get(server.port, "/health");
    if (health.status !== 200) healthFailures++;
    worstHealthMs = Math.max(worstHealthMs, health.ms);
    try {
      peakRssMb = Math.max(peakRssMb, rssKb(server.child.pid) / 1024);
    } catch {
      break; // the process is gone
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { peakRssMb, worstHealthMs, healthFailures };
}

function post(port, body, headers = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/api/chat", method: "POST", agent: false, headers: { "content-type": "application/json", ...headers } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", (err) => resolve({ status: 0, text: err.message }));
    req.end(body);
  });
}

async function deepState(server) {
  // 2,000 levels, each with 450 bytes beside the next level: a canonical JSON that re-joins the inner text at
  // every level copies it 2,000 times.
  const pad = JSON.stringify("x".repeat(450));
  const nested = `{"pad":${pad},"next":`.repeat(2000) + "null" + "}".repeat(2000);
  const body = `{"message":"hi","stream":false,"state":{"conversation_history":[{"role":"user","content":${nested}}],"current_agent_name":"Assistant","signature":"v1.x"}}`;
  const deadline = Date.now() + ATTACK_S * 1000;
  const statuses = {};
  let requests = 0;
  let stopped = false;
  const clients = [1, 2, 3, 4].map(async () => {
    while (Date.now() < deadline) {
      const res = await post(server.port, body);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      requests++;
    }
  });
  const all = Promise.all(clients).then(() => (stopped = true));
  const seen = await watch(server, () => stopped);
  await all;
  return { ...seen, detail: `${requests} requests (${(requests / ATTACK_S).toFixed(1)}/s), statuses ${JSON.stringify(statuses)}` };
}

/** A client frame (masked with a zero key, so the payload is sent as is). */
function clientFrame(opcode, payload) {
  const data = Buffer.from(payload);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | data.length, 0, 0, 0, 0]), data]);
}

async function wsNeverReader(server) {
  const socket = net.connect(server.port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(`GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise((resolve) => socket.once("data", resolve));
  socket.pause(); // from here on nothing is read
  let dropped = false;
  socket.on("error", () => (dropped = true));
  socket.on("close", () => (dropped = true));
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => clientFrame(0x1, "x")));
  const deadline = Date.now() + ATTACK_S * 1000;
  let sent = 0;
  const pongs = setInterval(() => socket.write(clientFrame(0xa, "")), 1000);
  const writer = (async () => {
    while (!dropped && Date.now() < deadline && sent < 300_000) {
      if (!socket.write(batch)) await new Promise((resolve) => { socket.once("drain", resolve); setTimeout(resolve, 200); });
      sent += 1000;
    }
    while (!dropped && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  })();
  let finished = false;
  writer.then(() => (finished = true));
  const seen = await watch(server, () => finished);
  clearInterval(pongs);
  socket.destroy();
  return { ...seen, detail: `${sent} frames sent; ${dropped ? "the server dropped the client" : "still connected after the attack"}` };
}

async function compressedBodies(server) {
  const gzip = zlib.gzipSync(Buffer.alloc(60 * 1024 * 1024, 0x20));
  const partial = gzip.subarray(0, gzip.length - 8);
  const answers = {};
  const sockets = Array.from({ length: 25 }, () => {
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    socket.on("data", (d) => {
      const status = /^HTTP\/1\.1 (\d+)/.exec(String(d))?.[1] ?? "?";
      answers[status] = (answers[status] ?? 0) + 1;
    });
    socket.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${gzip.length}\r\n\r\n`);
    socket.write(partial);
    return socket;
  });
  const deadline = Date.now() + ATTACK_S * 1000;
  const seen = await watch(server, () => Date.now() > deadline);
  sockets.forEach((s) => s.destroy());
  return { ...seen, detail: `25 bodies of ${Math.round(gzip.length / 1024)} KB gzip; answers ${JSON.stringify(answers)}` };
}

async function main() {
  const upstream = await startUpstream();
  const projectDir = writeBenchProject();
  const rows = [];
  try {
    for (const [name, attack] of [["deep state", deepState], ["WebSocket never-reader", wsNeverReader], ["compressed bodies", compressedBodies]]) {
      const server = await startKlisk(upstream.url, projectDir);
      await new Promise((r) => setTimeout(r, 500));
      const idleRssMb = rssKb(server.child.pid) / 1024;
      const result = await attack(server);
      const after = await get(server.port, "/health");
      rows.push({ name, idleRssMb, ...result, servesAfter: after.status === 200 });
      await stop(server.child);
    }
  } finally {
    await upstream.stop();
    fs.rmSync(projectDir, { recursive: true, force: true });
  }
  console.log(`klisk at ${KLISK_ROOT}, ${ATTACK_S} s per attack`);
  console.log("| attack | RSS idle → peak (MB) | worst /health (ms) | /health failures | serves after | detail |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.idleRssMb.toFixed(0)} → ${r.peakRssMb.toFixed(0)} | ${r.worstHealthMs.toFixed(0)} | ${r.healthFailures} | ${r.servesAfter ? "yes" : "NO"} | ${r.detail} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
