/**
 * WebSocket endpoint /ws/chat. Upgrades are handled here (noServer) so other paths get a plain 404 and a
 * bad key gets the spec's `auth_error` frame plus close code 4001.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import { log as logger } from "../log";
import type { Project } from "../project/project";
import type { StateSigner } from "./stateSigning";
import { INVALID_KEY_MESSAGE, keyFromHeaders, type ApiKeys } from "./auth";
import { ORIGIN_REFUSED_MESSAGE, originAllowed } from "./cors";
import { corsOrigins, type ServerLimits, type TrustFn } from "./limits";
import { clientAddress, type RateLimiter } from "./rateLimit";
import { requestIdFrom } from "./requestLog";
import type { RunRegistry } from "./runs";
import { ChatSession } from "./wsSession";

export const WS_PATH = "/ws/chat";
export const CLOSE_AUTH_FAILED = 4001;
const CLOSE_GOING_AWAY = 1001;
const PING_INTERVAL_MS = 30_000;

export interface ChatSocketOptions {
  keys: ApiKeys;
  limits: ServerLimits;
  runs: RunRegistry;
  log: (message: string) => void;
  /** A client that has not answered the previous ping by the next one is dropped. */
  pingIntervalMs?: number;
  signer?: StateSigner;
  rateLimiter?: RateLimiter;
  /** server.trust_proxy compiled (limits.ts), so a client's address is found the same way as for REST. */
  trust?: TrustFn;
}

export interface ChatSocketServer {
  /** For `server.on("upgrade", ...)`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every client (their running turns are aborted). */
  close(): Promise<void>;
}

export function chatSocketServer(project: Project, options: ChatSocketOptions): ChatSocketServer {
  const { keys, limits, runs, log, signer, rateLimiter } = options;
  const trust = options.trust ?? (() => false);
  const origins = corsOrigins(project);
  // ws is loaded at the first upgrade, so a server that never sees a WebSocket does not pay for it at start-up.
  let wss: WebSocketServer | undefined;
  const server = (): WebSocketServer => {
    if (wss) return wss;
    const { WebSocketServer } = require("ws") as typeof import("ws");
    // A frame over maxPayload closes the socket with 1009 (Message Too Big) before we ever buffer it whole.
    wss = new WebSocketServer({ noServer: true, maxPayload: limits.wsMaxPayloadBytes });
    wss.on("connection", onConnection);
    return wss;
  };

  // Pings find peers that vanished without a close (sleeping laptops, dropped NATs) so their turns are aborted.
  // Each ping carries a fresh payload and only the pong that echoes it counts: a client that sends pongs of
  // its own accord while reading nothing (so never sees our pings) is still dropped.
  const unanswered = new WeakMap<WebSocket, Buffer>();
  const heartbeat = setInterval(() => {
    for (const client of wss?.clients ?? []) {
      if (unanswered.has(client)) {
        client.terminate();
        continue;
      }
      const payload = randomBytes(8);
      unanswered.set(client, payload);
      client.ping(payload);
    }
  }, options.pingIntervalMs ?? PING_INTERVAL_MS);
  heartbeat.unref();

  function onConnection(ws: WebSocket, req: IncomingMessage): void {
    ws.on("pong", (data) => {
      if (unanswered.get(ws)?.equals(data)) unanswered.delete(ws);
    });
    const reqId = requestIdFrom(req.headers["x-request-id"]);
    const key = keyFromRequest(req);
    const authorized = !keys.required || keys.matches(key);
    const session = authorized ? openSession(ws, req, key, reqId) : undefined;
    logConnection(ws, reqId, session);
    if (!authorized) {
      // Accept first: a browser cannot read an HTTP 401 on an upgrade, but it can read this frame and code.
      ws.send(JSON.stringify({ type: "auth_error", data: INVALID_KEY_MESSAGE }), () => ws.close(CLOSE_AUTH_FAILED, INVALID_KEY_MESSAGE));
    }
  }

  function openSession(ws: WebSocket, req: IncomingMessage, key: string | undefined, reqId: string): ChatSession {
    const rateLimit = rateLimiter ? { limiter: rateLimiter, budget: rateLimiter.budgetFor(key, clientAddress(req, trust)) } : undefined;
    return new ChatSession(ws, project, { limits, runs, log, signer, rateLimit, reqId });
  }

  return {
    handleUpgrade(req, socket, head) {
      socket.on("error", () => socket.destroy());
      if (pathOf(req) !== WS_PATH) return reject(socket, 404, "Not Found");
      // CORS does not apply to WebSockets: a page on any site may open one, so the Origin is checked here.
      if (!originAllowed(origins, req)) return reject(socket, 403, "Forbidden", `${ORIGIN_REFUSED_MESSAGE}: ${String(req.headers.origin)}`);
      if (runs.closing) return reject(socket, 503, "Service Unavailable");
      const wsServer = server();
      wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit("connection", ws, req));
    },
    close() {
      clearInterval(heartbeat);
      if (!wss) return Promise.resolve();
      const wsServer = wss;
      for (const client of wsServer.clients) client.close(CLOSE_GOING_AWAY, "Server shutting down");
      return new Promise((resolve) => {
        // Clients that never answer the close handshake are cut so shutdown cannot hang on them.
        const timer = setTimeout(() => wsServer.clients.forEach((c) => c.terminate()), 2000);
        timer.unref();
        wsServer.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/** One log line per connection, when it ends (like an HTTP request's; the URL is left out: it may hold `?key=`). */
function logConnection(ws: WebSocket, reqId: string, session: ChatSession | undefined): void {
  const started = performance.now();
  ws.once("close", (code) => {
    const durationMs = Math.round(performance.now() - started);
    logger.info({ reqId, method: "GET", path: WS_PATH, status: 101, durationMs, closeCode: code, turns: session?.turns ?? 0 }, "websocket");
  });
}

/** `?key=` (browsers cannot set headers on a WebSocket) or the usual Authorization / X-API-Key headers. */
function keyFromRequest(req: IncomingMessage): string | undefined {
  const key = new URL(req.url ?? "/", "http://localhost").searchParams.get("key");
  return key !== null && key !== "" ? key : keyFromHeaders(req.headers);
}

function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? "/", "http://localhost").pathname;
  } catch {
    return "";
  }
}

function reject(socket: Duplex, status: number, reason: string, error?: string): void {
  const body = error === undefined ? "" : JSON.stringify({ error });
  const type = error === undefined ? "" : "Content-Type: application/json; charset=utf-8\r\n";
  socket.once("finish", () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
