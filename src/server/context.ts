/**
 * Everything the routes and the WebSocket endpoint share, built once per server: keys, limits, the run
 * registry, the state signer, the rate limiter, the pending-body budget and readiness. REST and WebSocket
 * get the same context, so a client has one rate budget and one run limit whichever it uses, and
 * shutdown stops both together.
 */
import type { Project } from "../project/project";
import { loadApiKeys, type ApiKeys } from "./auth";
import { Readiness } from "./availability";
import { PendingBodies } from "./jsonBody";
import { resolveServerLimits, type ServerLimits } from "./limits";
import { createMetrics, NULL_METRICS, type MetricsRecorder } from "./metrics";
import { createRateLimiter, type RateLimiter } from "./rateLimit";
import type { ProjectHolder } from "./reload";
import { RunRegistry } from "./runs";
import { stateSigner, type StateSigner } from "./stateSigning";
import { processTracing, type Tracing } from "./tracing/tracing";

export interface ServerContext {
  readonly project: Project;
  readonly keys: ApiKeys;
  readonly limits: ServerLimits;
  readonly runs: RunRegistry;
  /** Signs returned states and checks returned ones; undefined when signing is off. */
  readonly signer?: StateSigner;
  /** limits.rate_limit; undefined when off. */
  readonly rateLimiter?: RateLimiter;
  /** Bytes held by request bodies still arriving, across every route of this server. */
  readonly pendingBodies: PendingBodies;
  /** While it says starting, /health answers 503 (cluster workers before all are up). */
  readonly readiness: Readiness;
  /** Under `klisk dev`: the holder whose project is swapped on reload (then `project` reads it). */
  readonly reload?: ProjectHolder;
  /** deploy.metrics / KLISK_METRICS: prom-client's recorder, or a null one that does nothing when off. */
  readonly metrics: MetricsRecorder;
  /** OpenTelemetry traces (OTEL_* variables); undefined when off, and then nothing of OpenTelemetry is loaded. */
  readonly tracing?: Tracing;
}

export interface ContextOptions {
  /** Defaults to the KLISK_*_KEY variables as they are now (after the project's .env was loaded). */
  keys?: ApiKeys;
  /** Defaults to KLISK_STATE_SECRET; null turns signing off. */
  signer?: StateSigner | null;
  /** Start with /health answering 503 "starting" until readiness.ready() (cluster workers). */
  starting?: boolean;
  /** `klisk dev`: serve the holder's project of the moment (reload.ts). */
  reload?: ProjectHolder;
  /** false: no metrics whatever the config says (the fetch handler, which serves no /metrics). */
  metrics?: false;
  /** startServer serves /metrics on deploy.metrics.port when set (else the routes serve it). */
  ownMetricsPort?: boolean;
}

export function createServerContext(project: Project, options: ContextOptions = {}): ServerContext {
  const keys = options.keys ?? loadApiKeys();
  const limits = resolveServerLimits(project);
  const runs = new RunRegistry(limits.maxConcurrentRuns, limits.runTimeoutMs);
  const context: ServerContext = {
    project,
    keys,
    limits,
    runs,
    signer: options.signer === undefined ? stateSigner() : options.signer ?? undefined,
    rateLimiter: limits.rateLimit ? createRateLimiter(limits.rateLimit, keys) : undefined,
    pendingBodies: new PendingBodies(limits.maxPendingBodyBytes),
    readiness: new Readiness(options.starting === true),
    ...(options.reload ? { reload: options.reload } : {}),
    metrics: options.metrics === false ? NULL_METRICS : createMetrics(project, () => runs.size, () => runs.closing, options.ownMetricsPort),
    tracing: processTracing(project.name),
  };
  // Readers that look per message (a WebSocket's next turn) get the project of the moment; a run keeps the one
  // it started with. The routes are rebuilt per project instead (reloadableRouter).
  const holder = options.reload;
  if (holder) Object.defineProperty(context, "project", { get: () => holder.project, enumerable: true });
  return context;
}
