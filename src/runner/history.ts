/**
 * The conversation kept in `state.conversation_history`: user/assistant messages and function
 * calls/outputs in Responses item shape. It is always kept (next to previous_response_id) so a turn can
 * move to a Chat Completions model, which has no server-side history, without losing the conversation.
 */
import type { Attachment, ChatState } from "./events";
import type { InputItem } from "./models/model";

/** Items kept; older ones are dropped a whole exchange at a time. Keeps the state a client carries small. */
export const MAX_HISTORY_ITEMS = 200;
/** Serialized size kept, well under the default state limit (1 MB) so our own state is always accepted back. */
export const MAX_HISTORY_BYTES = 256 * 1024;
/** Room left in limits.max_state_kb for the rest of the state: response id, agent name, signature. */
const STATE_OVERHEAD_BYTES = 1024;
/** The shortest a long string is cut to before giving up on cutting further. */
const MIN_KEPT_CHARS = 16;

/** The history's share of a state that must fit `maxStateBytes` (limits.max_state_kb) when it comes back. */
export function historyBudget(maxStateBytes: number): number {
  return Math.max(STATE_OVERHEAD_BYTES, Math.min(MAX_HISTORY_BYTES, maxStateBytes - STATE_OVERHEAD_BYTES));
}

const ATTACHMENT_PARTS = new Set(["input_image", "input_file", "image_url", "file"]);

/** The history a turn starts from (already validated by parseState at the edge). */
export function historyFromState(state?: ChatState): InputItem[] {
  return Array.isArray(state?.conversation_history) ? [...(state.conversation_history as InputItem[])] : [];
}

export function attachmentPlaceholder(name?: string): Record<string, unknown> {
  return { type: "input_text", text: `[attachment${name ? ` ${name}` : ""} omitted]` };
}

/** The user's message as it is stored: attachment data replaced by a placeholder naming the file. */
export function storedUserItem(message: string, attachments: readonly Attachment[]): InputItem {
  const content: Array<Record<string, unknown>> = [];
  if (message) content.push({ type: "input_text", text: message });
  content.push(...attachments.map((a) => attachmentPlaceholder(a.name)));
  return { role: "user", content };
}

/**
 * Bounds a conversation for the state: no attachment bytes (a client may have sent some back), at most
 * MAX_HISTORY_ITEMS items and `maxBytes` (UTF-8 JSON), starting at a user message so no tool output is left
 * without its call. An item over half of `maxBytes` (a 1.5 MB tool output) has its long strings cut with a
 * visible marker, so the newest exchange always fits and the state is never one the server then refuses.
 */
export function boundHistory(items: readonly InputItem[], maxBytes = MAX_HISTORY_BYTES): InputItem[] {
  let kept = items.map(withoutAttachments);
  if (kept.length > MAX_HISTORY_ITEMS) kept = startAtUser(kept.slice(kept.length - MAX_HISTORY_ITEMS));
  // Each item is serialised once here; only one over its share is cut (and measured again).
  const fitted = kept.map((item) => fitItem(item, Math.floor(maxBytes / 2)));
  kept = fitted.map(([item]) => item);
  const sizes = fitted.map(([, bytes]) => bytes);
  let total = sizes.reduce((a, b) => a + b, 0) + kept.length + 1; // commas and brackets
  let drop = 0;
  while (total > maxBytes && drop < kept.length - 1) total -= sizes[drop++] + 1;
  return drop > 0 ? startAtUser(kept.slice(drop)) : kept;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** `item` and its size, or a copy whose long strings are cut (halving the length kept) until it takes at most `maxBytes`. */
function fitItem(item: InputItem, maxBytes: number): [InputItem, number] {
  let bytes = jsonBytes(item);
  let fitted = item;
  for (let keep = Math.floor(maxBytes / 2); bytes > maxBytes && keep >= MIN_KEPT_CHARS; keep = Math.floor(keep / 2)) {
    fitted = cutStrings(item, keep) as InputItem;
    bytes = jsonBytes(fitted);
  }
  return [fitted, bytes];
}

function cutStrings(value: unknown, keep: number): unknown {
  if (typeof value === "string") return value.length > keep ? `${value.slice(0, keep)}… [truncated ${value.length - keep} characters]` : value;
  if (Array.isArray(value)) return value.map((member) => cutStrings(member, keep));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, cutStrings(member, keep)]));
  }
  return value;
}

function startAtUser(tail: InputItem[]): InputItem[] {
  const firstUser = tail.findIndex((item) => "role" in item && item.role === "user");
  // A tool loop longer than the limit has no user message left: at least never start at an orphan output.
  const start = firstUser !== -1 ? firstUser : Math.max(0, tail.findIndex((item) => item.type !== "function_call_output"));
  return tail.slice(start);
}

function withoutAttachments(item: InputItem): InputItem {
  if (!("role" in item) || item.role !== "user" || !Array.isArray(item.content)) return item;
  if (!item.content.some((part) => ATTACHMENT_PARTS.has(String(part?.type)))) return item;
  const content = item.content.map((part) =>
    ATTACHMENT_PARTS.has(String(part?.type)) ? attachmentPlaceholder(typeof part.filename === "string" ? part.filename : undefined) : part,
  );
  return { ...item, content };
}
