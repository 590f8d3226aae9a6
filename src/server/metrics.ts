/**
 * Prometheus metrics (`GET /metrics`, deploy.metrics.enabled or KLISK_METRICS=1) with prom-client. When off,
 * the recorder is a null object: prom-client is never loaded, runs get no observer and the request hook does
 * nothing. When on, the runner reports to it directly (RunObserver: a call at a run's first token, its tool
 * and model calls and its end), never through an extra layer over the event stream; each server context
 * has its own registry, so two servers in one process (tests, embedders) never share or clash on series.
 */
import cluster from "node:cluster";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { Project } from "../project/project";
import type { RunObserver } from "../runner/run";
import { METRICS_REQUEST, METRICS_REPLY, type MetricsReply } from "./cluster";
import type { Handler } from "./handlers";

export const METRICS_ENV = "KLISK_METRICS";
export const METRICS_PATH = "/metrics";

/** What the server tells the metrics; every method is a no-op on the null recorder. */
export interface MetricsRecorder {
  readonly enabled: boolean;
  /** deploy.metrics.port when the server serves /metrics there (startServer), not on the API's routes. */
  readonly port?: number;
  /** One finished HTTP request (the request log's close hook), `seconds` after it arrived. */
  request(req: IncomingMessage, res: ServerResponse, seconds: number, health: boolean): void;
  /** A request or WebSocket turn refused before it ran: auth, rate_limit, limits, busy, draining. */
  rejected(reason: RejectReason): void;
  /** A WebSocket connection opened; the returned function marks it closed. */
  socketOpened(): () => void;
  /** For runChat's `observer` (runs, first tokens, tokens, model and tool calls); undefined when metrics are off. */
  readonly runObserver?: RunObserver;
  /** GET /metrics: the text exposition format. */
  readonly handler: Handler;
}

export type RejectReason = "auth" | "rate_limit" | "limits" | "busy" | "draining";

export function metricsEnabled(project: Project, env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = env[METRICS_ENV];
  if (flag !== undefined && flag !== "") return flag === "1" || flag.toLowerCase() === "true";
  return project.config.deploy.metrics.enabled;
}

const closed = () => {};

export const NULL_METRICS: MetricsRecorder = {
  enabled: false,
  request() {},
  rejected() {},
  socketOpened: () => closed,
  handler: (_req, _res, next) => next(),
};

/**
 * The recorder for a server: prom-client's, or NULL_METRICS when metrics are off. `ownPort`: the caller
 * (startServer) serves /metrics on deploy.metrics.port when that is set; routers mounted elsewhere serve it
 * on their own path whatever the port says.
 */
export function createMetrics(project: Project, runsInFlight: () => number, closing: () => boolean, ownPort = false): MetricsRecorder {
  if (!metricsEnabled(project)) return NULL_METRICS;
  const port = ownPort ? project.config.deploy.metrics.port : undefined;
  return promMetrics(runsInFlight, closing, port);
}

// Seconds. Runs span a quick answer to minutes of tool calls; the first token usually comes within seconds.
const RUN_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const FIRST_TOKEN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
const TOOL_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

