/**
 * `npm run soak`: a bounded soak of `klisk serve` (the built dist/, as a child process) against the loopback
 * fake upstream. 10,000 chats with bounded concurrency mix SSE, JSON (multi-turn with signed state), tools,
 * WebSocket sessions with cancels, client disconnects mid-stream, upstream failures and bad input. Prints
 * what was served, outcomes by kind, and the server's memory; exits 1 if RSS (or the live heap after full
 * GCs) grew more than 20% after warm-up, any chat had an unexpected outcome (an unexpected 5xx above all),
 * or the server did not shut down cleanly. Loopback only; every loop is bounded in count and time.
 */
import os from "node:os";
import { startFakeOpenAI, type RecordedRequest } from "../tests/helpers/fakeOpenAI";
import * as scenarios from "./soakScenarios";
import type { Outcome, Target } from "./soakScenarios";
import { rssMb, startSoakServer } from "./soakServer";

const TOTAL_CHATS = Number(process.env.SOAK_CHATS ?? 10_000);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 32);
/**
 * V8 keeps growing its heap reservation for the first few thousand chats while the live heap stays flat:
 * half the run. (A 20,000-chat run on 2 cores: RSS 165 → 226 MB by 4,000 chats, then 236–244 MB to the end,
 * live heap 31–33 MB throughout. With a quarter, a 10,000-chat run compared the plateau with a point on
 * the climb and failed for no leak.) The live-heap check below is the finer leak detector.
 */
const WARM_UP_CHATS = Math.floor(TOTAL_CHATS / 2);
const MAX_GROWTH = 0.2;
const TIME_LIMIT_MS = 15 * 60_000;
const SLOW_TEXT = Array.from({ length: 60 }, (_, i) => `slow${i}`).join(" ");

function lastUserText(body: any): string {
  const input = Array.isArray(body?.input) ? body.input : [];
  const last = input[input.length - 1];
  if (last?.role !== "user") return "";
  const parts = Array.isArray(last.content) ? last.content : [];
  return parts.filter((p: any) => p?.type === "input_text").map((p: any) => p.text).join("");
}

