/** The HTTP edge of "errors by blame": RequestError → its status, body-parser errors → 400/413/415, the rest → 500. */
import { RequestError } from "../errors";
import { pathOf, sendJson, type ErrorHandler, type Handler } from "./handlers";

/** Shape of the errors body-parser raises (http-errors with a `type`). */
interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

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
  const e = err as BodyParserError;
  switch (e?.type) {
    case "entity.parse.failed":
      return { status: 400, message: `Malformed JSON body: ${e.message}` };
    case "entity.too.large":
      return { status: 413, message: `Request body is too large${e.limit ? ` (limit ${formatMb(e.limit)})` : ""}` };
    case "encoding.unsupported":
    case "charset.unsupported":
      return { status: 415, message: e.message };
    case "request.aborted":
    case "request.size.invalid":
    case "stream.encoding.set":
      return { status: 400, message: e.message };
  }
  // Other http-errors (from Express or its parsers) that are safe to show the client.
  const status = (e as { status?: unknown })?.status;
  if (typeof status === "number" && status >= 400 && status < 500 && (e as { expose?: boolean }).expose) {
    return { status, message: e.message };
  }
  return { status: 500, message: "Internal server error" };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.stack ?? err.message : String(err);
}

function formatMb(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
}

/** JSON 404 for anything no route matched. */
export function notFound(): Handler {
  return function notFound(req, res) {
    sendJson(res, 404, { error: `Not found: ${req.method} ${pathOf(req)}` });
  };
}
