/** The HTTP edge of "errors by blame": statuses.ts decides what the client is told; failures of ours are logged. */
import { RequestError } from "../errors";
import { log } from "../log";
import { pathOf, sendJson, type ErrorHandler, type Handler } from "./handlers";
import { describeForClient } from "./statuses";

/** Express error middleware (four arguments): ends the router and the app. */
export function errorHandler(): ErrorHandler {
  return function errorHandler(err, req, res, _next) {
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a failure, not a truncated success.
      log.error({ err: describe(err), method: req.method, path: pathOf(req) }, "Error after the response started");
      res.destroy();
      return;
    }
    const { status, message } = describeForClient(err);
    // A RequestError (busy, shutting down) is an answer we chose, not a failure to log.
    if (status >= 500 && !(err instanceof RequestError)) log.error({ err: describe(err), method: req.method, path: pathOf(req) }, "Unhandled error");
    try {
      sendJson(res, status, { error: message });
    } catch (failure) {
      // Never let an error escape the error handler (it would end up unhandled): cut this response instead.
      log.error({ err: describe(failure), method: req.method, path: pathOf(req) }, "Error handler failed");
      res.destroy();
    }
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.stack ?? err.message : String(err);
}

/** JSON 404 for anything no route matched. */
export function notFound(): Handler {
  return function notFound(req, res) {
    sendJson(res, 404, { error: `Not found: ${req.method} ${pathOf(req)}` });
  };
}
