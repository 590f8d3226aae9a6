/**
 * What the server answers, as zod schemas used only by GET /openapi.json (openapiDocument.ts): the JSON
 * answers, the error bodies and every event of klisk's SSE stream (runner/events.ts, docs/api.md). The
 * server never parses its own answers with these; tests/server/openapi.test.ts checks real answers
 * against the document they become, so a shape that drifts from the wire fails there.
 *
 * Objects are open (extra keys allowed: the document is made with io "input", which leaves
 * additionalProperties unset): the wire adds fields, never renames them. Each schema is registered under
 * its component name; this module is loaded on the first GET /openapi.json only.
 */
import { z } from "zod";

/** Component name → schema: `#/components/schemas/<id>` in the document. */
export const components = z.registry<{ id: string }>();

function component<T extends z.ZodType>(id: string, schema: T): T {
  components.add(schema as z.ZodType, { id });
  return schema;
}

const describe = <T extends z.ZodType>(schema: T, description: string): T => schema.describe(description);

export const errorBody = component(
  "Error",
  z.object({ error: z.string() }).describe('Every klisk error: `{"error": "..."}` with a precise status (docs/api.md, Errors).'),
);

export const openaiErrorBody = component(
  "OpenAIError",
  z
    .object({
      error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }),
    })
    .describe("Errors of the /v1 routes, in OpenAI's shape, so the SDKs raise their usual exceptions."),
);

export const jsonRpcError = component(
  "JsonRpcError",
  z
    .object({
      jsonrpc: z.literal("2.0"),
      id: z.union([z.string(), z.number(), z.null()]),
      error: z.object({ code: z.number().int(), message: z.string() }),
    })
    .describe("Errors of /mcp and /a2a before the method runs (401, 413, 429, 503 ...), in JSON-RPC shape."),
);

export const health = component(
  "Health",
  z.object({
    status: z.enum(["ok", "draining", "starting"]).describe("ok (200); draining while shutting down, starting until every worker listens (503)"),
  }),
);

const usage = component(
  "Usage",
  z
    .object({ input_tokens: z.number().int(), output_tokens: z.number().int(), total_tokens: z.number().int() })
    .describe("Tokens of the whole run, every model call summed; absent when the provider reported none."),
);

export const chatState = component(
  "ChatState",
  z
    .object({
      previous_response_id: z.string().optional(),
      conversation_history: z.array(z.unknown()).optional(),
      current_agent_name: z.string().optional(),
      signature: z.string().optional().describe("Present when KLISK_STATE_SECRET is set"),
    })
    .describe("Pass it back unchanged as `state` to continue the conversation."),
);

export const chatResponse = component(
  "ChatResponse",
  z.object({
    response: z.string().describe("The final assistant message"),
    state: chatState,
    done: z.literal(true),
    usage: usage.optional(),
  }),
);

/** Event type → its component, for the union's discriminator (client generators make a tagged union of it). */
const eventMapping: Record<string, string> = {};

/** One `data:` frame of POST /api/chat's stream per event; the stream ends with `data: [DONE]`. */
function event<T extends string, S extends z.ZodRawShape>(id: string, type: T, shape: S, description: string) {
  eventMapping[type] = `#/components/schemas/${id}`;
  return component(id, z.object({ type: z.literal(type), ...shape }).meta({ title: `${type} event`, description }));
}

export const chatEvents = [
  event("TokenEvent", "token", { data: z.string() }, "A text delta of the answer"),
  event("ThinkingEvent", "thinking", { data: z.string() }, "A reasoning summary delta (reasoning models)"),
  event(
    "ToolCallEvent",
    "tool_call",
    { data: z.object({ tool: z.string(), arguments: z.string().describe("JSON text"), status: z.literal("running"), call_id: z.string() }) },
    "A tool starts",
  ),
  event(
    "ToolResultEvent",
    "tool_result",
    { data: z.object({ output: z.string(), call_id: z.string(), tool: z.string() }) },
    "A tool's output; pair it with its call by call_id",
  ),
  event("HandoffEvent", "handoff", { data: z.object({ from: z.string(), to: z.string() }) }, "Another agent continues the answer"),
  event(
    "DoneEvent",
    "done",
    { data: z.string().describe("The final assistant message"), response_id: z.string().optional(), state: chatState, usage: usage.optional() },
    "The run is over; `state` continues the conversation",
  ),
  event("ErrorEvent", "error", { data: z.string() }, "The run failed and is over"),
] as const;

