/**
 * The whole API as one Express router: /health, /api/info, POST /api/chat and (unless `ui: false`) the chat
 * page, its files and /widget.js. `klisk serve` mounts it at the root of its app; users mount it under a
 * prefix of their own app (klisk/express). Middleware order is the cost order: cheap refusals (CORS,
 * draining, rate limit, auth) come before reading a body, and an unauthenticated client never makes us
 * read 30 MB. Every handler is built here once; nothing is built per request.
 */
import express, { type Router } from "express";
import { a2aError, a2aRoute, agentCardRoute } from "./a2a";
import { agUiRoute } from "./agUi";
import { aiSdkRoute } from "./aiSdk";
import { auth } from "./auth";
import { availability } from "./availability";
import { chatRoute } from "./chat";
import type { Project } from "../project/project";
import type { ServerContext } from "./context";
import { cors } from "./cors";
import { errorHandler } from "./errorHandler";
import { sendJson, shapeErrors, type Handler } from "./handlers";
import { jsonBody } from "./jsonBody";
import { mcpError, mcpRoute } from "./mcp";
import { METRICS_PATH } from "./metrics";
import { openApiRoutes } from "./openapi";
import { completionsRoute, modelsRoute, openaiError } from "./openaiCompat";
import { corsOrigins } from "./limits";
import { ROUTES } from "./paths";
import { requestLog } from "./requestLog";
import { uiInfo, uiRoutes } from "./ui";

export interface RouterOptions {
  /** Serve the chat page at / and /widget.js (each still subject to deploy.chat / deploy.widget). Default true. */
  ui?: boolean;
  /** Run the edge middleware (request log, CORS, draining) first. Default true; false when the app runs it already. */
  edge?: boolean;
}

/** What every request meets first: its log line and id, its span, CORS, and 503 while draining or starting. */
export function edgeMiddleware({ project, runs, readiness, metrics, tracing }: ServerContext): Handler[] {
  // The request's span (tracing on) starts after its log line and id, which it records, and before any refusal.
  return [requestLog(metrics), ...(tracing ? [tracing.requestSpan] : []), cors(corsOrigins(project)), availability(runs, readiness)];
}

export function kliskRouter(context: ServerContext, options: RouterOptions = {}): Router {
  const { project, keys, limits, rateLimiter, pendingBodies } = context;
  const router = express.Router();
  if (options.edge !== false) router.use(edgeMiddleware(context));

  router.get(ROUTES.health, (_req, res) => sendJson(res, 200, { status: "ok" }));
  const info = { ...apiInfo(context), endpoints: { ...ENDPOINTS, ...optionalEndpoints(project) } };
  router.get(ROUTES.info, (_req, res) => sendJson(res, 200, info));

  // Every route that runs the agent meets the same guards. Rate limit first: guessing keys draws on the
  // budget too.
  const body = jsonBody({ maxBytes: limits.maxBodyBytes, timeoutMs: limits.bodyTimeoutMs, pending: pendingBodies });
  const limited = (...route: Handler[]): Handler[] => [...(rateLimiter ? [rateLimiter.middleware as Handler] : []), ...route];
  const guarded = (...route: Handler[]): Handler[] => limited(auth(keys), ...route);
  router.post(ROUTES.chat, ...guarded(body, chatRoute(context)));
  // The same runner over other clients' protocols (docs/api.md).
  router.post(ROUTES.aiSdk, ...guarded(body, aiSdkRoute(context)));
  router.post(ROUTES.agUi, ...guarded(body, agUiRoute(context)));
  router.use("/v1", shapeErrors(openaiError));
  router.get(ROUTES.openaiModels, ...guarded(modelsRoute(context)));
  router.post(ROUTES.openaiChat, ...guarded(body, completionsRoute(context)));
  if (project.config.deploy.mcp.enabled) {
    const mcp = mcpRoute(context);
    router.use(ROUTES.mcp, shapeErrors(mcpError));
    router.post(ROUTES.mcp, ...guarded(body, mcp));
    router.get(ROUTES.mcp, ...guarded(mcp));
    router.delete(ROUTES.mcp, ...guarded(mcp));
  }
  // Scrapers send the operator's key (KLISK_API_KEY; the public widget key must not open it); rate-limited
  // too, so guessing keys here costs the same budget.
  if (context.metrics.enabled && context.metrics.port === undefined) router.get(METRICS_PATH, ...limited(auth(keys, "operator"), context.metrics.handler));
  if (project.config.deploy.a2a.enabled) {
    // The card is public, like /api/info: it says which key scheme /a2a wants.
    router.get(ROUTES.agentCard, agentCardRoute(context));
    router.use(ROUTES.a2a, shapeErrors(a2aError));
    router.post(ROUTES.a2a, ...guarded(body, a2aRoute(context)));
  }

  // Public like /api/info; after the agent routes, so a chat request never walks these. The document is built
  // on its first request, never at start-up.
  if (project.config.deploy.openapi.enabled) router.use(openApiRoutes(context, { ui: options.ui !== false }));
  if (options.ui !== false) router.use(uiRoutes(project));
  router.use(errorHandler());
  return router;
}

/** What this router serves (relative to where it is mounted), for GET /api/info. */
export const ENDPOINTS = {
  chat: ROUTES.chat,
  websocket: ROUTES.ws,
  ai_sdk: ROUTES.aiSdk,
  ag_ui: ROUTES.agUi,
  openai_chat_completions: ROUTES.openaiChat,
  openai_models: ROUTES.openaiModels,
} as const;

/** The endpoints a project can switch off (deploy.mcp, deploy.a2a, deploy.openapi), when on. */
export function optionalEndpoints({ config }: Project) {
  return {
    ...(config.deploy.mcp.enabled ? { mcp: ROUTES.mcp } : {}),
    ...(config.deploy.a2a.enabled ? { a2a: ROUTES.a2a, agent_card: ROUTES.agentCard } : {}),
    ...(config.deploy.openapi.enabled ? { openapi: ROUTES.openapi, docs: ROUTES.docs } : {}),
  };
}

/** The whole GET /api/info body (this router's and the fetch handler's): the project's part and the UI's. */
export function apiInfo(context: Pick<ServerContext, "project" | "keys">) {
  return { ...projectInfo(context), ...uiInfo(context.project) };
}

/** GET /api/info: the project, its agents and whether a key is needed. */
export function projectInfo({ project, keys }: Pick<ServerContext, "project" | "keys">) {
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
