/** Parses the body as JSON whatever the Content-Type: clients forget the header, and we only accept JSON. */
import express, { type RequestHandler } from "express";
import { RequestError } from "../errors";

export function jsonBody(limitBytes: number): RequestHandler {
  // strict: false lets a body like `"hi"` parse, so validation can say "must be a JSON object" instead of "malformed".
  const parse = express.json({ limit: limitBytes, type: () => true, strict: false });
  return function jsonBody(req, res, next) {
    // An announced oversize body is refused before reading it: body-parser would first drain it (all of it).
    if (Number(req.headers["content-length"]) > limitBytes) {
      res.set("Connection", "close");
      return next(new RequestError(413, `Request body is too large (limit ${Math.round((limitBytes / (1024 * 1024)) * 10) / 10} MB)`));
    }
    parse(req, res, next);
  };
}
