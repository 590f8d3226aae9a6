/**
 * The OpenTelemetry trace SDK as klisk starts it (required by tracing.ts only when tracing is on): a
 * NodeTracerProvider with a batch processor per exporter, registered globally (the W3C trace-context and
 * baggage propagators, an AsyncLocalStorage context manager), so spans a project's own code makes nest under
 * klisk's. The SDK and the exporters read the other OTEL_* variables themselves (endpoint, headers, timeout,
 * sampler, batch sizes, attribute limits); the resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
 */
import { diag, DiagLogLevel, type DiagLogger } from "@opentelemetry/api";
import { detectResources, defaultResource, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { log } from "../../log";

/** How long flushing may hold up a shutdown when the collector does not answer. */
const FLUSH_TIMEOUT_MS = 5000;

export interface Sdk {
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Starts the SDK for these exporters (OTEL_TRACES_EXPORTER's names); undefined when none is usable. */
export function startSdk(exporters: readonly string[], serviceName: string | undefined, env: NodeJS.ProcessEnv): Sdk | undefined {
  // The SDK reports export failures (collector down, 4xx) through diag, silent unless given a logger.
  diag.setLogger(diagLogger, DiagLogLevel.WARN);
  const spanExporters = exporters.flatMap((name) => exporterFor(name, env) ?? []);
  if (spanExporters.length === 0) return undefined;
  // Later resources win: the project's name over "unknown_service", OTEL_SERVICE_NAME over both.
  const resource = defaultResource()
    .merge(serviceName ? resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }) : null)
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: spanExporters.map((exporter) => new BatchSpanProcessor(exporter)) });
  provider.register();
  let stopped: Promise<void> | undefined;
  return {
    flush: () => bounded(provider.forceFlush()),
    shutdown: () => (stopped ??= bounded(provider.shutdown())),
  };
}

function exporterFor(name: string, env: NodeJS.ProcessEnv): SpanExporter | undefined {
  if (name === "console") return new ConsoleSpanExporter();
  if (name !== "otlp") {
    log.warn({ exporter: name }, "OTEL_TRACES_EXPORTER: klisk supports otlp and console; ignoring this one");
    return undefined;
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "").trim() || "http/protobuf";
  if (protocol === "http/json") {
    const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http") as typeof import("@opentelemetry/exporter-trace-otlp-http");
    return new OTLPTraceExporter();
  }
  if (protocol !== "http/protobuf") {
    log.warn({ protocol }, "OTEL_EXPORTER_OTLP_PROTOCOL: klisk exports over http/protobuf or http/json (collectors take them on port 4318); sending http/protobuf");
  }
  const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-proto") as typeof import("@opentelemetry/exporter-trace-otlp-proto");
  return new OTLPTraceExporter();
}

/** Waits for `work`, but no longer than FLUSH_TIMEOUT_MS; a failure is logged, never thrown. */
async function bounded(work: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn({ timeoutMs: FLUSH_TIMEOUT_MS }, "OpenTelemetry: the last spans were not exported in time");
      resolve();
    }, FLUSH_TIMEOUT_MS);
    timer.unref();
  });
  try {
    await Promise.race([work.catch((err) => log.warn({ err: String(err) }, "OpenTelemetry: exporting the last spans failed")), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const diagLogger: DiagLogger = {
  error: (message, ...args) => log.warn({ source: "opentelemetry", args: args.map(String) }, message),
  warn: (message, ...args) => log.warn({ source: "opentelemetry", args: args.map(String) }, message),
  info: () => {},
  debug: () => {},
  verbose: () => {},
};
