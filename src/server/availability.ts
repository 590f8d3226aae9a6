/** Answers 503 once shutdown has begun, so load balancers and clients stop sending work here. */
import type { RequestHandler } from "express";
import { SHUTTING_DOWN_MESSAGE, type RunRegistry } from "./runs";

export function availability(runs: RunRegistry): RequestHandler {
  return function availability(_req, res, next) {
    if (!runs.closing) return next();
    res.status(503).set("Connection", "close").json({ error: SHUTTING_DOWN_MESSAGE });
  };
}
