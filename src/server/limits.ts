/** The server's view of `limits:` (and `server.trust_proxy`) in klisk.config.yaml, with the defaults it falls back to. */
import proxyAddr from "proxy-addr";
import type { Project } from "../project/project";
import { DEFAULT_ATTACHMENT_LIMITS, type AttachmentLimits } from "./attachments";
import { DEFAULT_MAX_STATE_KB, DEFAULT_RUN_TIMEOUT_S } from "../runner/run";

export interface ServerLimits {
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  attachments: AttachmentLimits;
  /** Runs allowed at once across HTTP and WebSocket; 0 means unlimited. */
  maxConcurrentRuns: number;
  /** Largest `state` a client may send back, serialized, in bytes. */
  maxStateBytes: number;
  /** Longest `message`, in characters. */
  maxMessageChars: number;
  /** Largest WebSocket frame (ws `maxPayload`), in bytes. */
  wsMaxPayloadBytes: number;
  /** Interval of SSE `: ping` comments. */
  sseHeartbeatMs: number;
  /** Requests per window per API key and client address; undefined = no rate limit. */
  rateLimit?: { windowMs: number; max: number };
  /** Bytes all request bodies still being read may hold at once, across the process (503 above). */
  maxPendingBodyBytes: number;
  /** How long a request body may take to arrive (408 after). */
  bodyTimeoutMs: number;
  /** How long a write to a client that reads nothing may wait before its run is aborted. */
  writeStallMs: number;
  /** limits.run_timeout_s: the whole run, writes to the client included. */
  runTimeoutMs: number;
}

const MB = 1024 * 1024;
/** Same defaults as config.ts, for hand-built projects in tests and embedders that skip the loader. */
const DEFAULT_MAX_BODY_MB = 32;
const DEFAULT_MAX_PENDING_BODY_MB = 128;
const DEFAULT_BODY_TIMEOUT_S = 30;
const DEFAULT_WRITE_STALL_S = 30;
export const DEFAULT_MAX_MESSAGE_CHARS = 100_000;
export const DEFAULT_SSE_HEARTBEAT_S = 15;

interface RawLimits {
  max_body_mb?: number;
  max_attachment_mb?: number;
  max_attachments?: number;
  max_concurrent_runs?: number;
  max_state_kb?: number;
  max_message_chars?: number;
  ws_max_payload_mb?: number;
  sse_heartbeat_s?: number;
  max_pending_body_mb?: number;
  body_timeout_s?: number;
  write_stall_s?: number;
  run_timeout_s?: number;
  rate_limit?: { window_s?: number; max?: number };
}

export function resolveServerLimits(project: Pick<Project, "config">): ServerLimits {
  // Read defensively: the loader defaults these, but a hand-built Project in a test may omit them.
  const raw = ((project.config as { limits?: RawLimits } | undefined)?.limits ?? {}) as RawLimits;
  const maxBodyBytes = positive(raw.max_body_mb, DEFAULT_MAX_BODY_MB) * MB;
  const rate = raw.rate_limit;
  return {
    maxBodyBytes,
    attachments: {
      maxBytes: positive(raw.max_attachment_mb, DEFAULT_ATTACHMENT_LIMITS.maxBytes / MB) * MB,
      // 0 is meaningful here: no attachments accepted.
      maxCount: typeof raw.max_attachments === "number" && raw.max_attachments >= 0 ? raw.max_attachments : DEFAULT_ATTACHMENT_LIMITS.maxCount,
    },
    maxConcurrentRuns: positive(raw.max_concurrent_runs, 0),
    maxStateBytes: Math.round(positive(raw.max_state_kb, DEFAULT_MAX_STATE_KB) * 1024),
    maxMessageChars: positive(raw.max_message_chars, DEFAULT_MAX_MESSAGE_CHARS),
    // A frame carries the same JSON as a POST body, so by default it gets the same room.
    wsMaxPayloadBytes: Math.round(positive(raw.ws_max_payload_mb, maxBodyBytes / MB) * MB),
    sseHeartbeatMs: positive(raw.sse_heartbeat_s, DEFAULT_SSE_HEARTBEAT_S) * 1000,
    maxPendingBodyBytes: positive(raw.max_pending_body_mb, DEFAULT_MAX_PENDING_BODY_MB) * MB,
    bodyTimeoutMs: positive(raw.body_timeout_s, DEFAULT_BODY_TIMEOUT_S) * 1000,
    writeStallMs: positive(raw.write_stall_s, DEFAULT_WRITE_STALL_S) * 1000,
    runTimeoutMs: positive(raw.run_timeout_s, DEFAULT_RUN_TIMEOUT_S) * 1000,
    rateLimit: rate && positive(rate.window_s, 0) > 0 && positive(rate.max, 0) > 0 ? { windowMs: rate.window_s! * 1000, max: rate.max! } : undefined,
  };
}

function positive(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : fallback;
}

/** `deploy.api.cors_origins`, defaulting to any origin. */
export function corsOrigins(project: Pick<Project, "config">): string[] {
  const deploy = (project.config as { deploy?: { api?: { cors_origins?: unknown } } } | undefined)?.deploy;
  const origins = deploy?.api?.cors_origins;
  return Array.isArray(origins) && origins.every((o) => typeof o === "string") && origins.length > 0 ? origins : ["*"];
}

/** `server.trust_proxy` as Express's `trust proxy` setting: which hops' X-Forwarded-For to believe. */
export function trustProxy(project: Pick<Project, "config">): boolean | number | string {
  const value = (project.config as { server?: { trust_proxy?: unknown } } | undefined)?.server?.trust_proxy;
  return typeof value === "boolean" || typeof value === "number" || typeof value === "string" ? value : false;
}

/** Decides which hop of X-Forwarded-For is the client (`proxy-addr`'s trust function). */
export type TrustFn = (address: string, hop: number) => boolean;

/** `server.trust_proxy` compiled the way Express compiles its `trust proxy` setting. */
export function trustFn(project: Pick<Project, "config">): TrustFn {
  const value = trustProxy(project);
  if (value === true) return () => true;
  if (value === false) return () => false;
  if (typeof value === "number") return (_address, hop) => hop < value;
  return proxyAddr.compile(value.split(",").map((part) => part.trim()));
}
