/**
 * The shapes of what clients send, as zod schemas: the POST /api/chat body, a chat turn's fields, an
 * attachment item, the WebSocket frame envelope. Messages name the field as config.ts names a key
 * (`'message' must be a string`, `attachments[0].data must be a base64 string`). `null` for an optional
 * field means "absent" (Python clients send `"state": None`).
 *
 * The schemas look at the top level only: attachments are checked item by item after their count, and a
 * `state` is only seen to be an object: it is measured (size, depth) before anything recursive looks inside
 * it (chatRequest.ts). Fields are checked in the order they always were, so a request with several faults
 * gets the same answer as before. Built once: at module load, or once per ServerLimits for the ones
 * holding a limit; parsing a small object with a built schema is cheap, building one is not.
 *
 * A check JSON Schema cannot say (a z.custom, a refinement, a field checked later) is paired by
 * `documented(...)` with a zod schema that says what it amounts to: GET /openapi.json (openapiDocument.ts)
 * describes the field with that one.
 */
import { z } from "zod";
import { RequestError } from "../errors";
import type { AttachmentLimits } from "./attachments";
import type { ServerLimits } from "./limits";

export type JsonObject = Record<string, unknown>;

/** Schema → what its check amounts to in JSON Schema (the OpenAPI document's view); validation never reads it. */
const described = new WeakMap<object, z.ZodType>();

function documented<T extends z.ZodType>(schema: T, as: z.ZodType): T {
  described.set(schema, as);
  return schema;
}

/** The zod schema that says in JSON Schema what `schema` checks, when it cannot say it itself. */
export function documentedAs(schema: object): z.ZodType | undefined {
  return described.get(schema);
}

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value that must be a string, or absent/null. */
export const optionalString = z.string({ error: "must be a string" }).nullish();
/** `agent_name` when given (the caller treats null/absent as "not given"). */
export const agentNameSchema = z.string({ error: "must be a string" });
/** A `state` when given: an object, left whole (not looked inside) until it is measured. */
export const stateObject = documented(
  z.custom<JsonObject>(isPlainObject, { error: "must be an object" }),
  z.looseObject({}).meta({ description: "The `state` of the previous answer, passed back unchanged" }),
);

/**
 * The error of a size limit (a refinement): a 413 whose message is the whole sentence, since it names the
 * field and the limit. parseRequest reads the status from the issue's params.
 */
function tooLarge<T>(message: (value: T) => string) {
  return { error: (issue: { input: unknown }) => message(issue.input as T), params: { status: 413 } };
}

/** One attachment's shape; its contents (base64, MIME type, signature, size) are attachments.ts's. */
export const attachmentSchema = z.object(
  {
    mime_type: z.string({ error: 'must be a string such as "image/png"' }).min(1, { error: 'must be a string such as "image/png"' }),
    data: z.string({ error: "must be a base64 string" }),
    name: optionalString,
  },
  { error: "must be an object with mime_type, data and name" },
);

/** `build` once per key (a server's limits are one object for its life), kept while the key lives. */
function oncePer<K extends object, V>(build: (key: K) => V): (key: K) => V {
  const built = new WeakMap<K, V>();
  return (key) => {
    let value = built.get(key);
    if (value === undefined) built.set(key, (value = build(key)));
    return value;
  };
}

/**
 * `attachments`: an array (or absent/null) of at most limits.maxCount items, each still unchecked (the turn
 * schemas' and parseAttachments'). Not z.array(z.unknown()), which would visit every item before the
 * count is known: a 32 MB body holds 16 million of them.
 */
export const attachmentList = oncePer((limits: AttachmentLimits) =>
  documented(
    z
      .custom<unknown[]>(Array.isArray, { error: "must be an array of {mime_type, data, name}" })
      .refine(
        (items) => items.length <= limits.maxCount,
        tooLarge((items: unknown[]) => `Too many attachments: ${items.length} (at most ${limits.maxCount} per message)`),
      ),
    z.array(attachmentSchema).max(limits.maxCount).describe("Files (base64 or data: URLs); docs/api.md lists the MIME types and limits"),
  ).nullish(),
);

/**
 * The fields every chat turn carries, over REST and WebSocket alike. The schema checks what comes first:
 * the message (present, a string, within limits.max_message_chars) and the attachments (an array within
 * limits.max_attachments). `agent_name` and `state` are passed through: chatRequest.ts checks them with
 * agentNameSchema and stateObject after the attachments' contents, so a request with several faults is
 * told the same one as ever.
 */
function turnShape(limits: ServerLimits) {
  const max = limits.maxMessageChars;
  return {
    message: documented(
      z
        .string({ error: (issue) => (issue.input === undefined || issue.input === null ? "is required" : "must be a string") })
        .refine(
          (message) => message.length <= max,
          tooLarge((message: string) => `'message' is too long: ${message.length} characters (limit ${max}, limits.max_message_chars)`),
        ),
      z.string().max(max).describe("The user message (may be empty when attachments are sent)"),
    ),
    attachments: attachmentList(limits.attachments),
    agent_name: documented(z.unknown(), agentNameSchema.nullable().describe("Which agent answers; default: the state's agent, else the first")).optional(),
    state: documented(z.unknown(), stateObject.nullable()).optional(),
  };
}

/** The schemas for these limits: `body`, POST /api/chat's (the fetch handler's too); `turn`, a WebSocket message frame's. */
export const chatSchemas = oncePer((limits: ServerLimits) => ({
  body: z.object(
    { stream: z.boolean({ error: "must be true or false" }).nullish().describe("An SSE stream (true, the default) or one JSON answer"), ...turnShape(limits) },
    { error: 'Request body must be a JSON object such as {"message": "Hello"}' },
  ),
  turn: z.object(turnShape(limits)),
}));

export type ChatSchemas = ReturnType<typeof chatSchemas>;

/** Every frame: a JSON object whose `type`, when given, is a string (the kind is checked by the session). */
export const frameSchema = z.looseObject(
  { type: z.string({ error: "must be a string" }).optional() },
  { error: 'Each frame must be a JSON object such as {"message": "Hello"}' },
);

/**
 * Parses `value` with `schema`, or throws RequestError naming the first field that is wrong: 400, or the
 * status a limit carries (413). `at` is where `value` sits in the request, e.g. `["attachments", 0]`.
 */
export function parseRequest<T extends z.ZodType>(schema: T, value: unknown, at: readonly PropertyKey[] = []): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const status = issue.code === "custom" ? (issue.params as { status?: number } | undefined)?.status : undefined;
  if (status !== undefined) throw new RequestError(status, issue.message);
  const where = fieldName([...at, ...issue.path]);
  throw new RequestError(400, where === "" ? issue.message : `${where} ${issue.message}`);
}

/** `'message'` for a top-level field (as the API docs quote them), `attachments[0].data` for a nested one. */
function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "";
  if (path.length === 1) return `'${String(path[0])}'`;
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join("");
}
