/**
 * The API's handler chain on plain node:http. Handlers have the connect signature `(req, res, next)`, so the
 * same factories also mount in Express. The API routes run them without Express: its router and per-request
 * set-up were the largest part of klisk's own CPU per JSON chat turn (`npm run bench`, bench/profile.js).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type Next = (err?: unknown) => void;
export type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void | Promise<void>;
export type ErrorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;

/**
 * Runs `handlers` in order; each passes on with next(). A throw, a rejected promise or next(err) goes to
 * `onError`; when the last handler calls next(), `done` runs (the next stage, or a 404).
 */
export function runChain(handlers: readonly Handler[], req: IncomingMessage, res: ServerResponse, onError: (err: unknown) => void, done: () => void): void {
  let index = 0;
  const next: Next = (err) => {
    if (err !== undefined && err !== null) return onError(err);
    const handler = handlers[index++];
    if (handler === undefined) return done();
    try {
      const result = handler(req, res, next);
      if (result !== undefined) result.catch(onError);
    } catch (thrown) {
      onError(thrown);
    }
  };
  next();
}

/** The request path without the query string (never logged or routed with it: keys can live there). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * A JSON answer with its length; headers already set on `res` (CORS, X-Request-Id, Retry-After) are kept
 * by writeHead. A chat answer is never cached, so there is no ETag or freshness check to run.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(json) });
  res.end(json);
}
