/** The server's view of `limits:` in klisk.config.yaml, with the defaults the server falls back to. */
import type { Project } from "../project/project";
import { DEFAULT_ATTACHMENT_LIMITS, type AttachmentLimits } from "../runner/attachments";

export interface ServerLimits {
  /** Largest accepted request body / WebSocket frame, in bytes. */
  maxBodyBytes: number;
  attachments: AttachmentLimits;
  /** Runs allowed at once across HTTP and WebSocket; 0 means unlimited. */
  maxConcurrentRuns: number;
}

const MB = 1024 * 1024;
/** Same default as config.ts: room for a couple of 20 MB attachments after base64 (x4/3). */
const DEFAULT_MAX_BODY_MB = 64;

interface RawLimits {
  max_body_mb?: number;
  max_attachment_mb?: number;
  max_attachments?: number;
  max_concurrent_runs?: number;
}

export function resolveServerLimits(project: Pick<Project, "config">): ServerLimits {
  // Read defensively: the loader defaults these, but a hand-built Project in a test may omit them.
  const raw = ((project.config as { limits?: RawLimits } | undefined)?.limits ?? {}) as RawLimits;
  return {
    maxBodyBytes: positive(raw.max_body_mb, DEFAULT_MAX_BODY_MB) * MB,
    attachments: {
      maxBytes: positive(raw.max_attachment_mb, DEFAULT_ATTACHMENT_LIMITS.maxBytes / MB) * MB,
      // 0 is meaningful here: no attachments accepted.
      maxCount: typeof raw.max_attachments === "number" && raw.max_attachments >= 0 ? raw.max_attachments : DEFAULT_ATTACHMENT_LIMITS.maxCount,
    },
    maxConcurrentRuns: positive(raw.max_concurrent_runs, 0),
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
