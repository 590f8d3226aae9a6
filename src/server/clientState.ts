/**
 * Conversation state from clients: validated at the edge, since it goes back to the model provider. Every
 * history item must have one of the shapes klisk itself hands out (or the Responses API's long spellings of
 * them, as the Python original returns): user/assistant messages, function calls and their outputs,
 * reasoning summaries. Keys beyond those shapes are dropped, never forwarded; attachments must be `data:`
 * URLs (no remote URLs for the provider to fetch, no file ids of someone else's account).
 */
import { z } from "zod";
import { RequestError } from "../errors";
import type { ChatState } from "../runner/events";

const HISTORY_ROLES = new Set(["user", "assistant"]);
/** Items without a role; a `type: "message"` item has one. */
const HISTORY_TYPES = new Set(["function_call", "function_call_output", "reasoning"]);

const text = z.string({ error: "must be a string" });
const dataUrl = z.string({ error: "must be a data: URL" }).regex(/^data:[^,]*,/, { error: "must be a data: URL" });
const optionalText = text.optional();

const userPart = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("input_text"), text }),
    z.object({ type: z.literal("input_image"), image_url: dataUrl, detail: z.enum(["auto", "low", "high"], { error: 'must be "auto", "low" or "high"' }).optional() }),
    z.object({ type: z.literal("input_file"), file_data: dataUrl, filename: optionalText }),
  ],
  { error: "must be an input_text, input_image or input_file part" },
);

/** Annotations (citations) of an output_text part: flat objects of plain values. */
const annotation = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()], { error: "must be a string, number, boolean or null" }), {
  error: "must be an object of plain values",
});
const assistantPart = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("output_text"), text, annotations: z.array(annotation, { error: "must be an array" }).optional() }),
    z.object({ type: z.literal("refusal"), refusal: text }),
  ],
  { error: "must be an output_text or refusal part" },
);

const message = z.literal("message").optional();
/**
 * A message's content is a string or an array of parts. The schema is chosen by what the client sent rather
 * than with z.union, whose single error would hide which part is wrong. Built once: building is the costly part.
 */
const partsOf = (part: z.ZodType) => z.array(part, { error: "must be a string or an array of parts" });
const userMessage = (content: z.ZodType) => z.object({ type: message, role: z.literal("user"), content });
const assistantMessage = (content: z.ZodType) =>
  z.object({ type: message, role: z.literal("assistant"), id: optionalText, status: optionalText, content });
const userText = userMessage(text);
const userParts = userMessage(partsOf(userPart));
const assistantText = assistantMessage(text);
const assistantParts = assistantMessage(partsOf(assistantPart));
const functionCall = z.object({ type: z.literal("function_call"), call_id: text, name: text, arguments: text, id: optionalText, status: optionalText });
const functionCallOutput = z.object({ type: z.literal("function_call_output"), call_id: text, output: text });
const reasoning = z.object({
  type: z.literal("reasoning"),
  id: optionalText,
  encrypted_content: optionalText,
  summary: z.array(z.object({ type: z.literal("summary_text"), text }), { error: "must be an array of summary_text parts" }),
});

const SCHEMAS: Record<string, (item: Record<string, unknown>) => z.ZodType> = {
  user: (item) => (typeof item.content === "string" ? userText : userParts),
  assistant: (item) => (typeof item.content === "string" ? assistantText : assistantParts),
  function_call: () => functionCall,
  function_call_output: () => functionCallOutput,
  reasoning: () => reasoning,
};

/** Parses a client's `state`; `null`/`undefined` mean a new conversation. Throws RequestError(400). */
export function parseState(raw: unknown, where = "state"): ChatState {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new RequestError(400, `'${where}' must be an object`);
  const { previous_response_id, conversation_history, current_agent_name } = raw as Record<string, unknown>;
  const state: ChatState = {};
  if (previous_response_id !== undefined && previous_response_id !== null) {
    if (typeof previous_response_id !== "string") throw new RequestError(400, `'${where}.previous_response_id' must be a string`);
    state.previous_response_id = previous_response_id;
  }
  if (current_agent_name !== undefined && current_agent_name !== null) {
    if (typeof current_agent_name !== "string") throw new RequestError(400, `'${where}.current_agent_name' must be a string`);
    state.current_agent_name = current_agent_name;
  }
  if (conversation_history !== undefined && conversation_history !== null) {
    if (!Array.isArray(conversation_history)) throw new RequestError(400, `'${where}.conversation_history' must be an array`);
    state.conversation_history = conversation_history.map((item, i) => parseHistoryItem(item, `${where}.conversation_history[${i}]`));
  }
  return state;
}

/** One history item in one of the shapes above, with unknown keys dropped. */
function parseHistoryItem(item: unknown, where: string): unknown {
  if (typeof item !== "object" || item === null || Array.isArray(item)) throw new RequestError(400, `'${where}' must be an object`);
  const { role, type } = item as { role?: unknown; type?: unknown };
  let kind: string;
  if (role !== undefined) {
    if (typeof role !== "string" || !HISTORY_ROLES.has(role)) {
      throw new RequestError(400, `'${where}.role' must be "user" or "assistant" (system and developer items are not accepted from clients)`);
    }
    kind = role;
  } else if (typeof type === "string" && HISTORY_TYPES.has(type)) {
    kind = type;
  } else {
    throw new RequestError(400, `'${where}' is not a conversation item (expected a user/assistant message or a function call)`);
  }
  const parsed = SCHEMAS[kind](item as Record<string, unknown>).safeParse(item);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue.path.map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`)).join("");
  throw new RequestError(400, `'${where}${path}' ${issue.message}`);
}
