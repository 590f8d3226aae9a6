/**
 * One structured line per HTTP request: request id, method, path, status, duration, the agent that
 * answered, the tokens its run used (`usage`, when the provider reported them) and, when tracing is on, the
 * trace id. A client's `X-Request-Id` is kept (when it looks like an id) so logs join up across proxies,
 * and returned either way. Only the path is logged, never the query string or headers: keys live there.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { log } from "../log";
import { pathOf, routePathOf, type Handler } from "./handlers";
import { NULL_METRICS, type MetricsRecorder } from "./metrics";
import { ROUTES, samePath } from "./paths";
import type { RunUsage } from "../runner/events";
import { toWireUsage, type WireUsage } from "./usage";

/** Ids we pass through as given: short, and nothing that could forge a log line or header. */
const CLIENT_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

export function requestIdFrom(header: unknown): string {
  return typeof header === "string" && CLIENT_ID.test(header) ? header : randomUUID();
}

/** What the log line says about a response beyond its status: its id, the agent that answered, its run's tokens and trace. */
interface RequestNotes {
  id: string;
  agent?: string;
  usage?: WireUsage;
  traceId?: string;
}
const notes = new WeakMap<ServerResponse, RequestNotes>();

/** The id the request log uses for this response (set by requestLog). */
export function requestIdOf(res: ServerResponse): string | undefined {
  return notes.get(res)?.id;
}

/** Names the agent that answered, for the request's log line. */
export function noteAgent(res: ServerResponse, agent: string): void {
  const note = notes.get(res);
  if (note) note.agent = agent;
}

/** The tokens the request's run used (called once, as the run ends). */
export function noteUsage(res: ServerResponse, usage: RunUsage): void {
  const note = notes.get(res);
  if (note) note.usage = toWireUsage(usage);
}

/** The request's trace (tracing on): its id joins the log line to the trace. */
export function noteTraceId(res: ServerResponse, traceId: string): void {
  const note = notes.get(res);
  if (note) note.traceId = traceId;
}

export function requestLog(metrics: MetricsRecorder = NULL_METRICS): Handler {
  return function requestLog(req, res, next) {
    const note: RequestNotes = { id: requestIdFrom(req.headers["x-request-id"]) };
    notes.set(res, note);
    res.setHeader("X-Request-Id", note.id);
    const started = performance.now();
    const path = pathOf(req); // now: routers may rewrite req.url while they run
    const health = samePath(routePathOf(req), ROUTES.health);
    res.once("close", () => {
      const elapsedMs = performance.now() - started;
      metrics.request(req, res, elapsedMs / 1000, health);
      const fields: Record<string, unknown> = {
        reqId: note.id,
        method: req.method,
        path,
        status: res.statusCode,
        durationMs: Math.round(elapsedMs * 10) / 10,
      };
      if (note.agent !== undefined) fields.agent = note.agent;
      if (note.usage !== undefined) fields.usage = note.usage;
      if (note.traceId !== undefined) fields.traceId = note.traceId;
      // Closed before the response ended: the client hung up (its run was aborted).
      if (!res.writableFinished) fields.aborted = true;
      // Load balancers poll /health every few seconds; those lines are only wanted when debugging.
      if (health) log.debug(fields, "request");
      else log.info(fields, "request");
    });
    next();
  };
}
