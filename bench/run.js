"use strict";
/**
 * `npm run bench`: klisk against two floors and a hand-rolled server, all behind one instant-streaming
 * loopback fake upstream: "wire" (node:http in and out, no SDK: the floor of what's possible), "limit" (the
 * thinnest server on klisk's own stack, the openai SDK) and "hand-rolled" (what a user would write: Express 5
 * + @openai/agents).
 *
 *   node bench/run.js [--runs 3] [--quick] [--only wire,limit,klisk,hand-rolled]
 *
 * Each run starts every server afresh for each group of figures; the table shows the median of the runs per
 * server, then each server's figures as ratios to wire and to limit ("klisk/wire", "klisk/limit"). Results,
 * ratios included, go to bench/results.json. With klisk in the run, a second table compares its protocol adapters
 * (/api/ai-sdk, /api/ag-ui, /v1/chat/completions) with its own /api/chat on one server. Runs the built dist/ (npm run bench builds first). Loopback only;
 * bounded in time (a full run is a few minutes).
 */
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { coldStart, startServer, startUpstream, writeBenchProject, writeTemplateProject } = require("./processes");
const { JSON_BODY, PROTOCOLS, STREAM_BODY, freePort, idleSockets, latency, load, median, openStreams, warmUp } = require("./measure");

const SERVERS = ["wire", "limit", "klisk", "hand-rolled"];
/** The floors every other server's figures are divided by, lowest first. */
const BASES = ["wire", "limit"];

/** Higher is better for throughput; lower for everything else. */
const FIGURES = [
  { key: "jsonRps", label: "JSON requests/s (32 conc.)", higher: true, digits: 0 },
  { key: "jsonP50", label: "JSON latency p50 (ms)", digits: 1 },
  { key: "jsonP99", label: "JSON latency p99 (ms)", digits: 1 },
  { key: "jsonCpuUs", label: "server CPU per JSON request (µs)", digits: 0 },
  { key: "streamRps", label: "streams/s (32 conc., 200 tokens)", higher: true, digits: 0 },
  { key: "streamCpuUs", label: "server CPU per stream (µs)", digits: 0 },
  { key: "ttftP50", label: "TTFT p50 (ms)", digits: 2 },
  { key: "ttftP99", label: "TTFT p99 (ms)", digits: 2 },
  { key: "ttltP50", label: "time to last token p50 (ms)", digits: 2 },
  { key: "ttltP99", label: "time to last token p99 (ms)", digits: 2 },
  { key: "peakRssMb", label: "peak RSS, STREAMS open streams (MB)", digits: 1 },
  { key: "kbPerStream", label: "RSS per open stream (KB)", digits: 1 },
  { key: "kbPerSocket", label: "RSS per idle WebSocket (KB, SOCKETS)", digits: 1 },
  { key: "coldStartMs", label: "cold start to /health 200 (ms)", digits: 0 },
];

function parseArgs(argv) {
  const quick = argv.includes("--quick");
  const value = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const runs = Number(value("--runs") ?? (quick ? 1 : 3));
  const only = value("--only")?.split(",") ?? SERVERS;
  for (const kind of only) if (!SERVERS.includes(kind)) throw new Error(`--only: unknown server ${kind} (${SERVERS.join(", ")})`);
  return {
    runs,
    quick,
    servers: SERVERS.filter((s) => only.includes(s)),
    duration: quick ? 2 : 6,
    warmUpSeconds: quick ? 1 : 4,
    sequential: quick ? 20 : 50,
    streams: quick ? 200 : 1000,
    sockets: quick ? 500 : 5000,
    coldStarts: quick ? 2 : 5,
  };
}

