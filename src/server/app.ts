/**
 * createApp: the HTTP request handler. Every request runs the common chain (request log, CORS,
 * availability); the API routes then run their own chains on plain node:http (handlers.ts), and everything
 * else (the chat page, widget.js, the JSON 404) goes to an Express app that is built on first use, so a
 * server that only answers the API never loads Express. Each middleware lives in its own file.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Express } from "express";
import { log } from "../log";
import type { Project } from "../project/project";
import { auth, loadApiKeys, type ApiKeys } from "./auth";
import { availability, type Readiness } from "./availability";
import { chatRoute } from "./chat";
import { cors } from "./cors";
import { errorHandler, notFound } from "./errorHandler";
import { pathOf, runChain, sendJson, type Handler } from "./handlers";
import { jsonBody, PendingBodies } from "./jsonBody";
import { stateSigner, type StateSigner } from "./stateSigning";
import { corsOrigins, resolveServerLimits, trustFn, type ServerLimits } from "./limits";
import { createRateLimiter, type RateLimiter } from "./rateLimit";
import { requestLog } from "./requestLog";
import { RunRegistry } from "./runs";
import { uiInfo, uiRoutes } from "./ui";

export type Logger = (message: string) => void;

export interface AppOptions {
  /** Defaults to the KLISK_*_KEY variables as they are now (after the project's .env was loaded). */
  keys?: ApiKeys;
  limits?: ServerLimits;
  /** Shared with the WebSocket server so both count toward the same limit and stop together. */
  runs?: RunRegistry;
  log?: Logger;
  /** Signs returned states and checks returned ones. Defaults to KLISK_STATE_SECRET; null turns signing off. */
  signer?: StateSigner | null;
  /** Shared with the WebSocket server (one budget per client). Defaults to limits.rateLimit; null turns it off. */
  rateLimiter?: RateLimiter | null;
  /** While it says starting, /health answers 503 (cluster workers before all are up). */
  readiness?: Readiness;
}

export type App = (req: IncomingMessage, res: ServerResponse) => void;

export const defaultLogger: Logger = (message) => log.error({}, message);

export function createApp(project: Project, options: AppOptions = {}): App {
  const keys = options.keys ?? loadApiKeys();
  const limits = options.limits ?? resolveServerLimits(project);
  const runs = options.runs ?? new RunRegistry(limits.maxConcurrentRuns, limits.runTimeoutMs);
  const log = options.log ?? defaultLogger;
  const signer = options.signer === undefined ? stateSigner() : options.signer ?? undefined;
  const rateLimiter = options.rateLimiter === undefined ? defaultRateLimiter(project, limits, keys) : options.rateLimiter ?? undefined;

  const common: Handler[] = [requestLog(), cors(corsOrigins(project)), availability(runs, options.readiness)];
  // Rate limit, then auth, before body parsing: an unauthenticated client must not make us read a 30 MB body.
  const body = { maxBytes: limits.maxBodyBytes, timeoutMs: limits.bodyTimeoutMs, pending: new PendingBodies(limits.maxPendingBodyBytes) };
  const chat: Handler[] = [auth(keys), jsonBody(body), chatRoute(project, { limits, runs, log, signer })];
  const routes = new Map<string, readonly Handler[]>([
    ["GET /health", [(_req, res) => sendJson(res, 200, { status: "ok" })]],
    ["GET /api/info", [(_req, res) => sendJson(res, 200, { ...projectInfo(project, keys), ...uiInfo(project) })]],
    ["POST /api/chat", rateLimiter ? [rateLimiter.middleware, ...chat] : chat],
  ]);
  const onError = errorHandler(log);
  const pages = lazyPages(project, log);

  return function app(req, res) {
    const fail = (err: unknown) => {
      try {
        onError(err, req, res, () => undefined);
      } catch (failure) {
        // Never let an error escape as an unhandled rejection (it would end the process): cut this response.
        log(`Error handler failed on ${req.method} ${pathOf(req)}: ${String(failure)}`);
        res.destroy();
      }
    };
    runChain(common, req, res, fail, () => {
      const route = routes.get(routeKey(req));
      if (route === undefined) return pages()(req, res);
      runChain(route, req, res, fail, () => fail(new Error(`${routeKey(req)}: no handler answered`)));
    });
  };
}

/** "METHOD /path", matched as Express did: HEAD as GET, case-insensitive, one trailing slash ignored. */
function routeKey(req: IncomingMessage): string {
  const method = req.method === "HEAD" ? "GET" : req.method;
  let path = pathOf(req).toLowerCase();
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return `${method} ${path}`;
}

/** The chat page at /, its files under /ui/, /widget.js (each can be disabled in deploy.*) and the JSON 404. */
function lazyPages(project: Project, log: Logger): () => Express {
  let pages: Express | undefined;
  return () => {
    if (pages) return pages;
    // Loaded here, not at start-up: Express is a good part of a cold start and the API does not use it.
    const express = require("express") as typeof import("express");
    pages = express();
    pages.disable("x-powered-by");
    pages.set("etag", false);
    pages.use(uiRoutes(project));
    pages.use(notFound());
    pages.use(errorHandler(log));
    return pages;
  };
}

export function defaultRateLimiter(project: Project, limits: ServerLimits, keys: ApiKeys): RateLimiter | undefined {
  return limits.rateLimit ? createRateLimiter(limits.rateLimit, keys, trustFn(project)) : undefined;
}

export function projectInfo(project: Project, keys: ApiKeys) {
  return {
    name: project.name,
    agent: project.agents[0]?.name,
    auth_required: keys.required,
    agents: project.agents.map((agent) => ({
      name: agent.name,
      model: agent.model,
      tools: [...agent.tools.map((t) => t.name), ...agent.builtinTools],
      handoffs: [...agent.handoffs],
    })),
  };
}
