"use strict";
/** Child processes for the benchmark: the fake upstream, the servers under test, and /proc readings (RSS, CPU). */
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const KLISK_BIN = path.join(ROOT, "bin", "klisk.js");
const MODEL = "gpt-4.1-mini";
const INSTRUCTIONS = "You are a helpful assistant.";

/**
 * The environment every server gets: the fake upstream, a dummy key, no colour, nothing from the caller's
 * KLISK_* but KLISK_METRICS (`KLISK_METRICS=1 npm run bench` measures klisk with /metrics on).
 */
function serverEnv(upstreamUrl, extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(OPENAI_|KLISK_|PORT$|HOST$|FORCE_COLOR$)/.test(key)) env[key] = value;
  }
  const metrics = process.env.KLISK_METRICS ? { KLISK_METRICS: process.env.KLISK_METRICS } : {};
  return { ...env, ...metrics, OPENAI_BASE_URL: upstreamUrl, OPENAI_API_KEY: "bench", BENCH_MODEL: MODEL, NO_COLOR: "1", ...extra };
}

/**
 * Spawns a process and resolves once `pattern` shows in its stdout (with the match), or rejects if it exits.
 * Its stderr (klisk's request log) goes to a file, not through this process: autocannon runs here, and
 * reading a server's log lines would slow the load generator for the servers that log and not for the rest.
 */
function spawnUntil(command, args, { cwd, env, pattern, timeoutMs = 20_000 }) {
  const errFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "klisk-bench-log-")), "stderr.log");
  const errFd = fs.openSync(errFile, "w");
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", errFd] });
  fs.closeSync(errFd);
  const removeLog = () => fs.rmSync(path.dirname(errFile), { recursive: true, force: true });
  const stderrTail = () => {
    try {
      return fs.readFileSync(errFile, "utf8").slice(-4000);
    } catch {
      return "";
    }
  };
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`timed out waiting for ${pattern}`)), timeoutMs);
    const fail = (e) => {
      clearTimeout(timer);
      const err = stderrTail();
      removeLog();
      child.kill("SIGKILL");
      reject(new Error(`${path.basename(args[0] ?? command)}: ${e.message}\nstdout: ${out}\nstderr: ${err}`));
    };
    child.once("exit", (code) => fail(new Error(`exited with ${code}`)));
    child.stdout.on("data", (d) => {
      if (out === null) return; // found already: keep draining, stop collecting
      out += d;
      const match = out.match(pattern);
      if (!match) return;
      out = null;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.once("exit", removeLog);
      resolve({ child, match });
    });
  });
}

async function startUpstream() {
  const { child, match } = await spawnUntil(process.execPath, [path.join(__dirname, "upstream.js")], { env: process.env, pattern: /\{"port":(\d+)\}/ });
  const base = `http://127.0.0.1:${match[1]}`;
  return {
    child,
    url: `${base}/v1`,
    /** instant | slow */
    setMode: (mode) => postJson(`${base}/__mode`, { mode }),
    release: () => postJson(`${base}/__release`, {}),
    held: () => postJson(`${base}/__held`, {}).then((r) => r.held),
    stop: () => stop(child),
  };
}

/** A one-agent klisk project in a temp dir, the same agent the other servers run. */
function writeBenchProject() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "klisk-bench-"));
  fs.mkdirSync(path.join(dir, "src"));
  fs.writeFileSync(path.join(dir, "klisk.config.yaml"), "name: bench\nentry: src/main.ts\n");
  fs.writeFileSync(
    path.join(dir, "src", "main.ts"),
    `import { defineAgent } from "klisk";\n\ndefineAgent({ name: "Assistant", instructions: ${JSON.stringify(INSTRUCTIONS)}, model: ${JSON.stringify(MODEL)} });\n`,
  );
  return dir;
}

/** `klisk init --no-install`: the template project a user starts from (for cold start). */
function writeTemplateProject() {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "klisk-bench-tpl-"));
  execFileSync(process.execPath, [KLISK_BIN, "init", "app", "--no-install", "--model", MODEL], { cwd: parent, env: serverEnv(""), stdio: "ignore" });
  return path.join(parent, "app");
}

/** How each server is started: command, args, and how its port shows on stdout. */
function serverCommand(kind, projectDir) {
  switch (kind) {
    case "wire":
      return { args: [path.join(__dirname, "servers", "wire.js")], pattern: /listening on (\d+)/, cwd: ROOT };
    case "limit":
      return { args: [path.join(__dirname, "servers", "limit.js")], pattern: /listening on (\d+)/, cwd: ROOT };
    case "hand-rolled":
      return { args: [path.join(__dirname, "servers", "handrolled.js")], pattern: /listening on (\d+)/, cwd: ROOT };
    case "klisk":
      return { args: [KLISK_BIN, "serve", projectDir, "--host", "127.0.0.1"], pattern: /URL: http:\/\/127\.0\.0\.1:(\d+)/, cwd: projectDir };
    default:
      throw new Error(`unknown server ${kind}`);
  }
}

async function startServer(kind, { upstreamUrl, projectDir }) {
  const { args, pattern, cwd } = serverCommand(kind, projectDir);
  const { child, match } = await spawnUntil(process.execPath, args, { cwd, env: serverEnv(upstreamUrl, { PORT: "0" }), pattern });
  return { kind, child, pid: child.pid, port: Number(match[1]), url: `http://127.0.0.1:${match[1]}`, stop: () => stop(child) };
}

/**
 * Spawn → first 200 on /health, in ms. The port is chosen up front so polling can start at once; polling
 * every 2 ms costs the bench process, not the server's.
 */
async function coldStart(kind, { upstreamUrl, projectDir, port }) {
  const { args, cwd } = serverCommand(kind, projectDir);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { cwd, env: serverEnv(upstreamUrl, { PORT: String(port) }), stdio: "ignore" });
  let exited = false;
  child.once("exit", () => (exited = true));
  try {
    for (;;) {
      if (exited) throw new Error(`${kind} exited during cold start`);
      if ((await healthStatus(port)) === 200) return Number(process.hrtime.bigint() - started) / 1e6;
      if (Number(process.hrtime.bigint() - started) > 20e9) throw new Error(`${kind} did not answer /health within 20 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await stop(child);
  }
}

function healthStatus(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", () => resolve(0));
  });
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Resident set size of a process, in KB. */
function rssKb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time a process has used, in ms. */
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

function postJson(url, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(url, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(JSON.parse(text)));
    });
    req.on("error", reject);
    req.end(data);
  });
}

module.exports = { startUpstream, startServer, coldStart, writeBenchProject, writeTemplateProject, rssKb, cpuMs, stop };
