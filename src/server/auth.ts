/** API keys: read from the environment once, compared in constant time, never logged. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { sendJson, type Handler } from "./handlers";

export const KEY_ENV_VARS = ["KLISK_API_KEY", "KLISK_CHAT_KEY", "KLISK_WIDGET_KEY"] as const;
/** The operator's key. The chat and widget keys reach the agent only: a widget key is public (in a host page's HTML). */
const FULL_ACCESS_ENV = "KLISK_API_KEY";
export const INVALID_KEY_MESSAGE = "Invalid API key";

/** What a route asks of a key: "agent" routes run the agent (any key), "operator" routes need KLISK_API_KEY. */
export type KeyScope = "agent" | "operator";

/** The configured keys; auth is on when there is at least one. */
export interface ApiKeys {
  readonly required: boolean;
  readonly count: number;
  /** True when `candidate` equals one of the keys that reach `scope` (default "agent": any key). */
  matches(candidate: string | undefined, scope?: KeyScope): boolean;
}

/** Each variable may hold several comma-separated keys; blanks are ignored. */
export function loadApiKeys(env: NodeJS.ProcessEnv = process.env): ApiKeys {
  const keys = new Map<string, boolean>(); // key → full access
  for (const name of KEY_ENV_VARS) {
    for (const key of (env[name] ?? "").split(",")) {
      if (key.trim() !== "") keys.set(key.trim(), keys.get(key.trim()) === true || name === FULL_ACCESS_ENV);
    }
  }
  // Only digests are kept: equal-length buffers for timingSafeEqual, and no plain key in memory dumps.
  const digests = [...keys].map(([key, full]) => ({ digest: sha256(key), full }));
  return {
    required: digests.length > 0,
    count: digests.length,
    matches(candidate, scope = "agent") {
      if (candidate === undefined || candidate === "") return false;
      const digest = sha256(candidate);
      let found = false;
      // No early exit: every key is compared so timing does not tell which one (or whether one) matched.
      for (const d of digests) found = (timingSafeEqual(d.digest, digest) && (d.full || scope === "agent")) || found;
      return found;
    },
  };
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** The key a client sent: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function keyFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === "string") {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match) return match[1].trim();
  }
  const apiKey = headers["x-api-key"];
  if (typeof apiKey === "string" && apiKey.trim() !== "") return apiKey.trim();
  return undefined;
}

/** Rejects requests without a valid key for `scope` (when keys are configured) with 401 `{"error":"Invalid API key"}`. */
export function auth(keys: ApiKeys, scope: KeyScope = "agent"): Handler {
  return function auth(req, res, next) {
    // Preflights carry no credentials by design; CORS answers them before this runs, this is a safety net.
    if (!keys.required || req.method === "OPTIONS") return next();
    if (keys.matches(keyFromHeaders(req.headers), scope)) return next();
    res.setHeader("WWW-Authenticate", "Bearer");
    sendJson(res, 401, { error: INVALID_KEY_MESSAGE });
  };
}
