/** The HTTP edge of "errors by blame": RequestError → its status, Express's own client errors → theirs, the rest → 500. */
import { RequestError } from "../errors";
import { pathOf, sendJson, type ErrorHandler, type Handler } from "./handlers";

/** The connect error signature, so it also ends an Express app (the pages app, tests). */
export function errorHandler(log: (message: string) => void): ErrorHandler {
  return function errorHandler(err, req, res, next) {
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a failure, not a truncated success.
      log(`Error after response started on ${req.method} ${pathOf(req)}: ${describe(err)}`);
      res.destroy();
      return;
    }
    const { status, message } = classify(err);
    // A RequestError (busy, shutting down) is an answer we chose, not a failure to log.
    if (status >= 500 && !(err instanceof RequestError)) log(`Unhandled error on ${req.method} ${pathOf(req)}: ${describe(err)}`);
    sendJson(res, status, { error: message });
    void next;
  };
}

function classify(err: unknown): { status: number; message: string } {
  if (err instanceof RequestError) return { status: err.status, message: err.message };
  const e = err as { status?: unknown; expose?: boolean; message?: string };
  // http-errors from Express (a malformed URL, say) that are safe to show the client.
  const status = e?.status;
  if (typeof status === "number" && status >= 400 && status < 500 && e.expose) return { status, message: String(e.message) };
  return { status: 500, message: "Internal server error" };
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
