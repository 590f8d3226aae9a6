/** startServer: one http.Server carrying the Express app (app.ts) and the /ws/chat upgrade handler, with graceful shutdown. */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { KliskError } from "../errors";
import { log as logger } from "../log";
import type { Project } from "../project/project";
import { UNSIGNED_STATE_WARNING } from "./stateSigning";
import { createApp } from "./app";
import type { ApiKeys } from "./auth";
import { WORKER_HEADER } from "./cluster";
import { answerClientError } from "./clientError";
import { createServerContext } from "./context";
import { pathOf, sendJson } from "./handlers";
import { METRICS_PATH, type MetricsRecorder } from "./metrics";
import { samePath } from "./paths";
import type { ProjectHolder } from "./reload";
import { chatSocketServer } from "./ws";

export const DEFAULT_SHUTDOWN_TIMEOUT_S = 10;
/** After the runs are done: how long closing WebSockets and finishing responses may take before sockets are cut. */
const FLUSH_MS = 2000;
/** A request's headers must arrive within this (Node's default, 60 s, lets slow clients hold sockets longer). */
const HEADERS_TIMEOUT_MS = 20_000;
/**
 * Idle keep-alive connections stay open this long: longer than the 60 s idle timeout of common load
 * balancers, so it is they that close an idle connection, never we while they send a request on it.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface ListenOptions {
  port: number;
  host?: string;
  keys?: ApiKeys;
  /** How long close() lets runs in progress finish before aborting them ("Server shutting down"). */
  shutdownTimeoutMs?: number;
  /** Under `klisk serve --workers`: this worker's id, sent back in the X-Klisk-Worker header. */
  workerId?: number;
  /** Start with /health answering 503 "starting" until markReady() (cluster workers). */
  starting?: boolean;
  /** `klisk dev`: serve the holder's project, swapped on reload (reload.ts). */
  reload?: ProjectHolder;
}

export interface RunningServer {
  server: http.Server;
  /** Base URL for clients; `localhost` stands in for a wildcard host. */
  url: string;
  port: number;
  keys: ApiKeys;
  /** Graceful: stop accepting, let runs finish (up to the timeout), abort the rest, close WebSockets with 1001. */
  close(): Promise<void>;
  /** Ends the "starting" state: /health answers 200. */
  markReady(): void;
}

export async function startServer(project: Project, options: ListenOptions): Promise<RunningServer> {
  const host = options.host ?? "0.0.0.0";
  const context = createServerContext(project, { keys: options.keys, starting: options.starting, reload: options.reload, ownMetricsPort: true });
  const { keys, limits, runs } = context;
  if (!context.signer) logger.warn({}, UNSIGNED_STATE_WARNING);

  const app = await createApp(context);
  // noDelay: each SSE frame / WS message goes out at once instead of waiting to be coalesced (Nagle).
  const server = http.createServer({ noDelay: true }, app);
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  // Node's own bound on receiving a whole request, a backstop behind jsonBody's (which answers 408 in JSON first).
  server.requestTimeout = HEADERS_TIMEOUT_MS + limits.bodyTimeoutMs + 5000;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on("clientError", answerClientError);
  if (options.workerId !== undefined) {
    const id = String(options.workerId);
    server.prependListener("request", (_req: http.IncomingMessage, res: http.ServerResponse) => res.setHeader(WORKER_HEADER, id));
  }
  // The same context as the routes (one rate budget, one run limit) and the app's compiled `trust proxy`.
  const sockets = chatSocketServer(context, { rejectOtherPaths: true, trust: app.get("trust proxy fn") });
  server.on("upgrade", sockets.handleUpgrade);
  const unused = trackUnusedConnections(server);

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, options.port, host)));
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const metricsServer = context.metrics.port === undefined ? undefined : await listenForMetrics(context.metrics, context.metrics.port, host).catch(async (err) => {
    // Not half started: the API's port is released too.
    await new Promise((resolve) => server.close(resolve));
    throw err;
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const timeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_S * 1000;
      logger.info({ runs: runs.size, timeoutMs }, "Shutting down: waiting for runs in progress");
      // From here /health says "draining" and new work gets 503 (availability.ts). The listener stays open
      // while runs finish, so load balancers read that answer instead of a refused connection.
      await runs.drain(timeoutMs);
      // Node also closes the idle keep-alive connections here.
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      await sockets.close();
      // Keep-alive sockets become idle as their last responses end; close them as they do.
      const sweep = setInterval(() => {
        server.closeIdleConnections();
        for (const socket of unused) socket.destroy();
      }, 25);
      const cut = setTimeout(() => server.closeAllConnections(), FLUSH_MS);
      cut.unref();
      await serverClosed;
      metricsServer?.closeAllConnections();
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      clearInterval(sweep);
      clearTimeout(cut);
      // No run is left that could call an MCP tool: stop the servers' child processes and sessions.
      await project.mcp?.close();
      // Every span has ended: export them now rather than on the batch's timer (tracing on).
      await context.tracing?.flush();
      logger.info({}, "Server stopped");
    })());

  return { server, url: `http://${displayHost(host)}:${port}`, port, keys, close, markReady: () => context.readiness.ready() };
}

/**
 * deploy.metrics.port: GET /metrics alone, without a key (the port is meant to be reachable by the scraper
 * only), so the API's port does not serve it. Under --workers the workers share it like the API's port.
 */
async function listenForMetrics(metrics: MetricsRecorder, port: number, host: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const fail = (err?: unknown) => {
      if (err !== undefined) logger.error({ err: String(err) }, "Metrics scrape failed");
      sendJson(res, err === undefined ? 404 : 500, { error: err === undefined ? `Not found: ${req.method} ${pathOf(req)}` : "Internal server error" });
    };
    if (req.method === "GET" && samePath(pathOf(req), METRICS_PATH)) void metrics.handler(req, res, fail);
    else fail();
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const taken = err.code === "EADDRINUSE";
      reject(taken ? new KliskError("EADDRINUSE", `Port ${port} (deploy.metrics.port) is already in use. Stop the other process or choose another port.`) : listenError(err, port, host));
    });
    server.listen(port, host, () => resolve());
  });
  return server;
}

/**
 * Connections that have not sent a request yet (browsers and undici open spare ones). Node's
 * closeIdleConnections does not count them as idle, so shutdown would wait on them until the cut.
 */
function trackUnusedConnections(server: http.Server): Set<Socket> {
  const unused = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  server.on("request", (req: http.IncomingMessage) => unused.delete(req.socket as Socket));
  server.on("upgrade", (req: http.IncomingMessage) => unused.delete(req.socket as Socket));
  return unused;
}

/** What a person should type into a browser for this bind address. */
export function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string): Error {
  if (err.code === "EADDRINUSE") {
    return new KliskError("EADDRINUSE", `Port ${port} is already in use. Stop the other process or pass --port <n>.`);
  }
  if (err.code === "EACCES") {
    return new KliskError("EACCES", `Permission denied to listen on port ${port}. Use a port above 1023 or pass --port <n>.`);
  }
  if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND") {
    return new KliskError(err.code, `Cannot listen on host '${host}': no such address on this machine. Pass --host 0.0.0.0 or 127.0.0.1.`);
  }
  return err;
}
