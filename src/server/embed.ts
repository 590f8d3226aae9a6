/**
 * klisk in a user's own Express app: `app.use("/agent", await createKliskRouter("./my-agent"))`. The
 * router is the one `klisk serve` mounts (router.ts) over one ServerContext; the WebSocket endpoint attaches
 * to the user's http server under the same prefix, and close() drains both like `klisk serve` does.
 */
import type { Server } from "node:http";
import express, { type Router } from "express";
import { log } from "../log";
import { loadProject } from "../project/load";
import type { Project } from "../project/project";
import type { ApiKeys } from "./auth";
import { createServerContext, type ServerContext } from "./context";
import { trustProxy } from "./limits";
import { kliskRouter } from "./router";
import { UNSIGNED_STATE_WARNING } from "./stateSigning";
import { chatSocketServer, type ChatSocketServer, type TrustFn } from "./ws";

export interface KliskRouterOptions {
  /** Serve the chat page at the mount's `/` and `/widget.js` (still subject to deploy.chat / deploy.widget). Default true. */
  ui?: boolean;
  /** API keys; default: KLISK_API_KEY / KLISK_CHAT_KEY / KLISK_WIDGET_KEY after the project's .env was loaded. */
  keys?: ApiKeys;
}

export interface AttachOptions {
  /** The path the router is mounted at (`app.use("/agent", router)` → "/agent"); the endpoint is <prefix>/ws/chat. */
  prefix?: string;
  /**
   * Which X-Forwarded-For hop is the client, for the rate limit: pass your app's `app.get("trust proxy fn")`
   * so WebSocket clients are counted as Express counts REST ones. Default: server.trust_proxy of the project.
   */
  trust?: TrustFn;
}

export type KliskRouter = Router & {
  /** What the routes share (keys, limits, runs, ...). */
  readonly context: ServerContext;
  /** Serves `<prefix>/ws/chat` on your server; upgrades to other paths are left to your other listeners. */
  attachWebSocket(server: Server, options?: AttachOptions): void;
  /** Graceful: new work gets 503, runs in progress get up to `timeoutMs` to finish, WebSockets close with 1001. */
  close(timeoutMs?: number): Promise<void>;
};

/** A project directory (loaded as `klisk serve` loads it: klisk.config.yaml, .env, the entry) or a loaded project. */
export async function createKliskRouter(source: string | Project, options: KliskRouterOptions = {}): Promise<KliskRouter> {
  const project = typeof source === "string" ? await loadProject(source) : source;
  for (const warning of project.warnings) log.warn({}, warning);
  const context = createServerContext(project, { keys: options.keys });
  if (!context.signer) log.warn({}, UNSIGNED_STATE_WARNING);
  const router = kliskRouter(context, { ui: options.ui });
  const sockets: ChatSocketServer[] = [];

  return Object.assign(router, {
    context,
    attachWebSocket(server: Server, attach: AttachOptions = {}) {
      const endpoint = chatSocketServer(context, { prefix: attach.prefix, trust: attach.trust ?? compiledTrust(project) });
      server.on("upgrade", endpoint.handleUpgrade);
      sockets.push(endpoint);
    },
    async close(timeoutMs = 10_000) {
      await context.runs.drain(timeoutMs);
      await Promise.all(sockets.map((endpoint) => endpoint.close()));
    },
  });
}

/** server.trust_proxy compiled by Express itself (the `trust proxy fn` setting), as `klisk serve`'s app does. */
function compiledTrust(project: Project): TrustFn {
  return express().set("trust proxy", trustProxy(project)).get("trust proxy fn") as TrustFn;
}
