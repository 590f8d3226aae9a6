/**
 * CORS from `deploy.api.cors_origins`; `["*"]` allows any origin, like the Python original. With a list,
 * CORS headers alone are no access control (a `text/plain` POST or a WebSocket needs no preflight), so a
 * request or upgrade that carries an Origin outside the list is refused before anything runs.
 */
import type { IncomingMessage } from "node:http";
import corsPackage from "cors";
import { sendJson, type Handler } from "./handlers";

export const ORIGIN_REFUSED_MESSAGE = "Origin not allowed";
/** What a preflight allows (shared with the fetch handler, which answers preflights itself). */
export const CORS_METHODS = ["GET", "POST", "OPTIONS"] as const;
export const CORS_MAX_AGE_S = 600;

export function cors(origins: readonly string[]): Handler {
  const headers = corsPackage({
    origin: origins.includes("*") ? "*" : [...origins],
    // Requested headers are reflected on preflight (the original allows all), so Authorization and
    // X-API-Key pass; Content-Type too.
    methods: [...CORS_METHODS],
    maxAge: CORS_MAX_AGE_S,
  });
  if (origins.includes("*")) return headers;
  return function cors(req, res, next) {
    if (!originAllowed(origins, req)) return sendJson(res, 403, { error: `${ORIGIN_REFUSED_MESSAGE}: ${String(req.headers.origin)}` });
    headers(req, res, next);
  };
}

/**
 * True when `req` may proceed: no Origin (curl, servers), an Origin in `origins`, or the server's own host
 * (the chat page calling its own API). `origins` containing "*" allows everything.
 */
export function originAllowed(origins: readonly string[], req: IncomingMessage): boolean {
  return originAllowedFor(origins, req.headers.origin, req.headers.host);
}

/** The rule itself, for any server: the request's Origin and Host headers (undefined when absent). */
export function originAllowedFor(origins: readonly string[], origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined || origins.includes("*")) return true;
  if (origins.includes(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
