/**
 * GET /openapi.json's document: OpenAPI 3.1 for the routes this server serves, as its config has them
 * (MCP, A2A, metrics, the chat page, dev status), with its auth scheme and limits. Request bodies are the
 * zod schemas the routes validate with, through zod's own JSON Schema output; where a check cannot be
 * said in JSON Schema, requestSchemas.ts's `documentedAs` says what it amounts to. Answers and stream
 * events come from openapiShapes.ts. Built once per router (per project) on the first request: loading zod's
 * converter and walking the schemas costs nothing at start-up or on other routes.
 */
import { z } from "zod";
import type { ServerContext } from "./context";
import { DEV_STATUS_PATH } from "./reload";
import { METRICS_PATH } from "./metrics";
import { agUiInputSchema } from "./agUi";
import { aiSdkRequestSchema } from "./aiSdk";
import { completionsRequestSchema } from "./openaiCompat";
import { ROUTES } from "./paths";
import { agentNameSchema, chatSchemas, documentedAs } from "./requestSchemas";
import { components } from "./openapiShapes";

const { version } = require("../../package.json") as { version: string };

type Json = Record<string, unknown>;
type ErrorSchema = "Error" | "OpenAIError" | "JsonRpcError";

interface Operation {
  summary: string;
  description?: string;
  tag: string;
  /** Behind the API keys (when keys are set) and the rate limit (when set). */
  guarded?: boolean;
  body?: Json;
  /** Status → response object; errors are added from `errors` and `refusals`. */
  responses: Record<string, Json>;
  /** How this route spells its errors. */
  errors?: ErrorSchema;
  /** Error statuses this route can answer with, beyond the guards' 401/429. */
  refusals?: readonly number[];
  parameters?: Json[];
}

const ERROR_MEANING: Record<number, string> = {
  400: "Malformed JSON, a field of the wrong type, an unknown agent, an invalid state",
  401: "Missing or wrong API key",
  404: "Unknown model (agent)",
  408: "The request body took too long to arrive",
  413: "A body, message, state or attachment over its limit, or too many attachments",
  415: "An unsupported attachment MIME type, charset or Content-Encoding",
  429: "Over limits.rate_limit (Retry-After and RateLimit-* headers say when to retry)",
  500: "A tool failed, or an internal error",
  502: "The model provider failed",
  503: "Too many runs at once, too many bodies arriving, or shutting down (with Retry-After)",
};

/** Statuses of a route that reads a JSON body and runs an agent (docs/api.md, Errors). */
const RUN_REFUSALS = [400, 408, 413, 415, 500, 502, 503] as const;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: Json) => ({ "application/json": { schema } });
const sse = (schema: Json, description: string) => ({ "text/event-stream": { schema: { ...schema, description } } });
const text = (type: string) => ({ [type]: { schema: { type: "string" } } });
const ok = (description: string, content?: Json) => ({ 200: { description, ...(content ? { content } : {}) } });
const frames = (what: string) => `Each \`data:\` frame is one ${what}; the stream ends with \`data: [DONE]\``;

export interface DocumentOptions {
  /** The router serves the chat page and widget.js (RouterOptions.ui). */
  ui: boolean;
  /** Only these paths are served (klisk/fetch serves /health, /api/info and /api/chat). Default: every route on. */
  only?: readonly string[];
}

/** Adds one operation to the document's paths. */
type Add = (path: string, method: string, operation: Operation) => void;
/** A JSON request body from the zod schema the route validates with, and an example. */
type Body = (schema: z.core.$ZodType, example: unknown) => Json;

export function buildOpenApiDocument(context: ServerContext, options: DocumentOptions): Json {
  const { project, keys, limits, rateLimiter } = context;
  const { deploy } = project.config;
  const agents = project.agents.map((agent) => agent.name);
  const body: Body = (schema, example) => ({ required: true, content: { "application/json": { schema: requestSchema(schema, agents), example } } });

  const paths: Record<string, Record<string, Operation>> = {};
  const add: Add = (path, method, operation) => void ((paths[path] ??= {})[method] = operation);
  serverRoutes(add, context);
  chatRoutes(add, body, limits);
  openaiRoutes(add, body, agents);
  if (deploy.mcp.enabled) mcpRoutes(add);
  if (deploy.a2a.enabled) a2aRoutes(add);
  pageRoutes(add, options.ui && deploy.chat.enabled, deploy.widget.enabled);
  if (options.only) for (const path of Object.keys(paths)) if (!options.only.includes(path)) delete paths[path];

  const auth = keys.required;
  const guards = { auth, rateLimited: rateLimiter !== undefined };
  return {
    openapi: "3.1.0",
    info: {
      title: `${project.name} (klisk)`,
      version,
      description:
        `klisk's HTTP API for the agents of '${project.name}': ${agents.join(", ")}.` +
        " The WebSocket endpoint `/ws/chat` speaks the same events (see klisk's docs/api.md)." +
        (auth ? " Routes that run agents need an API key (`Authorization: Bearer <key>` or `X-API-Key`)." : ""),
    },
    tags: ["Server", "Chat", "Protocols", "OpenAI-compatible", "Agents for agents", "Pages"].map((name) => ({ name })),
    paths: Object.fromEntries(
      Object.entries(paths).map(([path, ops]) => [
        path,
        Object.fromEntries(Object.entries(ops).map(([method, op]) => [method, operationObject(op, guards)])),
      ]),
    ),
    components: {
      schemas: responseSchemas(),
      ...(auth ? { securitySchemes: SECURITY_SCHEMES } : {}),
    },
  };
}

