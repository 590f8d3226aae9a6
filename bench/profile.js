"use strict";
/**
 * CPU profile of one server under load: `node bench/profile.js [klisk|wire|limit|hand-rolled] [stream|json|start] [seconds]`.
 * Starts the fake upstream and the server under `node --cpu-prof`, drives it with autocannon (32 connections),
 * stops it, then prints the top functions by self time and the self time per module. For `start`, the profile
 * covers start-up only (spawn to listening, cold start). The .cpuprofile is kept (open it in Chrome DevTools).
 */
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { startUpstream, writeBenchProject, writeTemplateProject } = require("./processes");
const { JSON_BODY, PROTOCOLS, STREAM_BODY, load } = require("./measure");

const ROOT = path.resolve(__dirname, "..");

async function main() {
  const [kind = "klisk", what = "stream", seconds = "8"] = process.argv.slice(2);
  const upstream = await startUpstream();
  const project = what === "start" ? writeTemplateProject() : writeBenchProject();
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), "klisk-prof-"));
  const script = { klisk: [path.join(ROOT, "bin/klisk.js"), "serve", project, "--host", "127.0.0.1"], wire: [path.join(__dirname, "servers/wire.js")], limit: [path.join(__dirname, "servers/limit.js")], "hand-rolled": [path.join(__dirname, "servers/handrolled.js")] }[kind];
  const env = { ...process.env, OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: "bench", PORT: "0", NO_COLOR: "1" };
  if (what === "start") {
    // A first start warms jiti's cache, as in the benchmark's cold start.
    await runUntilListening(script, env, project, []);
  }
  const child = await runUntilListening(script, env, project, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${process.env.PROF_INTERVAL_US ?? 100}`]);
  if (what !== "start") {
    const server = { kind, pid: child.child.pid, url: `http://127.0.0.1:${child.port}` };
    // json, stream (POST /api/chat), or a protocol's stream by its PROTOCOLS name (ai-sdk, ag-ui, openai).
    const request = what === "json" ? { body: JSON_BODY } : what === "stream" ? { body: STREAM_BODY } : PROTOCOLS[what];
    if (!request) throw new Error(`unknown load ${what}: json, stream, start or one of ${Object.keys(PROTOCOLS).join(", ")}`);
    await load(server, { ...request, duration: 2 });
    const result = await load(server, { ...request, duration: Number(seconds) });
    process.stdout.write(`${kind} ${what}: ${result.rps.toFixed(0)} req/s, ${result.cpuUsPerReq.toFixed(0)} µs CPU per request (${Math.round(result.rps * Number(seconds))} requests)\n`);
  }
  // SIGINT lets Node write the profile on the way out.
  await new Promise((resolve) => {
    child.child.once("exit", resolve);
    child.child.kill("SIGINT");
  });
  await upstream.stop();
  const file = fs.readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  summarise(path.join(profDir, file));
}

function runUntilListening(args, env, cwd, nodeFlags) {
  const child = spawn(process.execPath, [...nodeFlags, ...args], { cwd, env, stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const match = /(?:listening on |127\.0\.0\.1:)(\d+)/.exec(out);
      if (match && out !== null) {
        out = null;
        if (nodeFlags.length === 0) child.kill("SIGTERM");
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.once("exit", (code) => out !== null && reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function summarise(file) {
  const profile = JSON.parse(fs.readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map();
  const modules = new Map();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = shortUrl(url);
    const fn = `${functionName || "(anonymous)"} ${where}${url ? `:${lineNumber + 1}` : ""}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    const mod = moduleOf(url, functionName);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
  }
  const top = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`).join("\n");
  process.stdout.write(`\nprofile: ${file} (${(total / 1e6).toFixed(2)} s sampled)\n\nself time by module:\n${top(modules, 15)}\n\ntop functions by self time:\n${top(fns, 40)}\n`);
}

function shortUrl(url) {
  if (!url) return "";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + "node_modules/".length);
  return url.replace(`file://${ROOT}/`, "").replace(ROOT + "/", "");
}

function moduleOf(url, fn) {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  if (url.startsWith("node:")) return url.split("/").slice(0, 2).join("/");
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  return shortUrl(url).split("/").slice(0, 3).join("/");
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
