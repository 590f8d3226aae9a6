/** `klisk serve [dir]`: load the project, start the HTTP + WebSocket server, print where it listens. */
import cluster from "node:cluster";
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors";
import { configureLogger, isLogLevel, log, LOG_LEVELS } from "../log";
import { loadProject } from "../project/load";
import type { Project } from "../project/project";
import { ALL_READY_MESSAGE, parseWorkers, READY_MESSAGE, runPrimary, SHUTDOWN_MESSAGE } from "../server/cluster";
import { DEFAULT_SHUTDOWN_TIMEOUT_S, startServer, type RunningServer } from "../server/listen";
import type { ProjectHolder } from "../server/reload";
import { keepServingOnStrayErrors } from "../server/strayErrors";
import { stopTracing } from "../server/tracing/tracing";
import { reportError, styleFor } from "./output";

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = "0.0.0.0";

export interface ServeOptions {
  cwd: string;
  dir?: string;
  /** Raw --port / --host flag values. */
  port?: string;
  host?: string;
  /** Raw --shutdown-timeout (seconds) and --log-level flag values. */
  shutdownTimeout?: string;
  logLevel?: string;
  /** Raw --workers value: under it this process is one worker of a cluster (see server/cluster.ts). */
  workers?: string;
  stdout?: NodeJS.WriteStream;
  /** Called once the server listens, before the banner is printed and a cluster primary is told. */
  onListening?: (running: RunningServer) => void;
  /** `klisk dev`: the holder the server reads its project from, made from the loaded project. */
  reloadable?: (project: Project) => ProjectHolder;
  /** Human-readable log lines even when stderr is not a terminal (`klisk dev`). */
  prettyLogs?: boolean;
  /** How the project is loaded (default loadProject; `klisk dev` waits for a fix when it fails). */
  load?: (dir: string) => Promise<Project>;
}

/** The flags of `klisk serve`, as commander parses them (they are declared in main.ts). */
export interface ServeFlags {
  port?: string;
  host?: string;
  shutdownTimeout?: string;
  logLevel?: string;
  workers?: string;
}

/** What `klisk serve [dir]` runs. */
export async function serveCommand(dir: string, opts: ServeFlags): Promise<void> {
  try {
    const workers = workerCount(opts.workers);
    // The primary only supervises: each worker runs this same command and serves (cluster.isWorker).
    if (workers > 1 && cluster.isPrimary) process.exit(await runPrimary(workers));
    await serve({
      cwd: process.cwd(),
      dir,
      ...opts,
      // Before the banner: whoever acts on it (a test, a process manager) may signal at once.
      onListening: (running) => {
        const stop = stopOnSignals(running);
        // A tool's stray rejection must not end every stream in flight; a failure of klisk itself drains, exit 1.
        keepServingOnStrayErrors(() => stop("an uncaught error in klisk itself", 1));
      },
    });
  } catch (err) {
    // Exit now: a half-loaded entry file may have left timers or sockets that would keep us alive.
    process.exit(reportError(err));
  }
}

/** Loads the project and starts the server. Throws ConfigError / KliskError (port in use) for the CLI to report. */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const out = options.stdout ?? process.stdout;
  // A bad flag is reported before the (slower) project load.
  const flagPort = options.port !== undefined ? parsePort(options.port, "--port") : undefined;
  const shutdownTimeoutS = options.shutdownTimeout !== undefined ? parseSeconds(options.shutdownTimeout, "--shutdown-timeout") : DEFAULT_SHUTDOWN_TIMEOUT_S;
  if (options.logLevel !== undefined) {
    const level = options.logLevel.trim().toLowerCase();
    if (!isLogLevel(level)) throw new ConfigError(`Invalid --log-level ${JSON.stringify(options.logLevel)}: use one of ${LOG_LEVELS.join(", ")}.`);
    configureLogger({ level, pretty: options.prettyLogs });
  }
  const dir = path.resolve(options.cwd, options.dir ?? ".");
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError(`Project directory ${dir} does not exist`, "Pass the folder that holds klisk.config.yaml, or create one with `klisk init`.");
  }
  const project = await (options.load ?? loadProject)(dir);
  // After loadProject: the project's .env may set PORT / HOST (the shell still wins over it).
  const port = flagPort ?? envPort() ?? project.config.server.port ?? DEFAULT_PORT;
  const host = options.host ?? nonEmpty(process.env.HOST) ?? project.config.server.host ?? DEFAULT_HOST;
  // The project's .env may set KLISK_LOG_LEVEL; the flag (applied above) still wins.
  if (options.logLevel === undefined) configureLogger({ pretty: options.prettyLogs });
  // Through the logger like every other start-up message (KLISK_STATE_SECRET's, say): pretty on a terminal,
  // JSON lines otherwise, never two formats on one stream.
  for (const warning of project.warnings) log.warn({}, warning);
  const worker = cluster.isWorker ? cluster.worker : undefined;
  const running = await startServer(project, { port, host, shutdownTimeoutMs: shutdownTimeoutS * 1000, workerId: worker?.id, starting: worker !== undefined, reload: options.reloadable?.(project) });
  options.onListening?.(running);
  // One banner per cluster (its first worker), not one per process.
  if (!worker || worker.id === 1) printBanner(project, running, out, workerCount(options.workers));
  if (worker) {
    process.on("message", (message) => {
      if (message === ALL_READY_MESSAGE) running.markReady();
    });
    process.send?.(READY_MESSAGE);
  }
  return running;
}

