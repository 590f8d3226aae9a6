/** Parses the body as JSON whatever the Content-Type: clients forget the header, and we only accept JSON. */
import type { IncomingMessage } from "node:http";
import { RequestError } from "../errors";
import type { Handler } from "./handlers";

export function jsonBody(limitBytes: number): Handler {
  let parse: Handler | undefined;
  return function jsonBody(req, res, next) {
    // An announced oversize body is refused before reading it: body-parser would first drain it (all of it).
    if (Number(req.headers["content-length"]) > limitBytes) {
      res.setHeader("Connection", "close");
      return next(new RequestError(413, `Request body is too large (limit ${Math.round((limitBytes / (1024 * 1024)) * 10) / 10} MB)`));
    }
    // body-parser (gzip/deflate/br, charsets, limits applied to the inflated size) is loaded on the first chat.
    // strict: false lets a body like `"hi"` parse, so validation can say "must be a JSON object" instead of "malformed".
    parse ??= (require("body-parser") as typeof import("body-parser")).json({ limit: limitBytes, type: () => true, strict: false });
    parse(req, res, next);
  };
}

/** The parsed body that jsonBody left on the request. */
export function bodyOf(req: IncomingMessage): unknown {
  return (req as IncomingMessage & { body?: unknown }).body;
}
