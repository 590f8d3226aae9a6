/**
 * WebSocket endpoint /ws/chat (under the router's mount prefix). Upgrades are handled here (noServer), with
 * the path rule of the Express routes (paths.ts); a bad key gets the spec's `auth_error` frame plus close
 * code 4001. Under `klisk serve` other paths get a plain 404; attached to a user's server, other paths are
 * left to the user's own upgrade listeners.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import { log as logger } from "../log";
import proxyAddr from "proxy-addr";
import { INVALID_KEY_MESSAGE, keyFromHeaders } from "./auth";
import type { ServerContext } from "./context";
import { ORIGIN_REFUSED_MESSAGE, originAllowed } from "./cors";
import { corsOrigins } from "./limits";
import { ROUTES, samePath, underPrefix } from "./paths";
import { requestIdFrom } from "./requestLog";
import { ChatSession } from "./wsSession";

export const WS_PATH = ROUTES.ws;
export const CLOSE_AUTH_FAILED = 4001;
const CLOSE_GOING_AWAY = 1001;
const PING_INTERVAL_MS = 30_000;

/** Decides which hop of X-Forwarded-For is the client: Express's compiled `trust proxy` (app.get("trust proxy fn")). */
export type TrustFn = (address: string, hop: number) => boolean;

export interface ChatSocketOptions {
  /** Where the router is mounted ("" or "/agent"); the endpoint is <prefix>/ws/chat. */
  prefix?: string;
  /** Answer upgrades to any other path with 404 (true under `klisk serve`, which owns the server). */
  rejectOtherPaths?: boolean;
  /** A client that has not answered the previous ping by the next one is dropped. */
  pingIntervalMs?: number;
  /** So a client's address is found the same way as Express finds req.ip for REST. */
  trust?: TrustFn;
}

export interface ChatSocketServer {
  /** For `server.on("upgrade", ...)`: false (socket untouched) for another path when rejectOtherPaths is off. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes every client (their running turns are aborted). */
  close(): Promise<void>;
}

export function chatSocketServer(context: ServerContext, options: ChatSocketOptions = {}): ChatSocketServer {
  const { project, keys, limits, runs, rateLimiter, metrics } = context;
  const trust = options.trust ?? (() => false);
  const origins = corsOrigins(project);
  const path = underPrefix(options.prefix ?? "", WS_PATH);
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
    ws.once("close", metrics.socketOpened());
    const reqId = requestIdFrom(req.headers["x-request-id"]);
    const key = keyFromRequest(req);
    const authorized = !keys.required || keys.matches(key);
    if (!authorized) metrics.rejected("auth");
    const session = authorized ? openSession(ws, req, key, reqId) : undefined;
    logConnection(ws, reqId, session, path);
    if (!authorized) {
      // Accept first: a browser cannot read an HTTP 401 on an upgrade, but it can read this frame and code.
      ws.send(JSON.stringify({ type: "auth_error", data: INVALID_KEY_MESSAGE }), () => ws.close(CLOSE_AUTH_FAILED, INVALID_KEY_MESSAGE));
    }
  }

  function openSession(ws: WebSocket, req: IncomingMessage, key: string | undefined, reqId: string): ChatSession {
    const rateLimit = rateLimiter ? { limiter: rateLimiter, budget: rateLimiter.budgetFor(key, proxyAddr(req, trust)) } : undefined;
    return new ChatSession(ws, context, { rateLimit, reqId });
  }

  return {
    handleUpgrade(req, socket, head) {
      if (!samePath(pathOf(req), path)) {
        if (!options.rejectOtherPaths) return false;
        socket.on("error", () => socket.destroy());
        reject(socket, 404, "Not Found");
        return true;
      }
      socket.on("error", () => socket.destroy());
      // CORS does not apply to WebSockets: a page on any site may open one, so the Origin is checked here.
      if (!originAllowed(origins, req)) reject(socket, 403, "Forbidden", `${ORIGIN_REFUSED_MESSAGE}: ${String(req.headers.origin)}`);
      else if (runs.closing) {
        metrics.rejected("draining");
        reject(socket, 503, "Service Unavailable");
      }
      else {
        const wsServer = server();
        wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit("connection", ws, req));
      }
      return true;
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
function logConnection(ws: WebSocket, reqId: string, session: ChatSession | undefined, path: string): void {
  const started = performance.now();
  ws.once("close", (code) => {
    const durationMs = Math.round(performance.now() - started);
    logger.info({ reqId, method: "GET", path, status: 101, durationMs, closeCode: code, turns: session?.turns ?? 0 }, "websocket");
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