function workerCount(raw: string | undefined): number {
  if (raw === undefined) return 1;
  const workers = parseWorkers(raw);
  if (workers === undefined) throw new ConfigError(`Invalid --workers ${JSON.stringify(raw)}: use a whole number of 1 or more, or auto (one per core).`);
  return workers;
}

function envPort(): number | undefined {
  const raw = nonEmpty(process.env.PORT);
  return raw === undefined ? undefined : parsePort(raw, "PORT");
}

/** 0 asks the OS for a free port (handy in scripts and tests). */
export function parsePort(raw: string, source: string): number {
  const value = raw.trim();
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`Invalid port ${JSON.stringify(raw)} from ${source}: use a whole number between 1 and 65535.`);
  }
  return port;
}

/** Seconds as a number >= 0 (0: abort runs at once on shutdown). */
function parseSeconds(raw: string, source: string): number {
  const value = Number(raw.trim());
  if (raw.trim() === "" || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(`Invalid ${source} ${JSON.stringify(raw)}: use a number of seconds, 0 or more.`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
}

/** The chat page and the widget's script tag, when they are served (the widget embeds the page). */
function uiLines(project: Project, url: string, keysRequired: boolean): string[] {
  const { chat, widget } = project.config.deploy;
  if (!chat.enabled) return [];
  // With keys on, the widget sends one: the widget key, which a host page shows to every visitor.
  const key = keysRequired ? ' data-key="<KLISK_WIDGET_KEY>"' : "";
  return [`  Chat page: ${url}/`, ...(widget.enabled ? [`  Widget: <script src="${url}/widget.js"${key} async></script>`] : [])];
}

function printBanner(project: Project, running: RunningServer, out: NodeJS.WriteStream, workers: number): void {
  const style = styleFor(out);
  const ws = running.url.replace(/^http/, "ws");
  const agents = project.agents.map((a, i) => `${style.bold(a.name)} ${style.dim(`(${a.model})`)}${i === 0 ? style.dim(" default") : ""}`);
  const auth = running.keys.required
    ? style.green(`on (${running.keys.count} ${running.keys.count === 1 ? "key" : "keys"})`)
    : `${style.yellow("off")} ${style.dim("— set KLISK_API_KEY to require a key")}`;
  const lines = [
    `${style.green("✓")} ${style.bold(project.name)} is running`,
    `  URL: ${style.cyan.bold(running.url)}`,
    `  Agents: ${agents.join(", ")}`,
    `  Endpoints: POST ${running.url}/api/chat · ${ws}/ws/chat · GET ${running.url}/health ${style.dim(`(GET /api/info lists them all)`)}`,
    ...uiLines(project, running.url, running.keys.required),
    `  Auth: ${auth}`,
    ...(workers > 1 ? [`  Workers: ${workers} ${style.dim("(processes sharing the port, restarted if they crash)")}`] : []),
    style.dim("  Press Ctrl+C to stop"),
  ];
  out.write(`${lines.join("\n")}\n`);
}

/**
 * SIGINT / SIGTERM: drain (runs in progress get --shutdown-timeout to finish, then end with an error event)
 * and exit 0; a second signal exits at once (code 1: the drain was cut short). Returns the same drain for
 * other reasons to stop, with their exit code.
 */
export function stopOnSignals(running: Pick<RunningServer, "close">): (reason: string, code?: number) => void {
  let stopping = false;
  const stop = (reason: string, code = 0) => {
    if (stopping) {
      log.warn({ reason }, "Second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, `Received ${reason}, shutting down (again to exit now)`);
    // Spans still buffered (tracing on) are exported before the process exits, whatever close() did.
    running
      .close()
      .finally(stopTracing)
      .then(
        () => process.exit(code),
        (err) => process.exit(reportError(err)),
      );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  // A cluster worker is asked to drain by its primary. The terminal's Ctrl+C may have reached it directly
  // too: the message is then not a second signal.
  process.on("message", (message) => {
    if (message === SHUTDOWN_MESSAGE && !stopping) stop("SIGTERM");
  });
  return stop;
}
