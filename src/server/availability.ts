/**
 * Once shutdown has begun: /health answers 503 `{"status":"draining"}` so load balancers take this process
 * out of rotation, and new work gets 503 with Retry-After so clients retry elsewhere. Runs already going
 * are not affected (see RunRegistry.drain).
 */
import { routePathOf, sendJson, type Handler } from "./handlers";
import { ROUTES, samePath } from "./paths";
import { SHUTTING_DOWN_MESSAGE, type RunRegistry } from "./runs";

/**
 * Under `klisk serve --workers N` a worker starts "starting": /health answers 503 `{"status":"starting"}`
 * until every worker listens, so a load balancer does not send its first burst to the one worker that
 * listens first. Other requests are served meanwhile.
 */
export class Readiness {
  constructor(private starting = false) {}

  get isStarting(): boolean {
    return this.starting;
  }

  ready(): void {
    this.starting = false;
  }
}

export function availability(runs: RunRegistry, readiness?: Readiness): Handler {
  return function availability(req, res, next) {
    const health = samePath(routePathOf(req), ROUTES.health);
    if (readiness?.isStarting && health) {
      res.setHeader("Retry-After", "1");
      return sendJson(res, 503, { status: "starting" });
    }
    if (!runs.closing) return next();
    res.setHeader("Connection", "close");
    res.setHeader("Retry-After", "5");
    sendJson(res, 503, health ? { status: "draining" } : { error: SHUTTING_DOWN_MESSAGE });
  };
}
