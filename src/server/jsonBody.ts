/** Parses the body as JSON whatever the Content-Type: clients forget the header, and we only accept JSON. */
import express, { type RequestHandler } from "express";

export function jsonBody(limitBytes: number): RequestHandler {
  // strict: false lets a body like `"hi"` parse, so validation can say "must be a JSON object" instead of "malformed".
  return express.json({ limit: limitBytes, type: () => true, strict: false });
}
