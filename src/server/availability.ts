/**
 * Once shutdown has begun: /health answers 503 `{"status":"draining"}` so load balancers take this process
 * out of rotation, and new work gets 503 with Retry-After so clients retry elsewhere. Runs already going
 * are not affected (see RunRegistry.drain).
 */
import type { RequestHandler } from "express";
import { SHUTTING_DOWN_MESSAGE, type RunRegistry } from "./runs";

export function availability(runs: RunRegistry): RequestHandler {
  return function availability(req, res, next) {
    if (!runs.closing) return next();
    res.status(503).set({ Connection: "close", "Retry-After": "5" });
    if (req.path === "/health") res.json({ status: "draining" });
    else res.json({ error: SHUTTING_DOWN_MESSAGE });
  };
}
