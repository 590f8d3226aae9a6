/**
 * OpenTelemetry traces, opt-in through the standard variables (docs/scaling.md, "Traces"). This module only
 * decides whether tracing is on and holds the process's one tracer: nothing of OpenTelemetry is loaded unless
 * it is on, and then the server and the runner get hooks called at request, run, model-call and tool-call
 * boundaries (never per token). When it is off they get no hooks at all.
 *
 * On when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, or OTEL_TRACES_EXPORTER
 * names an exporter (otlp, console), or the process already registered an OpenTelemetry SDK of its own (an
 * app embedding klisk/express): klisk's spans then go to that SDK. OTEL_SDK_DISABLED=true turns it off.
 */
import type { ServerResponse } from "node:http";
import { log } from "../../log";
import type { RunTrace } from "../../runner/trace";
import type { Handler } from "../handlers";

/** Prompts, instructions, outputs and tool arguments/results go on the spans only with this set to 1. */
export const TRACE_CONTENT_ENV = "KLISK_TRACE_CONTENT";

export interface Tracing {
  /** Middleware: one SERVER span per HTTP request, child of the caller's `traceparent` when it sends one. */
  readonly requestSpan: Handler;
  /**
   * The spans of one run: under `from`'s request span (a ServerResponse), or under the caller's span its
   * trace-context headers name (a fetch Request's Headers), else under the active context.
   */
  run(from?: ServerResponse | Headers): RunTrace;
  /** Exports the spans still buffered (a server closing). */
  flush(): Promise<void>;
  /** Exports the spans still buffered and stops (the process is about to exit). */
  shutdown(): Promise<void>;
}

/** The exporters OTEL_* asks for ("otlp", "console"); empty when tracing is not configured. */
export function requestedExporters(env: NodeJS.ProcessEnv = process.env): string[] {
  if (isTrue(env.OTEL_SDK_DISABLED)) return [];
  const named = (env.OTEL_TRACES_EXPORTER ?? "").split(",").map((name) => name.trim().toLowerCase()).filter(Boolean);
  if (named.length > 0) return named.filter((name) => name !== "none");
  // The spec's default exporter is otlp; klisk only traces when an endpoint says where to.
  return nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) || nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT) ? ["otlp"] : [];
}

/**
 * Whether something in this process registered an OpenTelemetry tracer provider: @opentelemetry/api keeps
 * its registrations on this global, so the check loads nothing.
 */
function hostRegisteredTracing(): boolean {
  const registry = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[Symbol.for("opentelemetry.js.api.1")];
  return registry?.trace !== undefined;
}

let current: Tracing | null | undefined;

/**
 * The process's tracing, started on first use (after the project's .env was read, so it may set OTEL_*), or
 * undefined when it is off. `serviceName` (the project's name) names the service unless OTEL_SERVICE_NAME or
 * OTEL_RESOURCE_ATTRIBUTES does.
 */
export function processTracing(serviceName?: string, env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  if (current === undefined) current = startTracing(serviceName, env) ?? null;
  return current ?? undefined;
}

/** Exports what is buffered and stops tracing, when it was started (`klisk serve` and `klisk run` exiting). */
export async function stopTracing(): Promise<void> {
  await current?.shutdown();
}

function startTracing(serviceName: string | undefined, env: NodeJS.ProcessEnv): Tracing | undefined {
  if (isTrue(env.OTEL_SDK_DISABLED)) return undefined;
  const host = hostRegisteredTracing();
  const exporters = requestedExporters(env);
  if (!host && exporters.length === 0) return undefined;
  try {
    // Loaded only here: a process that does not trace never loads OpenTelemetry.
    const { startSdk } = require("./sdk") as typeof import("./sdk");
    const { tracingHooks } = require("./hooks") as typeof import("./hooks");
    // An SDK the host registered is used as it is (registering a second one would fail).
    const sdk = host ? undefined : startSdk(exporters, serviceName, env);
    if (!host && !sdk) return undefined;
    return tracingHooks({ content: isTrue(env[TRACE_CONTENT_ENV]), sdk });
  } catch (err) {
    // Tracing must never keep a server from starting.
    log.warn({ err: String(err) }, "OpenTelemetry tracing could not start; serving without traces");
    return undefined;
  }
}

function isTrue(value: string | undefined): boolean {
  const v = value?.trim().toLowerCase();
  return v === "1" || v === "true";
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== "";
}