function serverRoutes(add: Add, context: ServerContext): void {
  add(ROUTES.health, "get", {
    tag: "Server",
    summary: "Health check (load balancers)",
    responses: { ...ok("Serving", json(ref("Health"))), 503: { description: "Draining or starting", content: json(ref("Health")) } },
  });
  add(ROUTES.info, "get", {
    tag: "Server",
    summary: "The project, its agents, the chat page's settings and the endpoints served",
    responses: ok("Project info", json(ref("ApiInfo"))),
  });
  if (context.metrics.enabled && context.metrics.port === undefined) {
    add(METRICS_PATH, "get", {
      tag: "Server",
      summary: "Prometheus metrics",
      description: "When keys are set, only KLISK_API_KEY opens it (not the chat or widget keys).",
      guarded: true,
      responses: ok("Prometheus text format", text("text/plain")),
    });
  }
  if (context.reload) {
    add(DEV_STATUS_PATH, "get", {
      tag: "Server",
      summary: "`klisk dev` only: the reload status, sent again after every reload",
      responses: ok("Server-sent statuses", sse(ref("DevStatus"), "Each `data:` frame is the status after a reload")),
    });
  }
}

function chatRoutes(add: Add, body: Body, limits: ServerContext["limits"]): void {
  add(ROUTES.chat, "post", {
    tag: "Chat",
    summary: "Run a turn: an SSE stream of events (stream: true, the default) or one JSON answer",
    guarded: true,
    body: body(chatSchemas(limits).body, { message: "Hello", stream: false }),
    responses: ok(
      "`stream: false`: the JSON answer. Otherwise an SSE stream: one `data: <ChatEvent>` frame per event, `: ping` comments while idle, `data: [DONE]` at the end.",
      { ...json(ref("ChatResponse")), ...sse(ref("ChatEvent"), frames("ChatEvent")) },
    ),
    refusals: RUN_REFUSALS,
  });
  add(ROUTES.aiSdk, "post", {
    tag: "Protocols",
    summary: "Vercel AI SDK UI message stream (useChat with DefaultChatTransport)",
    guarded: true,
    body: body(aiSdkRequestSchema, { messages: [{ id: "1", role: "user", parts: [{ type: "text", text: "Hello" }] }] }),
    responses: ok("UI message stream v1 (header x-vercel-ai-ui-message-stream: v1)", sse(ref("AiSdkChunk"), frames("chunk"))),
    refusals: RUN_REFUSALS,
  });
  add(ROUTES.agUi, "post", {
    tag: "Protocols",
    summary: "AG-UI 1.0 (HttpAgent, CopilotKit)",
    guarded: true,
    body: body(agUiInputSchema, { threadId: "t1", runId: "r1", messages: [{ id: "1", role: "user", content: "Hello" }], state: {}, forwardedProps: {} }),
    responses: ok("AG-UI events", sse(ref("AgUiEvent"), "Each `data:` frame is one AG-UI event (no `[DONE]`)")),
    refusals: RUN_REFUSALS,
  });
}

function openaiRoutes(add: Add, body: Body, agents: readonly string[]): void {
  add(ROUTES.openaiModels, "get", {
    tag: "OpenAI-compatible",
    summary: "The agents, as models",
    guarded: true,
    errors: "OpenAIError",
    responses: ok("Every agent", json(ref("ModelList"))),
  });
  add(ROUTES.openaiChat, "post", {
    tag: "OpenAI-compatible",
    summary: "Chat Completions: `model` names the agent",
    guarded: true,
    errors: "OpenAIError",
    body: body(completionsRequestSchema, { model: agents[0] ?? "Assistant", messages: [{ role: "user", content: "Hello" }] }),
    responses: ok("A chat.completion, or (stream: true) chat.completion.chunk frames ending with `data: [DONE]`", {
      ...json(ref("ChatCompletion")),
      ...sse(ref("ChatCompletionChunk"), frames("chunk")),
    }),
    refusals: [...RUN_REFUSALS, 404],
  });
}

