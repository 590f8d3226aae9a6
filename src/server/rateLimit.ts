/**
 * Opt-in rate limiting (`limits.rate_limit`): one budget per API key and client address, or per address
 * alone when auth is off or the key is wrong (so guessing keys is limited too). The address counts with a
 * key because some keys are public (KLISK_WIDGET_KEY sits in every visitor's page): one visitor must not
 * use up the budget of all. Budgets are keyed by a hash: a raw key is never kept. REST answers 429 with Retry-After and RateLimit-* headers (IETF draft 6, as express-rate-limit
 * sends them); WebSocket message frames draw on the same budget and get an error frame.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import proxyAddr from "proxy-addr";
import { keyFromHeaders, type ApiKeys } from "./auth";
import { sendJson, type Handler } from "./handlers";
import type { TrustFn } from "./limits";

export interface RateLimiter {
  /** For POST /api/chat, before auth. */
  middleware: Handler;
  /** Counts one WebSocket message: null when allowed, else the error to send. */
  take(budget: string): Promise<string | null>;
  /** The budget a client draws on: its key's hash and its address when the key is valid, else its address. */
  budgetFor(apiKey: string | undefined, address: string): string;
}

/** One hit against a budget: whether it is allowed, and what the RateLimit-* headers say. */
interface Hit {
  allowed: boolean;
  remaining: number;
  resetS: number;
}

export function createRateLimiter(options: { windowMs: number; max: number }, keys: ApiKeys, trust: TrustFn = () => false): RateLimiter {
  // Loaded only when rate limiting is on: it (and its IPv6 helpers) is a good part of start-up otherwise.
  // Its memory store (fixed windows, expired in bulk) and IPv6 subnet keys; the middleware is ours, on node:http.
  const { ipKeyGenerator, MemoryStore } = require("express-rate-limit") as typeof import("express-rate-limit");
  const { windowMs, max } = options;
  const store = new MemoryStore();
  store.init({ windowMs } as Parameters<typeof store.init>[0]);
  const seconds = Math.ceil(windowMs / 1000);
  const tooMany = (retryS: number) => `Too many requests: at most ${max} per ${seconds} s; retry in ${retryS} s`;

  const budgetFor = (apiKey: string | undefined, address: string): string => {
    const ip = `ip:${ipKeyGenerator(address)}`;
    return keys.required && keys.matches(apiKey) ? `key:${createHash("sha256").update(apiKey!).digest("hex").slice(0, 32)}|${ip}` : ip;
  };

  const hit = async (budget: string): Promise<Hit> => {
    const { totalHits, resetTime } = await store.increment(budget);
    const resetS = resetTime ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : seconds;
    return { allowed: totalHits <= max, remaining: Math.max(0, max - totalHits), resetS };
  };

  const middleware: Handler = async function rateLimit(req, res, next) {
    const { allowed, remaining, resetS } = await hit(budgetFor(keyFromHeaders(req.headers), clientAddress(req, trust)));
    res.setHeader("RateLimit-Policy", `${max};w=${seconds}`);
    res.setHeader("RateLimit-Limit", String(max));
    res.setHeader("RateLimit-Remaining", String(remaining));
    res.setHeader("RateLimit-Reset", String(resetS));
    if (allowed) return next();
    res.setHeader("Retry-After", String(resetS));
    sendJson(res, 429, { error: tooMany(resetS) });
  };

  return {
    middleware,
    budgetFor,
    async take(budget) {
      const { allowed, resetS } = await hit(budget);
      return allowed ? null : tooMany(resetS);
    },
  };
}

/** The client address of a request, by the `trust proxy` rules (server.trust_proxy) Express applied to req.ip. */
export function clientAddress(req: IncomingMessage, trust: TrustFn): string {
  return proxyAddr(req, trust);
}
