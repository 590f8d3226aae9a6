/**
 * Opt-in rate limiting (`limits.rate_limit`) with express-rate-limit: one budget per API key and client
 * address, or per address alone when auth is off or the key is wrong (so guessing keys is limited too). The
 * address counts with a key because some keys are public (KLISK_WIDGET_KEY sits in every visitor's page):
 * one visitor must not use up the budget of all. Budgets are keyed by a hash: a raw key is never kept.
 * REST answers 429 with Retry-After and RateLimit-* headers (IETF draft 6); WebSocket message frames draw
 * on the same store and get an error frame.
 */
import { createHash } from "node:crypto";
import type { Request, RequestHandler } from "express";
import { keyFromHeaders, type ApiKeys } from "./auth";
import { sendJson } from "./handlers";

export interface RateLimiter {
  /** For POST /api/chat, before auth. The client's address is Express's req.ip (the app's `trust proxy`). */
  middleware: RequestHandler;
  /** Counts one hit outside Express (a WebSocket message, a fetch-handler request) against `budget`. */
  take(budget: string): Promise<RateLimitVerdict>;
  /** The budget a client draws on: its key's hash and its address when the key is valid, else its address. */
  budgetFor(apiKey: string | undefined, address: string): string;
}

/** One hit counted: `error` is null when allowed; the rest is what the RateLimit-* headers say. */
export interface RateLimitVerdict {
  error: string | null;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetS: number;
  windowS: number;
}

/** The IETF draft-6 headers express-rate-limit sends, plus Retry-After on a refusal, for answers built without it. */
export function rateLimitHeaders(verdict: RateLimitVerdict): Array<[string, string]> {
  const headers: Array<[string, string]> = [
    ["RateLimit-Policy", `${verdict.limit};w=${verdict.windowS}`],
    ["RateLimit-Limit", String(verdict.limit)],
    ["RateLimit-Remaining", String(verdict.remaining)],
    ["RateLimit-Reset", String(verdict.resetS)],
  ];
  if (verdict.error !== null) headers.push(["Retry-After", String(verdict.resetS)]);
  return headers;
}

export function createRateLimiter(options: { windowMs: number; max: number }, keys: ApiKeys): RateLimiter {
  // Loaded only when limits.rate_limit is set: with its IPv6 helpers it is ~15 ms of every start-up otherwise.
  const { ipKeyGenerator, MemoryStore, rateLimit } = require("express-rate-limit") as typeof import("express-rate-limit");
  const { windowMs, max } = options;
  const store = new MemoryStore();
  const seconds = Math.ceil(windowMs / 1000);
  const retryInS = (resetTime: Date | undefined) => (resetTime ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : seconds);
  const tooMany = (retryS: number) => `Too many requests: at most ${max} per ${seconds} s; retry in ${retryS} s`;

  const budgetFor = (apiKey: string | undefined, address: string): string => {
    const ip = `ip:${ipKeyGenerator(address)}`;
    return keys.required && keys.matches(apiKey) ? `key:${createHash("sha256").update(apiKey!).digest("hex").slice(0, 32)}|${ip}` : ip;
  };

  const middleware = rateLimit({
    windowMs,
    limit: max,
    store,
    standardHeaders: "draft-6",
    legacyHeaders: false,
    keyGenerator: (req: Request) => budgetFor(keyFromHeaders(req.headers), req.ip ?? req.socket.remoteAddress ?? ""),
    handler: (req, res) => sendJson(res, 429, { error: tooMany(retryInS((req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime)) }),
    // Its checks print to the console about set-ups it cannot see through (our keyGenerator applies
    // ipKeyGenerator; trust proxy is the operator's server.trust_proxy): our config checks speak instead.
    validate: false,
  });

  return {
    middleware,
    budgetFor,
    async take(budget) {
      const { totalHits, resetTime } = await store.increment(budget);
      const resetS = retryInS(resetTime);
      const error = totalHits <= max ? null : tooMany(resetS);
      return { error, limit: max, remaining: Math.max(0, max - totalHits), resetS, windowS: seconds };
    },
  };
}
