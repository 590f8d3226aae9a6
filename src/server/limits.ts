/** The server's view of `limits:` (and `server.trust_proxy`, `deploy.api.cors_origins`) in klisk.config.yaml. */
import type { Project } from "../project/project";
import type { AttachmentLimits } from "./attachments";

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

/** The resolved config's limits (defaults filled in by config.ts, the one source of them) in the units the server uses. */
export function resolveServerLimits(project: Pick<Project, "config">): ServerLimits {
  const limits = project.config.limits;
  const rate = limits.rate_limit;
  return {
    maxBodyBytes: limits.max_body_mb * MB,
    attachments: { maxBytes: limits.max_attachment_mb * MB, maxCount: limits.max_attachments },
    maxConcurrentRuns: limits.max_concurrent_runs,
    maxStateBytes: Math.round(limits.max_state_kb * 1024),
    maxMessageChars: limits.max_message_chars,
    // A frame carries the same JSON as a POST body, so by default it gets the same room.
    wsMaxPayloadBytes: Math.round((limits.ws_max_payload_mb ?? limits.max_body_mb) * MB),
    sseHeartbeatMs: limits.sse_heartbeat_s * 1000,
    maxPendingBodyBytes: limits.max_pending_body_mb * MB,
    bodyTimeoutMs: limits.body_timeout_s * 1000,
    writeStallMs: limits.write_stall_s * 1000,
    runTimeoutMs: limits.run_timeout_s * 1000,
    rateLimit: rate ? { windowMs: rate.window_s * 1000, max: rate.max } : undefined,
  };
}

/** `deploy.api.cors_origins` (default any origin). */
export function corsOrigins(project: Pick<Project, "config">): readonly string[] {
  return project.config.deploy.api.cors_origins;
}

/** `server.trust_proxy` as Express's `trust proxy` setting: which hops' X-Forwarded-For to believe. */
export function trustProxy(project: Pick<Project, "config">): boolean | number | string {
  return project.config.server.trust_proxy ?? false;
}
