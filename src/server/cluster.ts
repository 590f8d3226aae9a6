/**
 * `klisk serve --workers N`: the primary process of a node:cluster. It runs no server itself: it forks N
 * workers (each a full `klisk serve` sharing the port, nothing else), starts a new one when a worker dies,
 * and on SIGTERM/SIGINT asks every worker to drain and exits once they all have. Workers share no memory:
 * conversation state travels with the client (or the provider's response id), so any worker serves any turn.
 */
import cluster, { type Worker } from "node:cluster";
import os from "node:os";
import { log } from "../log";

/**
 * Worker → primary: listening. Primary → worker: drain and exit; a message, not a signal, so a worker that
 * also got the terminal's Ctrl+C does not take it for a second, "exit now" signal.
 */
export const READY_MESSAGE = "klisk:ready";
export const SHUTDOWN_MESSAGE = "klisk:shutdown";
/** Primary → workers: every worker listens; /health may say ok (it says 503 "starting" until then). */
export const ALL_READY_MESSAGE = "klisk:all-ready";

/**
 * Worker → primary: a scrape of /metrics arrived; primary → that worker: every worker's series, aggregated
 * (prom-client's AggregatorRegistry, loaded in the primary only when a worker asks, i.e. metrics are on).
 */
export const METRICS_REQUEST = "klisk:metrics";
export const METRICS_REPLY = "klisk:metrics-reply";

export interface MetricsReply {
  type: typeof METRICS_REPLY;
  id: number;
  text?: string;
  error?: string;
}

/** `--workers`: a count, or `auto` for one per core. */
export function parseWorkers(raw: string): number | undefined {
  const value = raw.trim().toLowerCase();
  if (value === "auto") return os.availableParallelism();
  return /^\d+$/.test(value) && Number(value) >= 1 ? Number(value) : undefined;
}

/** The header naming the worker that served a response (only under --workers): load-balancing checks use it. */
export const WORKER_HEADER = "X-Klisk-Worker";

/** Starts the workers and resolves with the exit code once they have all stopped. */
export function runPrimary(workers: number): Promise<number> {
  return new Promise((resolve) => {
    const live = new Set<Worker>();
    const ready = new Set<Worker>();
    let started = false;
    let stopping = false;
    let exitCode = 0;

    const fork = () => live.add(cluster.fork());

    cluster.on("message", (worker, message) => {
      if ((message as { type?: unknown } | null)?.type === METRICS_REQUEST) return aggregateMetrics(worker, (message as { id: number }).id);
      if (message !== READY_MESSAGE || ready.has(worker)) return;
      ready.add(worker);
      // The first worker starts alone, so a broken project or a busy port is reported once, not N times.
      if (!started) {
        started = true;
        for (let i = 1; i < workers; i++) fork();
      }
      if (ready.size < workers) return;
      log.info({ workers, workerPids: [...ready].map((w) => w.process.pid) }, "All workers ready");
      // Also after a replacement worker has started: the others have it already, the newcomer needs it.
      for (const w of ready) if (w.isConnected()) w.send(ALL_READY_MESSAGE);
    });

    cluster.on("exit", (worker, code, signal) => {
      live.delete(worker);
      const wasReady = ready.delete(worker);
      if (stopping) {
        // A serving worker that could not drain cleanly makes the whole stop count as failed.
        if (wasReady && code !== 0) exitCode = 1;
        if (live.size === 0) resolve(exitCode);
        return;
      }
      if (!wasReady) {
        // It died while starting (it has printed why): a restart would fail the same way.
        log.error({ worker: worker.id, code, signal }, "A worker failed to start; stopping");
        exitCode = 1;
        stop();
        if (live.size === 0) resolve(exitCode);
        return;
      }
      log.warn({ worker: worker.id, workerPid: worker.process.pid, code, signal }, "Worker died; starting a new one");
      fork();
    });

    const stop = () => {
      stopping = true;
      for (const worker of live) {
        // A worker still starting has no drain to do (and may not listen for the message yet).
        if (ready.has(worker) && worker.isConnected()) worker.send(SHUTDOWN_MESSAGE);
        else worker.process.kill("SIGTERM");
      }
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, "Second signal: stopping the workers now");
        for (const worker of live) worker.process.kill("SIGKILL");
        return;
      }
      process.stderr.write(`\nReceived ${signal}, stopping ${live.size} worker(s) (again to stop now)...\n`);
      stop();
      if (live.size === 0) resolve(exitCode);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    fork();
  });
}

let aggregator: import("prom-client").AggregatorRegistry<import("prom-client").PrometheusContentType> | undefined;

/** Asks every worker for its series (prom-client's own messages) and sends the sum to the one scraped. */
function aggregateMetrics(worker: Worker, id: number): void {
  if (!aggregator) {
    const { AggregatorRegistry } = require("prom-client") as typeof import("prom-client");
    aggregator = new AggregatorRegistry();
  }
  const reply = (fields: Omit<MetricsReply, "type" | "id">) => {
    if (worker.isConnected()) worker.send({ type: METRICS_REPLY, id, ...fields } satisfies MetricsReply);
  };
  aggregator.clusterMetrics().then(
    (text) => reply({ text }),
    (err: Error) => reply({ error: err.message }),
  );
}
