/**
 * WebSocket endpoint /ws/chat. Upgrades are handled here (noServer) so other paths get a plain 404 and a
 * bad key gets the spec's `auth_error` frame plus close code 4001.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Project } from "../project/project";
import { INVALID_KEY_MESSAGE, keyFromHeaders, type ApiKeys } from "./auth";
import type { ServerLimits } from "./limits";
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
}

export interface ChatSocketServer {
  /** For `server.on("upgrade", ...)`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every client (their running turns are aborted). */
  close(): Promise<void>;
}

export function chatSocketServer(project: Project, options: ChatSocketOptions): ChatSocketServer {
  const { keys, limits, runs, log } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxBodyBytes });

  // Pings find peers that vanished without a close (sleeping laptops, dropped NATs) so their turns are aborted.
  const alive = new WeakSet<WebSocket>();
  const heartbeat = setInterval(() => {
    for (const client of wss.clients) {
      if (!alive.has(client)) {
        client.terminate();
        continue;
      }
      alive.delete(client);
      client.ping();
    }
  }, options.pingIntervalMs ?? PING_INTERVAL_MS);
  heartbeat.unref();

  wss.on("connection", (ws: WebSocket, req: IncomingMessage) => {
    alive.add(ws);
    ws.on("pong", () => alive.add(ws));
    if (keys.required && !keys.matches(keyFromRequest(req))) {
      // Accept first: a browser cannot read an HTTP 401 on an upgrade, but it can read this frame and code.
      ws.send(JSON.stringify({ type: "auth_error", data: INVALID_KEY_MESSAGE }), () => ws.close(CLOSE_AUTH_FAILED, INVALID_KEY_MESSAGE));
      return;
    }
    new ChatSession(ws, project, { limits, runs, log });
  });

  return {
    handleUpgrade(req, socket, head) {
      socket.on("error", () => socket.destroy());
      if (pathOf(req) !== WS_PATH) return reject(socket, 404, "Not Found");
      if (runs.closing) return reject(socket, 503, "Service Unavailable");
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    },
    close() {
      clearInterval(heartbeat);
      for (const client of wss.clients) client.close(CLOSE_GOING_AWAY, "Server shutting down");
      return new Promise((resolve) => {
        // Clients that never answer the close handshake are cut so shutdown cannot hang on them.
        const timer = setTimeout(() => wss.clients.forEach((c) => c.terminate()), 2000);
        timer.unref();
        wss.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
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

function reject(socket: Duplex, status: number, reason: string): void {
  socket.once("finish", () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
