/**
 * klisk's API as one `(request: Request) => Promise<Response>` (`klisk/fetch`), for hosts that speak the
 * web's Request and Response: Next.js route handlers, Hono, Bun.serve, Deno.serve. It is built on the same
 * ServerContext as `klisk serve` and klisk/express (keys, limits, run registry, rate limiter) and answers
 * as the Express routes do: /health, /api/info, POST /api/chat (JSON and SSE), /openapi.json, the JSON 404, CORS,
 * availability while draining. The edge runs in the router's order: request id and log line, CORS,
 * availability, then the route. Not here: the WebSocket endpoint and the chat page.
 */
import { RequestError } from "../errors";
import { log } from "../log";
import { loadProject } from "../project/load";
import type { Project } from "../project/project";
import type { ApiKeys } from "./auth";
import { CORS_MAX_AGE_S, CORS_METHODS, ORIGIN_REFUSED_MESSAGE, originAllowedFor } from "./cors";
import { createServerContext, type ServerContext } from "./context";
import { fetchOpenApiDocument } from "./openapi";
import { fetchChatRoute } from "./fetchChat";
import { corsOrigins } from "./limits";
import { ROUTES, samePath } from "./paths";
import { requestIdFrom } from "./requestLog";
import { apiInfo } from "./router";
import { SHUTTING_DOWN_MESSAGE } from "./runs";
import { UNSIGNED_STATE_WARNING } from "./stateSigning";
import { describeForClient } from "./statuses";

/** How long close() lets runs in progress finish by default (as klisk/express's close). */
const CLOSE_TIMEOUT_MS = 10_000;

export interface FetchHandlerOptions {
  /** Where the handler is mounted: with "/api/agent", POST /api/agent/api/chat is the chat route. Default: the root. */
  prefix?: string;
  /**
   * The client's address, for `limits.rate_limit` (e.g. Bun's `server.requestIP(request)?.address`, or the
   * X-Forwarded-For hop your proxy sets). A Request does not carry it: without this option every client
   * draws on one shared budget, "unknown" (per API key when a valid key is sent).
   */
  clientAddress?: (request: Request) => string | undefined;
  /** API keys; default: KLISK_API_KEY / KLISK_CHAT_KEY / KLISK_WIDGET_KEY after the project's .env was loaded. */
  keys?: ApiKeys;
}

export type FetchHandler = ((request: Request) => Promise<Response>) & {
  /** What the routes share (keys, limits, runs, ...). */
  readonly context: ServerContext;
  /** Graceful: new work gets 503, runs in progress get up to `timeoutMs` to finish, then are aborted. */
  close(timeoutMs?: number): Promise<void>;
};

/** One request as the routes see it. */
export interface FetchExchange {
  readonly request: Request;
  readonly reqId: string;
  /** What every answer carries (X-Request-Id, CORS), plus what a route adds (Retry-After, ...). */
  readonly headers: Headers;
  /** The agent that answers, for the log line. */
  agent?: string;
  /** A JSON answer with `headers` (no body for HEAD). */
  json(status: number, body: unknown): Response;
  /** For a streamed answer: the log line is written when the stream ends, by the function returned. */
  logAtEnd(): (cut: boolean) => void;
}

/** A project directory (loaded as `klisk serve` loads it: klisk.config.yaml, .env, the entry) or a loaded project. */
export async function createFetchHandler(source: string | Project, options: FetchHandlerOptions = {}): Promise<FetchHandler> {
  const project = typeof source === "string" ? await loadProject(source) : source;
  for (const warning of project.warnings) log.warn({}, warning);
  const context = createServerContext(project, { keys: options.keys, metrics: false });
  if (!context.signer) log.warn({}, UNSIGNED_STATE_WARNING);
  if (context.rateLimiter && !options.clientAddress) {
    log.warn({}, 'limits.rate_limit is set but createFetchHandler has no clientAddress option: all clients share one rate budget ("unknown")');
  }
  const prefix = normalisePrefix(options.prefix ?? "");
  const route = routes(context, options.clientAddress, prefix);

  const handler = async (request: Request): Promise<Response> => {
    const started = performance.now();
    const path = new URL(request.url).pathname; // never the query string: keys can live there
    const routePath = withinPrefix(path, prefix);
    const health = routePath !== undefined && samePath(routePath, ROUTES.health);
    const reqId = requestIdFrom(request.headers.get("x-request-id") ?? undefined);
    let deferred = false;
    const exchange: FetchExchange = {
      request,
      reqId,
      headers: new Headers({ "X-Request-Id": reqId }),
      json: (status, body) => jsonResponse(request, status, body, exchange.headers),
      logAtEnd() {
        deferred = true;
        return (cut) => logRequest(exchange, path, health, 200, started, cut);
      },
    };
    let response: Response;
    try {
      response = routePath === undefined ? exchange.json(404, { error: `Not found: ${request.method} ${path}` }) : await route(exchange, path, routePath);
    } catch (err) {
      response = errorResponse(exchange, path, err);
    }
    if (!deferred) logRequest(exchange, path, health, response.status, started, request.signal.aborted);
    return response;
  };

  return Object.assign(handler, {
    context,
    close: async (timeoutMs = CLOSE_TIMEOUT_MS) => {
      await context.runs.drain(timeoutMs);
      // A project this handler loaded is its own to stop (MCP child processes); one handed in is the caller's.
      if (typeof source === "string") await project.mcp?.close();
    },
  });
}