/** 5,000 WebSockets plus 1,000 streams (each with its upstream socket) need more descriptors than some defaults. */
function ensureFileLimit(needed) {
  const limits = fs.readFileSync("/proc/self/limits", "utf8");
  const [, soft, hard] = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits) ?? [];
  if (soft === "unlimited" || Number(soft) >= needed || process.env.KLISK_BENCH_ULIMIT) return;
  const target = hard === "unlimited" ? needed : Math.min(Number(hard), needed);
  // rlimits can only be raised from a shell; re-run this script under `ulimit -n`.
  const result = spawnSync("sh", ["-c", `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, __filename, ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, KLISK_BENCH_ULIMIT: "1" },
  });
  process.exit(result.status ?? 1);
}

async function measureServer(kind, settings, upstream, dirs) {
  const log = (message) => process.stderr.write(`  ${kind}: ${message}\n`);
  const figures = {};
  const started = (projectDir = dirs.project) => startServer(kind, { upstreamUrl: upstream.url, projectDir });

  // Throughput and latency on one warmed-up server.
  let server = await started();
  try {
    await warmUp(server, settings.warmUpSeconds);
    const json = await load(server, { body: JSON_BODY, duration: settings.duration });
    Object.assign(figures, { jsonRps: json.rps, jsonP50: json.p50, jsonP99: json.p99, jsonCpuUs: json.cpuUsPerReq });
    log(`JSON ${json.rps.toFixed(0)} req/s`);
    const streams = await load(server, { body: STREAM_BODY, duration: settings.duration });
    Object.assign(figures, { streamRps: streams.rps, streamCpuUs: streams.cpuUsPerReq });
    log(`streams ${streams.rps.toFixed(0)}/s`);
    Object.assign(figures, await latency(server, settings.sequential));
    log(`TTFT p50 ${figures.ttftP50.toFixed(2)} ms, last token p50 ${figures.ttltP50.toFixed(2)} ms`);
  } finally {
    await server.stop();
  }

  // Memory on fresh servers, so heap grown by the load above does not hide the cost.
  server = await started();
  try {
    await latency(server, 10);
    Object.assign(figures, await openStreams(server, upstream, settings.streams));
    log(`${settings.streams} open streams: ${figures.kbPerStream.toFixed(1)} KB each`);
  } finally {
    await server.stop();
  }
  server = await started();
  try {
    Object.assign(figures, await idleSockets(server, settings.sockets));
    log(`${settings.sockets} idle WebSockets: ${figures.kbPerSocket.toFixed(1)} KB each`);
  } finally {
    await server.stop();
  }

  return figures;
}

/**
 * klisk's protocol adapters (AI SDK, AG-UI, OpenAI-compatible) against its own POST /api/chat, on one
 * warmed-up klisk server: streams/s under load and TTFT over sequential streams. Measured in rounds, each
 * round taking the protocols in a rotated order, and the median of the rounds kept: measured one after
 * the other, whichever came last paid for the server's grown heap and the machine's drift.
 */
async function measureProtocols(settings, upstream, dirs) {
  const log = (message) => process.stderr.write(`  protocols: ${message}\n`);
  const server = await startServer("klisk", { upstreamUrl: upstream.url, projectDir: dirs.project });
  const names = Object.keys(PROTOCOLS);
  const rounds = settings.quick ? 1 : 3;
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  try {
    for (const protocol of Object.values(PROTOCOLS)) await load(server, { body: protocol.body, path: protocol.path, duration: settings.warmUpSeconds / 2 });
    for (let round = 0; round < rounds; round++) {
      for (const name of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
        const protocol = PROTOCOLS[name];
        const streams = await load(server, { body: protocol.body, path: protocol.path, duration: Math.max(2, settings.duration / rounds) });
        const { ttftP50 } = await latency(server, settings.sequential, protocol);
        samples[name].push({ streamRps: streams.rps, streamCpuUs: streams.cpuUsPerReq, ttftP50 });
        log(`round ${round + 1}: ${name} ${streams.rps.toFixed(0)} streams/s, TTFT p50 ${ttftP50.toFixed(2)} ms`);
      }
    }
  } finally {
    await server.stop();
  }
  const medianOf = (name, key) => median(samples[name].map((sample) => sample[key]));
  return Object.fromEntries(names.map((name) => [name, { streamRps: medianOf(name, "streamRps"), streamCpuUs: medianOf(name, "streamCpuUs"), ttftP50: medianOf(name, "ttftP50") }]));
}

function protocolTable(protocols) {
  const base = protocols.klisk;
  const rows = [["protocol (klisk server)", "path", "streams/s", "CPU per stream (µs)", "TTFT p50 (ms)", "streams/s vs /api/chat", "TTFT vs /api/chat"]];
  for (const [name, f] of Object.entries(protocols)) {
    rows.push([name, PROTOCOLS[name].path, format(f.streamRps, 0), format(f.streamCpuUs, 0), format(f.ttftP50, 2), `${format(f.streamRps / base.streamRps, 2)}×`, `${format(f.ttftP50 / base.ttftP50, 2)}×`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  return [line(rows[0]), `|${widths.map((w, i) => "-".repeat(w + 1) + (i < 2 ? "-" : ":")).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
}

/**
 * Cold start, spawn → first /health 200, for every server. The starts alternate between the servers, so a
 * busy moment on this machine (the sockets of the figures above being torn down, the bench's own GC) falls
 * on both sides of a ratio alike. The first start of each warms the OS file cache (and, for klisk, jiti's
 * transpile cache and the config parse cache) and is not counted.
 */
async function measureColdStarts(kinds, settings, upstream, dirs) {
  const times = Object.fromEntries(kinds.map((kind) => [kind, []]));
  const port = await freePort();
  for (let i = 0; i <= settings.coldStarts; i++) {
    for (const kind of kinds) {
      const ms = await coldStart(kind, { upstreamUrl: upstream.url, projectDir: dirs.template, port });
      if (i > 0) times[kind].push(ms);
    }
  }
  const medians = Object.fromEntries(kinds.map((kind) => [kind, median(times[kind])]));
  process.stderr.write(`  cold start: ${kinds.map((kind) => `${kind} ${medians[kind].toFixed(0)} ms`).join(", ")}\n`);
  return medians;
}

function format(value, digits) {
  return value === undefined || Number.isNaN(value) ? "—" : value.toFixed(digits);
}

/** [kind, base] for every ratio column: each server after a base in SERVERS order, over that base. */
function ratioPairs(kinds) {
  const pairs = [];
  for (const kind of kinds) {
    for (const base of BASES) {
      if (kinds.includes(base) && kinds.indexOf(base) < kinds.indexOf(kind)) pairs.push([kind, base]);
    }
  }
  return pairs;
}

/** medians[kind][key] / medians[base][key] for every server and figure; {} without that base. */
function ratiosTo(base, medians, kinds) {
  if (!medians[base]) return {};
  return Object.fromEntries(kinds.map((kind) => [kind, Object.fromEntries(FIGURES.map((f) => [f.key, medians[kind][f.key] / medians[base][f.key]]))]));
}

function table(medians, settings) {
  const kinds = settings.servers;
  const pairs = ratioPairs(kinds);
  const label = (f) => f.label.replace("STREAMS", String(settings.streams)).replace("SOCKETS", settings.sockets.toLocaleString("en-US"));
  const ratio = ([kind, base], f) => `${format(medians[kind][f.key] / medians[base][f.key], 2)}×`;
  const header = ["figure (median of " + settings.runs + (settings.runs === 1 ? " run" : " runs") + ")", ...kinds, ...pairs.map(([kind, base]) => `${kind}/${base}`)];
  const rows = [header, ...FIGURES.map((f) => [label(f), ...kinds.map((k) => format(medians[k][f.key], f.digits)), ...pairs.map((p) => ratio(p, f))])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  return [line(rows[0]), `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 1) + "-" : "-".repeat(w + 1) + ":")).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
}

/** The issue's targets, checked on the medians. */
function targets(m) {
  const k = m.klisk;
  const l = m.limit;
  const h = m["hand-rolled"];
  if (!k || !l) return [];
  const check = (name, ok, detail) => ({ name, met: ok, detail });
  const list = [
    check("JSON throughput ≥ 0.85× limit", k.jsonRps >= 0.85 * l.jsonRps, `${(k.jsonRps / l.jsonRps).toFixed(2)}×`),
    check("streams/s ≥ 0.85× limit", k.streamRps >= 0.85 * l.streamRps, `${(k.streamRps / l.streamRps).toFixed(2)}×`),
    check("TTFT p50 overhead < 1 ms", k.ttftP50 - l.ttftP50 < 1, `${(k.ttftP50 - l.ttftP50).toFixed(2)} ms`),
    check("200-token stream ≤ 1.15× limit", k.ttltP50 <= 1.15 * l.ttltP50, `${(k.ttltP50 / l.ttltP50).toFixed(2)}×`),
    check("RSS per open stream ≤ 1.2× limit", k.kbPerStream <= 1.2 * l.kbPerStream, `${(k.kbPerStream / l.kbPerStream).toFixed(2)}×`),
    check("≤ 40 KB per idle WebSocket", k.kbPerSocket <= 40, `${k.kbPerSocket.toFixed(1)} KB`),
    check("cold start ≤ 1.5× limit", k.coldStartMs <= 1.5 * l.coldStartMs, `${(k.coldStartMs / l.coldStartMs).toFixed(2)}×`),
  ];
  // Performance II (issue 18): against the wire, the floor without the SDK.
  const w = m.wire;
  if (w) {
    list.push(check("JSON throughput ≥ 0.5× wire", k.jsonRps >= 0.5 * w.jsonRps, `${(k.jsonRps / w.jsonRps).toFixed(2)}×`));
    list.push(check("streams/s ≥ 0.95× wire", k.streamRps >= 0.95 * w.streamRps, `${(k.streamRps / w.streamRps).toFixed(2)}×`));
    list.push(check("CPU per JSON request ≤ 2× wire", k.jsonCpuUs <= 2 * w.jsonCpuUs, `${(k.jsonCpuUs / w.jsonCpuUs).toFixed(2)}×`));
    list.push(check("cold start ≤ 1.5× wire", k.coldStartMs <= 1.5 * w.coldStartMs, `${(k.coldStartMs / w.coldStartMs).toFixed(2)}×`));
  }
  if (h) {
    list.push(check("JSON throughput ahead of hand-rolled", k.jsonRps > h.jsonRps, `${(k.jsonRps / h.jsonRps).toFixed(2)}× hand-rolled`));
    list.push(check("streams/s ahead of hand-rolled", k.streamRps > h.streamRps, `${(k.streamRps / h.streamRps).toFixed(2)}× hand-rolled`));
  }
  return list;
}

/** The protocol adapters should cost nothing measurable next to /api/chat. */
function protocolTargets(protocols) {
  if (!protocols) return [];
  return Object.keys(protocols)
    .filter((name) => name !== "klisk")
    .map((name) => {
      const ratio = protocols[name].streamRps / protocols.klisk.streamRps;
      return { name: `${name} streams/s ≥ 0.95× /api/chat`, met: ratio >= 0.95, detail: `${ratio.toFixed(2)}×` };
    });
}

async function main() {
  const settings = parseArgs(process.argv.slice(2));
  ensureFileLimit(settings.sockets * 2 + settings.streams * 3 + 1000);
  const started = Date.now();
  const dirs = { project: writeBenchProject(), template: writeTemplateProject() };
  const upstream = await startUpstream();
  const runs = [];
  try {
    for (let run = 1; run <= settings.runs; run++) {
      process.stderr.write(`run ${run}/${settings.runs}\n`);
      const figures = {};
      for (const kind of settings.servers) figures[kind] = await measureServer(kind, settings, upstream, dirs);
      const coldStarts = await measureColdStarts(settings.servers, settings, upstream, dirs);
      for (const kind of settings.servers) figures[kind].coldStartMs = coldStarts[kind];
      if (settings.servers.includes("klisk")) figures.protocols = await measureProtocols(settings, upstream, dirs);
      runs.push(figures);
    }
  } finally {
    await upstream.stop();
    for (const dir of [dirs.project, path.dirname(dirs.template)]) fs.rmSync(dir, { recursive: true, force: true });
  }

  const medians = {};
  for (const kind of settings.servers) {
    medians[kind] = {};
    for (const f of FIGURES) medians[kind][f.key] = median(runs.map((r) => r[kind][f.key]));
  }
  const protocols = runs[0].protocols && Object.fromEntries(
    Object.keys(PROTOCOLS).map((name) => [name, Object.fromEntries(["streamRps", "streamCpuUs", "ttftP50"].map((key) => [key, median(runs.map((r) => r.protocols[name][key]))]))]),
  );
  const checked = [...targets(medians), ...protocolTargets(protocols)];
  const output = table(medians, settings) + (protocols ? `\n\n${protocolTable(protocols)}` : "");
  process.stdout.write(`\n${output}\n\n`);
  if (checked.length > 0) {
    process.stdout.write("klisk targets:\n");
    for (const t of checked) process.stdout.write(`  ${t.met ? "met    " : "NOT met"}  ${t.name}: ${t.detail}\n`);
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  process.stdout.write(`\n${settings.runs} run(s) in ${seconds} s on ${os.cpus().length} × ${os.cpus()[0]?.model?.trim()}, Node ${process.version}\n`);

  const results = {
    generatedAt: new Date().toISOString(),
    machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model?.trim(), memoryGb: Math.round(os.totalmem() / 2 ** 30) },
    settings,
    figures: FIGURES.map(({ key, label, higher }) => ({ key, label, better: higher ? "higher" : "lower" })),
    medians,
    ratiosToWire: ratiosTo("wire", medians, settings.servers),
    ratiosToLimit: ratiosTo("limit", medians, settings.servers),
    protocols,
    targets: checked,
    runs,
    table: output,
  };
  fs.writeFileSync(path.join(__dirname, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