function promMetrics(runsInFlight: () => number, closing: () => boolean, port: number | undefined): MetricsRecorder {
  // Loaded only here: a server without metrics never pays for prom-client.
  const prom = require("prom-client") as typeof import("prom-client");
  const registry: Registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // Under --workers a scrape reaching one worker shows them all: the primary gathers every worker's registry
  // (prom-client answers its requests once an AggregatorRegistry exists in the worker) and sums them.
  const scrape = cluster.isWorker ? primaryScrape(prom, registry) : () => registry.metrics();

  const httpRequests = new prom.Counter({ name: "klisk_http_requests_total", help: "HTTP requests by route, method and status", labelNames: ["route", "method", "status"], registers });
  const httpDuration = new prom.Histogram({ name: "klisk_http_request_duration_seconds", help: "HTTP request duration (until the response ended or the client went away)", labelNames: ["route", "method"], registers, buckets: RUN_BUCKETS });
  const rejected = new prom.Counter({ name: "klisk_rejected_requests_total", help: "Requests and WebSocket turns refused before running, by reason", labelNames: ["reason"], registers });
  new prom.Gauge({ name: "klisk_runs_in_flight", help: "Agent runs in progress", registers, collect() { this.set(runsInFlight()); } });
  const sockets = new prom.Gauge({ name: "klisk_websocket_connections", help: "Open WebSocket connections", registers });
  const runs = new prom.Counter({ name: "klisk_runs_total", help: "Finished runs by agent (the one the run started with) and outcome (done or the error code)", labelNames: ["agent", "outcome"], registers });
  const runDuration = new prom.Histogram({ name: "klisk_run_duration_seconds", help: "Run duration by agent, until its done or error event", labelNames: ["agent"], registers, buckets: RUN_BUCKETS });
  const firstToken = new prom.Histogram({ name: "klisk_run_time_to_first_token_seconds", help: "Time from the start of a run to its first text token, by agent", labelNames: ["agent"], registers, buckets: FIRST_TOKEN_BUCKETS });
  const tokens = new prom.Counter({ name: "klisk_model_tokens_total", help: "Model tokens as the provider reported them, by agent (the one that answered), model and type (input, output, or reasoning: the part of output spent reasoning, when the provider says)", labelNames: ["agent", "model", "type"], registers });
  const toolCalls = new prom.Counter({ name: "klisk_tool_calls_total", help: "Tool calls the model made, by tool (hosted tools included)", labelNames: ["tool"], registers });
  const toolErrors = new prom.Counter({ name: "klisk_tool_errors_total", help: "Tool calls that raised, by tool", labelNames: ["tool"], registers });
  const toolDuration = new prom.Histogram({ name: "klisk_tool_duration_seconds", help: "Tool run time, by tool (function tools run here; hosted tools are not timed)", labelNames: ["tool"], registers, buckets: TOOL_BUCKETS });
  const modelCalls = new prom.Counter({ name: "klisk_model_calls_total", help: "Model calls that ended (answered or failed; aborted ones are not counted), by agent, provider and model", labelNames: ["agent", "provider", "model"], registers });
  const upstreamErrors = new prom.Counter({ name: "klisk_upstream_errors_total", help: "Failed model calls by agent, provider, model and kind (auth, rate_limit, server, client, timeout, network, stream)", labelNames: ["agent", "provider", "model", "kind"], registers });
  const runObserver: RunObserver = {
    firstToken: (agent, seconds) => firstToken.observe({ agent }, seconds),
    toolCalled: (tool) => toolCalls.inc({ tool }),
    toolCall(tool, seconds, failed) {
      toolDuration.observe({ tool }, seconds);
      if (failed) toolErrors.inc({ tool });
    },
    modelCall({ agent, provider, model, error }) {
      modelCalls.inc({ agent, provider, model });
      if (error) upstreamErrors.inc({ agent, provider, model, kind: error.kind });
    },
    runEnded({ agent, answeredBy, model, outcome, seconds, usage }) {
      runs.inc({ agent, outcome });
      runDuration.observe({ agent }, seconds);
      if (usage) {
        tokens.inc({ agent: answeredBy, model, type: "input" }, usage.inputTokens);
        tokens.inc({ agent: answeredBy, model, type: "output" }, usage.outputTokens);
        if (usage.reasoningTokens !== undefined) tokens.inc({ agent: answeredBy, model, type: "reasoning" }, usage.reasoningTokens);
      }
    },
  };

  return {
    enabled: true,
    ...(port !== undefined ? { port } : {}),
    request(req, res, seconds, health) {
      const route = routeOf(req);
      const method = req.method ?? "GET";
      httpRequests.inc({ route, method, status: String(res.statusCode) });
      httpDuration.observe({ route, method }, seconds);
      const reason = health ? undefined : refusalReasons.get(res) ?? rejectionOf(res.statusCode, closing());
      if (reason) rejected.inc({ reason });
    },
    rejected: (reason) => rejected.inc({ reason }),
    socketOpened() {
      sockets.inc();
      let open = true;
      return () => {
        if (open) sockets.dec();
        open = false;
      };
    },
    runObserver,
    handler: async function metrics(_req, res, next) {
      try {
        const text = await scrape();
        res.writeHead(200, { "Content-Type": registry.contentType, "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store" });
        res.end(text);
      } catch (err) {
        next(err);
      }
    },
  };
}

/** How long a worker waits for the primary's aggregate (prom-client's own wait on the workers is 5 s). */
const PRIMARY_TIMEOUT_MS = 10_000;

function primaryScrape(prom: typeof import("prom-client"), registry: Registry): () => Promise<string> {
  prom.AggregatorRegistry.setRegistries([registry]);
  new prom.AggregatorRegistry();
  const waiting = new Map<number, (reply: MetricsReply) => void>();
  let nextId = 0;
  process.on("message", (message: MetricsReply) => {
    if (message?.type === METRICS_REPLY) waiting.get(message.id)?.(message);
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error("The cluster primary did not send the workers' metrics in time"));
      }, PRIMARY_TIMEOUT_MS);
      waiting.set(id, (reply) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (reply.text !== undefined) resolve(reply.text);
        else reject(new Error(`Aggregating the workers' metrics failed: ${reply.error}`));
      });
      process.send!({ type: METRICS_REQUEST, id });
    });
}

/** Refusals whose status alone says too little: a 503 for the pending-body budget is a limit, not "busy". */
const refusalReasons = new WeakMap<ServerResponse, RejectReason>();

/** Names why `res` was refused, where the status would name it wrongly (read when metrics count the request). */
export function noteRefusal(res: ServerResponse, reason: RejectReason): void {
  refusalReasons.set(res, reason);
}

/** An HTTP answer's status as a refusal reason (status-based, so every route and adapter is covered). */
function rejectionOf(status: number, closing: boolean): RejectReason | undefined {
  switch (status) {
    case 401:
      return "auth";
    case 429:
      return "rate_limit";
    case 408:
    case 413:
      return "limits";
    case 503:
      return closing ? "draining" : "busy";
    default:
      return undefined;
  }
}

/**
 * The matched route pattern (bounded label values): Express leaves req.route on the request; a request no
 * route matched (404s, static files of the chat page) is "other", never its path.
 */
function routeOf(req: IncomingMessage): string {
  const { route, baseUrl } = req as IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };
  return typeof route?.path === "string" ? `${baseUrl ?? ""}${route.path}` : "other";
}