export const chatEvent = component(
  "ChatEvent",
  z
    .discriminatedUnion("type", chatEvents)
    .meta({ description: "One `data: <json>` frame of the stream; it always ends with `data: [DONE]`.", discriminator: { propertyName: "type", mapping: eventMapping } }),
);

export const apiInfo = component(
  "ApiInfo",
  z.object({
    name: z.string(),
    agent: z.string().optional().describe("The default agent"),
    auth_required: z.boolean(),
    agents: z.array(
      z.object({ name: z.string(), model: z.string(), tools: z.array(z.string()), handoffs: z.array(z.string()) }),
    ),
    endpoints: z.record(z.string(), z.string()).describe("The paths served, relative to the mount"),
    deploy: z.object({}),
    ui: z.object({}),
    dev: z.object({}).optional().describe("Under `klisk dev` only: the reload status"),
  }),
);

export const devStatus = component(
  "DevStatus",
  z.object({
    generation: z.number().int(),
    reloaded_at: z.string(),
    error: z.object({ message: z.string(), file: z.string().optional(), line: z.number().int().optional(), at: z.string() }).nullable(),
  }),
);

export const modelList = component(
  "ModelList",
  z.object({
    object: z.literal("list"),
    data: z.array(z.object({ id: z.string().describe("An agent's name"), object: z.literal("model"), created: z.number().int(), owned_by: z.string() })),
  }),
);

const completionUsage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });

export const chatCompletion = component(
  "ChatCompletion",
  z.object({
    id: z.string(),
    object: z.literal("chat.completion"),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({ role: z.literal("assistant"), content: z.string().nullable() }),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage: completionUsage.optional(),
  }),
);

export const chatCompletionChunk = component(
  "ChatCompletionChunk",
  z
    .object({
      id: z.string(),
      object: z.literal("chat.completion.chunk"),
      created: z.number().int(),
      model: z.string(),
      choices: z.array(
        z.object({
          index: z.number().int(),
          delta: z.object({ role: z.string().optional(), content: z.string().optional(), reasoning_content: z.string().optional() }),
          finish_reason: z.string().nullable(),
        }),
      ),
      usage: completionUsage.nullish(),
    })
    .describe("One `data:` frame of a streamed completion; the stream ends with `data: [DONE]`."),
);

/** The AI SDK's UI message stream (v1): one chunk per `data:` frame, then `data: [DONE]`. */
export const aiSdkChunk = component(
  "AiSdkChunk",
  z.object({
    type: describe(
      z.union([
        z.enum([
          "start", "start-step", "finish-step", "text-start", "text-delta", "text-end", "reasoning-start", "reasoning-delta",
          "reasoning-end", "tool-input-available", "tool-output-available", "tool-output-error", "finish", "error",
        ]),
        z.string().regex(/^data-/),
      ]),
      "data-klisk-state (klisk's state) and data-klisk-handoff ({from, to}) are this server's data parts",
    ),
  }),
);

/** AG-UI 1.0 events, one per `data:` frame (no `[DONE]`). */
export const agUiEvent = component(
  "AgUiEvent",
  z.object({
    type: z.enum([
      "RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "REASONING_START", "REASONING_MESSAGE_START",
      "REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_END", "REASONING_END", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END",
      "TOOL_CALL_RESULT", "CUSTOM", "STATE_SNAPSHOT", "RUN_FINISHED", "RUN_ERROR",
    ]),
  }),
);

/** A JSON-RPC 2.0 request: the body of POST /mcp and POST /a2a. */
export const jsonRpcRequest = component(
  "JsonRpcRequest",
  z.object({
    jsonrpc: z.literal("2.0"),
    id: z.union([z.string(), z.number(), z.null()]).optional().describe("Absent for a notification"),
    method: z.string(),
    params: z.unknown().optional(),
  }),
);

export const jsonRpcResponse = component(
  "JsonRpcResponse",
  z.object({ jsonrpc: z.literal("2.0"), id: z.union([z.string(), z.number(), z.null()]), result: z.unknown().optional(), error: z.unknown().optional() }),
);

export const agentCard = component(
  "AgentCard",
  z.object({ name: z.string(), description: z.string(), version: z.string(), capabilities: z.object({}), skills: z.array(z.object({ id: z.string(), name: z.string() })) }),
);
