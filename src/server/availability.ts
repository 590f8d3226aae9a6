/**
 * Once shutdown has begun: /health answers 503 `{"status":"draining"}` so load balancers take this process
 * out of rotation, and new work gets 503 with Retry-After so clients retry elsewhere. Runs already going
 * are not affected (see RunRegistry.drain).
 */
import { pathOf, sendJson, type Handler } from "./handlers";
import { SHUTTING_DOWN_MESSAGE, type RunRegistry } from "./runs";

export function availability(runs: RunRegistry): Handler {
  return function availability(req, res, next) {
    if (!runs.closing) return next();
    res.setHeader("Connection", "close");
    res.setHeader("Retry-After", "5");
    sendJson(res, 503, pathOf(req) === "/health" ? { status: "draining" } : { error: SHUTTING_DOWN_MESSAGE });
  };
}
