/**
 * What every middleware here shares: the connect signature (which Express mounts as is) and the two small
 * helpers for paths and JSON answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type Next = (err?: unknown) => void;
export type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void | Promise<void>;
export type ErrorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;

/**
 * The request path without the query string (never logged or routed with it: keys can live there). Under
 * a mount (`app.use("/agent", router)`) Express shortens req.url; originalUrl keeps the whole path.
 */
export function pathOf(req: IncomingMessage): string {
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** The path within the router's mount (Express shortens req.url under `app.use("/agent", ...)`): what routes match. */
export function routePathOf(req: IncomingMessage): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * A JSON answer with its length; headers already set on `res` (CORS, X-Request-Id, Retry-After) are kept
 * by writeHead. A chat answer is never cached, so there is no ETag or freshness check to run (Express's
 * res.json would compute an ETag for each).
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const shape = status >= 400 ? errorShapes.get(res) : undefined;
  const json = JSON.stringify(shape && isErrorBody(body) ? shape(body.error, status) : body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(json) });
  res.end(json);
}

/** How a protocol spells an error body, e.g. OpenAI's `{"error": {"message", "type", "code"}}`. */
export type ErrorShape = (message: string, status: number) => unknown;

const errorShapes = new WeakMap<ServerResponse, ErrorShape>();

/**
 * From here on, every `{"error": "..."}` answer to this response (auth, rate limit, body limits, validation,
 * the error handler's) is spelled by `shape`, with the same status: one set of error rules, another spelling.
 */
export function shapeErrors(shape: ErrorShape): Handler {
  return function shapeErrors(_req, res, next) {
    errorShapes.set(res, shape);
    next();
  };
}

function isErrorBody(body: unknown): body is { error: string } {
  return typeof (body as { error?: unknown } | null)?.error === "string";
}