function mcpRoutes(add: Add): void {
  const session = { name: "Mcp-Session-Id", in: "header", required: false, schema: { type: "string" }, description: "The session, after initialize" };
  const mcp = { tag: "Agents for agents", guarded: true, errors: "JsonRpcError" as const, parameters: [session] };
  const messages = sse(ref("JsonRpcResponse"), "JSON-RPC messages");
  add(ROUTES.mcp, "post", {
    ...mcp,
    summary: "MCP Streamable HTTP: each agent is a tool `ask_<agent>`",
    body: { required: true, content: json(ref("JsonRpcRequest")) },
    responses: {
      ...ok("The JSON-RPC answer, as JSON or an SSE stream", { ...json(ref("JsonRpcResponse")), ...messages }),
      202: { description: "A notification or response was accepted" },
    },
    refusals: [400, 404, 408, 413, 503],
  });
  add(ROUTES.mcp, "get", { ...mcp, summary: "MCP: the server's stream for a session", responses: ok("JSON-RPC messages", messages), refusals: [400, 404, 405] });
  add(ROUTES.mcp, "delete", { ...mcp, summary: "MCP: end a session", responses: ok("Ended"), refusals: [400, 404] });
}

function a2aRoutes(add: Add): void {
  add(ROUTES.agentCard, "get", { tag: "Agents for agents", summary: "A2A agent card", responses: ok("The card", json(ref("AgentCard"))) });
  add(ROUTES.a2a, "post", {
    tag: "Agents for agents",
    summary: "A2A JSON-RPC (v1.0 and v0.3): SendMessage, SendStreamingMessage, GetTask, CancelTask",
    guarded: true,
    errors: "JsonRpcError",
    parameters: [
      { name: "A2A-Version", in: "header", required: false, schema: { type: "string", enum: ["1.0", "0.3"] }, description: "The shapes of the reply; absent means 0.3" },
    ],
    body: { required: true, content: json(ref("JsonRpcRequest")) },
    responses: ok("A JSON-RPC result or error (SendStreamingMessage: an SSE stream of results)", {
      ...json(ref("JsonRpcResponse")),
      ...sse(ref("JsonRpcResponse"), "JSON-RPC results"),
    }),
    refusals: [408, 413, 503],
  });
}

function pageRoutes(add: Add, chatPage: boolean, widget: boolean): void {
  if (chatPage) {
    add("/", "get", { tag: "Pages", summary: "The chat page", responses: ok("HTML", text("text/html")) });
    if (widget) add("/widget.js", "get", { tag: "Pages", summary: "The chat widget for other sites", responses: ok("JavaScript", text("text/javascript")) });
  }
  add(ROUTES.openapi, "get", { tag: "Pages", summary: "This document", responses: ok("OpenAPI 3.1", json({ type: "object" })) });
  add(ROUTES.docs, "get", { tag: "Pages", summary: "This document as a reference page", responses: ok("HTML", text("text/html")) });
}

const SECURITY_SCHEMES = {
  bearer: {
    type: "http",
    scheme: "bearer",
    description: "A key of KLISK_API_KEY, KLISK_CHAT_KEY or KLISK_WIDGET_KEY (/metrics: KLISK_API_KEY only)",
  },
  apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
};

function operationObject(op: Operation, server: { auth: boolean; rateLimited: boolean }): Json {
  const guards = op.guarded ? [...(server.auth ? [401] : []), ...(server.rateLimited ? [429] : [])] : [];
  const responses: Record<string, Json> = { ...op.responses };
  for (const status of [...(op.refusals ?? []), ...guards].sort((a, b) => a - b)) {
    responses[status] ??= { description: ERROR_MEANING[status] ?? "Refused", content: json(ref(op.errors ?? "Error")) };
  }
  return {
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(op.parameters ? { parameters: op.parameters } : {}),
    ...(op.body ? { requestBody: op.body } : {}),
    responses,
    // Public routes say so explicitly: no key needed even when keys are set.
    ...(server.auth ? { security: op.guarded ? [{ bearer: [] }, { apiKey: [] }] : [] } : {}),
  };
}

/** A request body's JSON Schema from the zod schema the route validates with. */
function requestSchema(schema: z.core.$ZodType, agents: readonly string[]): Json {
  const { $schema: _dialect, ...result } = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    override: (ctx) => {
      const described = documentedAs(ctx.zodSchema);
      if (described) {
        for (const key of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Json)[key];
        Object.assign(ctx.jsonSchema, requestSchema(described, agents));
      }
      if ((ctx.zodSchema as unknown) === agentNameSchema && agents.length > 0) (ctx.jsonSchema as Json).enum = [...agents];
    },
  }) as Json;
  return result;
}

/** openapiShapes.ts's components, with their references pointing inside the document. */
function responseSchemas(): Record<string, Json> {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const { schemas } = z.toJSONSchema(components, { io: "input", uri }) as { schemas: Record<string, Json> };
  return Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [id, schema]));
}
