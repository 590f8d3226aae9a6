/**
 * One structured line per HTTP request: request id, method, path, status, duration and the agent that
 * answered. A client's `X-Request-Id` is kept (when it looks like an id) so logs join up across proxies,
 * and returned either way. Only the path is logged, never the query string or headers: keys live there.
 */
import { randomUUID } from "node:crypto";
import type { RequestHandler, Response } from "express";
import { log } from "../log";

/** Ids we pass through as given: short, and nothing that could forge a log line or header. */
const CLIENT_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

export function requestIdFrom(header: unknown): string {
  return typeof header === "string" && CLIENT_ID.test(header) ? header : randomUUID();
}

/** The id the request log uses for this response (set by requestLog). */
export function requestIdOf(res: Response): string | undefined {
  return res.locals.requestId as string | undefined;
}

export function requestLog(): RequestHandler {
  return function requestLog(req, res, next) {
    const id = requestIdFrom(req.headers["x-request-id"]);
    res.locals.requestId = id;
    res.setHeader("X-Request-Id", id);
    const started = performance.now();
    const path = req.path; // now: routers may rewrite req.url while they run
    res.once("close", () => {
      const fields: Record<string, unknown> = {
        reqId: id,
        method: req.method,
        path,
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      };
      if (res.locals.agent !== undefined) fields.agent = res.locals.agent;
      // Closed before the response ended: the client hung up (its run was aborted).
      if (!res.writableFinished) fields.aborted = true;
      // Load balancers poll /health every few seconds; those lines are only wanted when debugging.
      if (path === "/health") log.debug(fields, "request");
      else log.info(fields, "request");
    });
    next();
  };
}
