/**
 * Opt-in rate limiting (`limits.rate_limit`): one budget per API key, or per client address when auth is
 * off or the key is wrong (so guessing keys is limited too). Budgets are keyed by a hash: a raw key is
 * never kept. REST answers 429 with Retry-After and RateLimit-* headers; WebSocket message frames draw on
 * the same budget and get an error frame.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { RequestHandler } from "express";
import proxyAddr from "proxy-addr";
import { log } from "../log";
import { keyFromHeaders, type ApiKeys } from "./auth";

export interface RateLimiter {
  /** For POST /api/chat, before auth. */
  middleware: RequestHandler;
  /** Counts one WebSocket message: null when allowed, else the error to send. */
  take(budget: string): Promise<string | null>;
  /** The budget a client draws on: its key's hash when the key is valid, else its address. */
  budgetFor(apiKey: string | undefined, address: string): string;
}

/** Decides which hop of X-Forwarded-For is the client: Express's compiled `trust proxy` function. */
export type TrustFn = (address: string, hop: number) => boolean;

export function createRateLimiter(options: { windowMs: number; max: number }, keys: ApiKeys): RateLimiter {
  // Loaded only when rate limiting is on: it (and its IPv6 helpers) is a good part of start-up otherwise.
  const { ipKeyGenerator, MemoryStore, rateLimit } = require("express-rate-limit") as typeof import("express-rate-limit");
  const { windowMs, max } = options;
  const store = new MemoryStore();
  const seconds = Math.ceil(windowMs / 1000);
  const tooMany = (retryS: number) => `Too many requests: at most ${max} per ${seconds} s; retry in ${retryS} s`;

  const budgetFor = (apiKey: string | undefined, address: string): string =>
    keys.required && keys.matches(apiKey) ? `key:${createHash("sha256").update(apiKey!).digest("hex").slice(0, 32)}` : `ip:${ipKeyGenerator(address)}`;

  const middleware = rateLimit({
    windowMs,
    limit: max,
    store,
    standardHeaders: "draft-6", // RateLimit-Limit / -Remaining / -Reset, and Retry-After on 429
    legacyHeaders: false,
    keyGenerator: (req) => budgetFor(keyFromHeaders(req.headers), req.ip ?? req.socket.remoteAddress ?? ""),
    handler: (_req, res) => {
      res.status(429).json({ error: tooMany(Number(res.getHeader("Retry-After")) || seconds) });
    },
    // Its configuration warnings (e.g. X-Forwarded-For without trust_proxy) go to our log, not the console.
    logger: { error: (err) => log.warn({ source: "rate-limit" }, String(err)), warn: (err) => log.warn({ source: "rate-limit" }, String(err)) },
  });

  return {
    middleware,
    budgetFor,
    async take(budget) {
      const { totalHits, resetTime } = await store.increment(budget);
      if (totalHits <= max) return null;
      const retryS = resetTime ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : seconds;
      return tooMany(retryS);
    },
  };
}

/** The client address of an upgrade request, by the same `trust proxy` rules Express applies to req.ip. */
export function clientAddress(req: IncomingMessage, trust: TrustFn): string {
  return proxyAddr(req, trust);
}