/** Scenario by index: a fixed mix, so every run does the same work (shares are of 20 slots). */
function scenarioFor(i: number, target: Target): Promise<Outcome[]> {
  switch (i % 20) {
    case 6: case 7: case 8: return scenarios.jsonChat(target, `json ${i}`); // 15% JSON
    case 9: case 10: return scenarios.jsonConversation(target, i); // 10% two-turn JSON with signed state
    case 11: return scenarios.sseChat(target, `tool: ${i}`); // 5% a tool call
    case 12: return i % 40 === 12 ? scenarios.upstreamFailureJson(target, i) : scenarios.sseChat(target, `fail: ${i}`, true); // 5% upstream 500
    case 13: case 14: return scenarios.disconnectMidStream(target, i); // 10% client hangs up mid-stream
    case 15: case 16: return scenarios.badInput(target, i); // 10% bad input
    case 17: return scenarios.wsSession(target, i); // 5% WebSocket sessions (4 chats each)
    default: return scenarios.sseChat(target, `hello ${i}`); // 40% plain SSE
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const fake = await startFakeOpenAI();
  const slowRequests = new Map<string, RecordedRequest>();
  fake.onRequest = (body, rec) => {
    const text = lastUserText(body);
    if (text.startsWith("slow:")) {
      slowRequests.set(text, rec);
      return { text: SLOW_TEXT, delayMs: 5 };
    }
    if (text.startsWith("fail:")) return { httpError: { status: 500, message: "soak upstream failure" } };
    if (text.startsWith("tool:")) return { toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] };
    return undefined; // the default echo (and "Tool said: ..." after a tool)
  };
  const server = await startSoakServer(fake.url);
  const rss = { start: rssMb(server.pid), warm: 0, peak: 0, end: 0, samples: [] as number[] };
  let heapAtWarmUp = 0; // how many full-GC readings existed at warm-up

  const seed = await fetch(`${server.url}/api/chat`, { method: "POST", body: JSON.stringify({ message: "seed", stream: false }) });
  const target: Target = { url: server.url, signedState: ((await seed.json()) as any).state, slowRequests };
  const counts = new Map<string, number>();
  let chats = 0;
  let unexpected = 0;
  let unexpected5xx = 0;
  let nextIndex = 0;
  let timedOut = false;

  const worker = async () => {
    while (chats < TOTAL_CHATS) {
      if (Date.now() - started > TIME_LIMIT_MS) return void (timedOut = true);
      let outcomes: Outcome[];
      try {
        outcomes = await scenarioFor(nextIndex++, target);
      } catch (err) {
        outcomes = [{ kind: `client-error ${(err as Error).message}`, unexpected: true }];
      }
      for (const outcome of outcomes) {
        chats++;
        counts.set(outcome.kind, (counts.get(outcome.kind) ?? 0) + 1);
        if (outcome.unexpected) unexpected++;
        if (outcome.unexpected && (outcome.status ?? 0) >= 500) unexpected5xx++;
      }
      if (rss.warm === 0 && chats >= WARM_UP_CHATS) {
        rss.warm = rssMb(server.pid);
        heapAtWarmUp = server.heapAfterGc.length;
      }
      if (chats % 1000 < outcomes.length) {
        rss.samples.push(rssMb(server.pid));
        fake.requests.length = 0; // the fake's own record, not the server's memory
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await new Promise((r) => setTimeout(r, 2000)); // let aborted runs and closing sockets settle
  rss.end = rssMb(server.pid);
  rss.peak = Math.max(rss.end, ...rss.samples);
  const served = server.logs.served;
  server.child.kill("SIGTERM");
  const exitCode = await server.exited;
  await fake.close();

  const growth = (rss.end - rss.warm) / rss.warm;
  const heap = server.heapAfterGc;
  const heapWarm = heap[Math.max(0, heapAtWarmUp - 1)];
  const heapAfter = heap.slice(heapAtWarmUp);
  const heapGrowth = heapAfter.length > 0 && heapWarm ? (Math.max(...heapAfter) - heapWarm) / heapWarm : 0;
  const mb = (n: number) => `${n.toFixed(1)} MB`;
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
  const level = (n: number) => server.logs.byLevel.get(n) ?? 0;
  const lines = [
    `klisk soak: ${chats.toLocaleString("en")} chats, concurrency ${CONCURRENCY}, ${((Date.now() - started) / 1000).toFixed(1)} s (node ${process.version}, ${os.cpus().length} cores)`,
    `requests served (server's log lines: HTTP requests + WebSocket sessions): ${served.toLocaleString("en")}`,
    "outcomes by kind:",
    ...[...counts.entries()].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `  ${kind.padEnd(48)} ${String(n).padStart(6)}`),
    `unexpected outcomes: ${unexpected} (unexpected 5xx: ${unexpected5xx})${timedOut ? " (TIME LIMIT REACHED)" : ""}`,
    `server RSS: start ${mb(rss.start)}, after warm-up (${WARM_UP_CHATS.toLocaleString("en")} chats) ${mb(rss.warm)}, peak ${mb(rss.peak)}, end ${mb(rss.end)} (${pct(growth)} after warm-up; limit +${MAX_GROWTH * 100}%)`,
    `server RSS every 1,000 chats (MB): ${rss.samples.map((n) => n.toFixed(0)).join(" ")}`,
    heap.length > 0
      ? `server live heap after full GCs (MB): ${heap.map((n) => n.toFixed(0)).join(" ")} (max after warm-up ${pct(heapGrowth)} vs warm-up)`
      : "server live heap: no full GC seen (run with SOAK_NODE_ARGS=--trace-gc)",
    `server log lines: ${server.logs.lines.toLocaleString("en")} (info ${level(30)}, warn ${level(40)}, error ${level(50) + level(60)})`,
    ...server.logs.errors.map((line) => `  error line: ${line.slice(0, 300)}`),
    `shutdown on SIGTERM: exit code ${exitCode}`,
  ];
  const failures = [
    growth > MAX_GROWTH && `RSS grew ${pct(growth)} after warm-up`,
    heapGrowth > MAX_GROWTH && `live heap grew ${pct(heapGrowth)} after warm-up`,
    unexpected > 0 && `${unexpected} unexpected outcomes`,
    timedOut && "time limit reached",
    exitCode !== 0 && `server exited with ${exitCode}`,
  ].filter(Boolean);
  console.log([...lines, failures.length ? `FAIL: ${failures.join("; ")}` : "PASS"].join("\n"));
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
