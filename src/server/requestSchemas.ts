/**
 * The shapes of what clients send, as zod schemas: the POST /api/chat body and the WebSocket frames. They
 * check types and presence only; what needs a limit or a secret (message length, attachment bytes and
 * signatures, state size, depth and signature) is checked after, in chatRequest.ts and attachments.ts.
 * `null` for an optional field means "absent" (Python clients send `"state": None`). Messages name the field
 * as config.ts names a key: `'message' must be a string`, `attachments[0].data must be a base64 string`.
 * Schemas are built once here: parsing a small object with a built schema is cheap, building one is not.
 */
import { z } from "zod";
import { RequestError } from "../errors";

export type JsonObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value that must be a string, or absent/null. */
const optionalString = z.string({ error: "must be a string" }).nullish();
/** Left whole for chatRequest.ts: it is measured (size, depth) before anything recursive may look inside. */
const plainObject = z.custom<JsonObject>(isPlainObject, { error: "must be an object" });

const attachment = z.object(
  {
    mime_type: z.string({ error: 'must be a string such as "image/png"' }).min(1, { error: 'must be a string such as "image/png"' }),
    data: z.string({ error: "must be a base64 string" }),
    name: optionalString,
  },
  { error: "must be an object with mime_type, data and name" },
);

/** What every chat turn carries, over REST and WebSocket alike. */
const turnFields = {
  message: z.string({ error: (issue) => (issue.input === undefined || issue.input === null ? "is required" : "must be a string") }),
  attachments: z.array(attachment, { error: "must be an array of {mime_type, data, name}" }).nullish(),
  agent_name: optionalString,
  state: plainObject.nullish(),
};

export const chatBodySchema = z.object(
  { stream: z.boolean({ error: "must be true or false" }).nullish(), ...turnFields },
  { error: 'Request body must be a JSON object such as {"message": "Hello"}' },
);

export const turnSchema = z.object(turnFields);

/** Every frame: a JSON object whose `type`, when given, is a string (the kind is checked by the session). */
export const frameSchema = z.looseObject(
  { type: z.string({ error: "must be a string" }).optional() },
  { error: 'Each frame must be a JSON object such as {"message": "Hello"}' },
);

/** `{"type":"restore", "state": {...}}` and/or `"previous_response_id": "..."`, checked for presence by the session. */
export const restoreSchema = z.object({ state: plainObject.nullish(), previous_response_id: optionalString });

/** A frame's top-level `previous_response_id` (restore and message frames). */
export const responseIdSchema = z.object({ previous_response_id: optionalString });

/** Parses `value` with `schema`, or throws RequestError(400) naming the first field that is wrong. */
export function parseRequest<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = fieldName(issue.path);
  throw new RequestError(400, where === "" ? issue.message : `${where} ${issue.message}`);
}

/** `'message'` for a top-level field (as the API docs quote them), `attachments[0].data` for a nested one. */
function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "";
  if (path.length === 1) return `'${String(path[0])}'`;
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join("");
}