/** The edge and the routes, for a request under the mount; `routePath` is its path within the mount. */
function routes(context: ServerContext, clientAddress: FetchHandlerOptions["clientAddress"], prefix: string) {
  const { runs, readiness } = context;
  const origins = corsOrigins(context.project);
  const info = apiInfo(context);
  const chat = fetchChatRoute(context, clientAddress);
  // Built on its first request (deploy.openapi.enabled); /docs needs static files and is the router's only.
  const openapi = context.project.config.deploy.openapi.enabled ? fetchOpenApiDocument(context, prefix) : undefined;

  return async function route(ex: FetchExchange, path: string, routePath: string): Promise<Response> {
    const { request } = ex;
    const method = request.method;

    // CORS (cors.ts): a listed-origins policy refuses other origins outright; preflights end here.
    const origin = request.headers.get("origin") ?? undefined;
    if (!originAllowedFor(origins, origin, request.headers.get("host") ?? new URL(request.url).host)) {
      return ex.json(403, { error: `${ORIGIN_REFUSED_MESSAGE}: ${String(origin)}` });
    }
    addCorsHeaders(ex.headers, origins, origin);
    if (method === "OPTIONS") return preflight(ex);

    // Availability (availability.ts): 503 while starting (/health only) or draining (everything).
    const health = samePath(routePath, ROUTES.health);
    if (readiness.isStarting && health) {
      ex.headers.set("Retry-After", "1");
      return ex.json(503, { status: "starting" });
    }
    if (runs.closing) {
      ex.headers.set("Retry-After", "5");
      return ex.json(503, health ? { status: "draining" } : { error: SHUTTING_DOWN_MESSAGE });
    }

    const read = method === "GET" || method === "HEAD"; // as Express, a GET route answers HEAD too
    if (read && health) return ex.json(200, { status: "ok" });
    if (read && samePath(routePath, ROUTES.info)) return ex.json(200, info);
    if (read && openapi && samePath(routePath, ROUTES.openapi)) return ex.json(200, await openapi());
    if (method === "POST" && samePath(routePath, ROUTES.chat)) return chat(ex);
    return ex.json(404, { error: `Not found: ${method} ${path}` });
  };
}

/** The headers the cors package sets on an actual request: `*`, or the origin echoed when it is listed. */
function addCorsHeaders(headers: Headers, origins: readonly string[], origin: string | undefined): void {
  if (origins.includes("*")) {
    headers.set("Access-Control-Allow-Origin", "*");
    return;
  }
  if (origin !== undefined && origins.includes(origin)) headers.set("Access-Control-Allow-Origin", origin);
  headers.append("Vary", "Origin");
}

/** Any OPTIONS is answered as a preflight (as the cors package does): 204, requested headers reflected. */
function preflight(ex: FetchExchange): Response {
  const { headers, request } = ex;
  headers.set("Access-Control-Allow-Methods", CORS_METHODS.join(","));
  headers.append("Vary", "Access-Control-Request-Headers");
  const requested = request.headers.get("access-control-request-headers");
  if (requested) headers.set("Access-Control-Allow-Headers", requested);
  headers.set("Access-Control-Max-Age", String(CORS_MAX_AGE_S));
  headers.set("Content-Length", "0");
  return new Response(null, { status: 204, headers });
}

function jsonResponse(request: Request, status: number, body: unknown, headers: Headers): Response {
  const json = JSON.stringify(body);
  headers.set("Content-Type", "application/json; charset=utf-8");
  if (request.method !== "HEAD") return new Response(json, { status, headers });
  headers.set("Content-Length", String(new TextEncoder().encode(json).byteLength));
  return new Response(null, { status, headers });
}

/** errorHandler.ts for this handler: statuses.ts says what the client is told; failures of ours are logged. */
function errorResponse(ex: FetchExchange, path: string, err: unknown): Response {
  const { status, message } = describeForClient(err);
  // A RequestError (busy, shutting down, a bad body) is an answer we chose, not a failure to log.
  if (status >= 500 && !(err instanceof RequestError)) {
    log.error({ err: err instanceof Error ? err.stack ?? err.message : String(err), method: ex.request.method, path }, "Unhandled error");
  }
  return ex.json(status, { error: message });
}

/** requestLog.ts's line: id, method, path, status, duration, the agent that answered, and whether the client left early. */
function logRequest(ex: FetchExchange, path: string, health: boolean, status: number, started: number, aborted: boolean): void {
  const fields: Record<string, unknown> = {
    reqId: ex.reqId,
    method: ex.request.method,
    path,
    status,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
  };
  if (ex.agent !== undefined) fields.agent = ex.agent;
  if (aborted) fields.aborted = true;
  // Load balancers poll /health every few seconds; those lines are only wanted when debugging.
  if (health) log.debug(fields, "request");
  else log.info(fields, "request");
}

/** "/api/agent/" → "/api/agent"; "" and "/" → "" (the root). */
function normalisePrefix(prefix: string): string {
  const trimmed = prefix.trim().replace(/\/+$/, "");
  return trimmed === "" || trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

/** The path within the mount (matched case-insensitively, as Express mounts are), or undefined outside it. */
function withinPrefix(path: string, prefix: string): string | undefined {
  if (prefix === "") return path;
  if (path.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) return undefined;
  const rest = path.slice(prefix.length);
  if (rest !== "" && !rest.startsWith("/")) return undefined; // "/api/agentx" is not under "/api/agent"
  return rest === "" ? "/" : rest;
}
