"use strict";
/**
 * `npm run bench:startup`: how long `klisk --version`, `--help`, `check` and `serve` take to start, and which
 * heavy modules each one loads. Which modules a command loads is a performance choice, not behaviour, so it
 * is reported here rather than pinned by a test. It reports; it asserts nothing.
 *
 *   node bench/startup.js [--runs 10]
 *
 * Wall time is the median of --runs fresh processes (spawn → exit; for serve, spawn → first /health 200).
 * Then `klisk dev` on the same template project: --runs edits of its tool file, each timed from the write
 * to the "Reloaded in N ms" line (that N, the project load alone, is reported next to it).
 * The modules come from one more run of each, with this same file preloaded (`--require`): it then records
 * Node's require cache when the process exits. Runs the built dist/ (the npm script builds first).
 */
const HEAVY = ["express", "openai", "ws", "pino", "zod", "yaml", "jiti"];
const REPORT_ENV = "KLISK_STARTUP_REPORT";

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  recordModulesAtExit();
}

/** Preloaded into a klisk process: at exit, write the modules it loaded to the file named by REPORT_ENV. */
function recordModulesAtExit() {
  const file = process.env[REPORT_ENV];
  if (!file) return;
  process.on("exit", () => {
    // Not zod's locales index: bin/zodLocales.js puts a stand-in there before zod loads, if it ever does.
    const loaded = Object.keys(require.cache).filter((f) => f !== __filename && !/[\\/]zod[\\/]v4[\\/]locales[\\/]index\.cjs$/.test(f));
    const heavy = HEAVY.filter((name) => loaded.some((f) => f.includes(`/node_modules/${name}/`)));
    require("node:fs").writeFileSync(file, JSON.stringify({ count: loaded.length, heavy }));
  });
}

async function main() {
  const { spawn, spawnSync } = require("node:child_process");
  const fs = require("node:fs");
  const http = require("node:http");
  const os = require("node:os");
  const path = require("node:path");
  const { stop, writeTemplateProject } = require("./processes");
  const { freePort, median } = require("./measure");

  const i = process.argv.indexOf("--runs");
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 10;
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs: a whole number of 1 or more");

  const bin = path.resolve(__dirname, "..", "bin", "klisk.js");
  const project = writeTemplateProject();
  const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "klisk-startup-"));
  // A dummy key and an unreachable upstream: nothing here calls a model.
  const env = { ...process.env, NO_COLOR: "1", OPENAI_API_KEY: "bench", OPENAI_BASE_URL: "http://127.0.0.1:9/v1", KLISK_LOG_LEVEL: "silent" };
  for (const key of ["KLISK_API_KEY", "PORT", "HOST", "NODE_OPTIONS"]) delete env[key];

  /** Spawn → exit, in ms. */
  const timeExit = (args, extraEnv = {}) => {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { cwd: project, env: { ...env, ...extraEnv }, stdio: "ignore" });
    if (result.error) throw result.error;
    return Number(process.hrtime.bigint() - started) / 1e6;
  };

  /** Spawn → first 200 on /health, in ms; then SIGTERM (klisk drains and exits, so the preload still reports). */
  const timeHealth = async (args, extraEnv = {}) => {
    const port = await freePort();
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: project, env: { ...env, PORT: String(port), ...extraEnv }, stdio: "ignore" });
    try {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode} during start-up`);
        if ((await healthStatus(http, port)) === 200) return Number(process.hrtime.bigint() - started) / 1e6;
        if (Number(process.hrtime.bigint() - started) > 20e9) throw new Error("serve did not answer /health within 20 s");
        await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      await stop(child);
    }
  };

  const cases = [
    { label: "node -e 0 (no klisk)", args: ["-e", "0"], time: timeExit },
    { label: "klisk --version", args: [bin, "--version"], time: timeExit },
    { label: "klisk --help", args: [bin, "--help"], time: timeExit },
    { label: "klisk check (template)", args: [bin, "check", "."], time: timeExit },
    { label: "klisk serve → /health 200", args: [bin, "serve", ".", "--host", "127.0.0.1"], time: timeHealth },
  ];

  const rows = [];
  for (const c of cases) {
    await c.time(c.args); // warm the file cache; not counted
    const times = [];
    for (let run = 0; run < runs; run++) times.push(await c.time(c.args));
    const file = path.join(reportDir, `${rows.length}.json`);
    await c.time(c.args, { NODE_OPTIONS: `--require ${JSON.stringify(__filename)}`, [REPORT_ENV]: file });
    const modules = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : { count: NaN, heavy: ["(no report)"] };
    rows.push([c.label, median(times).toFixed(0), String(modules.count), modules.heavy.join(", ") || "-"]);
  }
  fs.rmSync(reportDir, { recursive: true, force: true });
  const reload = await timeReloads({ spawn, fs, path, bin, project, env, runs, stop });
  fs.rmSync(path.dirname(project), { recursive: true, force: true });

  const header = ["command", "ms (median)", "modules", `heavy modules loaded (of ${HEAVY.join(", ")})`];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => r[col].length)));
  const line = (cols) => cols.map((c, col) => (col === 1 || col === 2 ? c.padStart(widths[col]) : c.padEnd(widths[col]))).join("  ").trimEnd();
  console.log(`klisk start-up: median of ${runs} runs each, node ${process.version}, ${os.cpus().length} CPUs`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log(
    `klisk dev reload (template, edit of src/tools/greet.ts → "Reloaded"): ${median(reload.wall).toFixed(0)} ms median from the write ` +
      `(fs event + debounce + load), ${median(reload.load).toFixed(0)} ms median of the load itself`,
  );
}

/** Starts `klisk dev` on the project, edits its tool `runs` times (after one unmeasured edit) and times each reload. */
async function timeReloads({ spawn, fs, path, bin, project, env, runs, stop }) {
  const { freePort } = require("./measure");
  const child = spawn(process.execPath, [bin, "dev", ".", "--host", "127.0.0.1", "--port", String(await freePort())], { cwd: project, env, stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const waitFor = async (pattern, from) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const match = pattern.exec(out.slice(from));
      if (match) return match;
      if (child.exitCode !== null) throw new Error(`klisk dev exited with ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`klisk dev: no ${pattern} within 20 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const tool = path.join(project, "src", "tools", "greet.ts");
  const original = fs.readFileSync(tool, "utf8");
  const wall = [];
  const load = [];
  try {
    await waitFor(/Watching /, 0);
    for (let run = 0; run <= runs; run++) {
      const from = out.length;
      const started = process.hrtime.bigint();
      fs.writeFileSync(tool, `${original}\n// edit ${run}\n`);
      const [, ms] = await waitFor(/Reloaded in (\d+) ms/, from);
      if (run === 0) continue; // warms jiti's transform cache for this file; not counted
      wall.push(Number(process.hrtime.bigint() - started) / 1e6);
      load.push(Number(ms));
    }
  } finally {
    await stop(child);
  }
  return { wall, load };
}

function healthStatus(http, port) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", () => resolve(0));
  });
}
