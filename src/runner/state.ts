/** Conversation state from clients: validated at the edge, since it goes back to the model provider. */
import { RequestError } from "../errors";
import type { ChatState } from "./events";

/** Item kinds a client may send back in conversation_history: never system/developer instructions. */
const HISTORY_ROLES = new Set(["user", "assistant"]);
const HISTORY_TYPES = new Set(["message", "function_call", "function_call_output", "reasoning"]);

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
    conversation_history.forEach((item, i) => checkHistoryItem(item, `${where}.conversation_history[${i}]`));
    state.conversation_history = conversation_history;
  }
  return state;
}

function checkHistoryItem(item: unknown, where: string): void {
  if (typeof item !== "object" || item === null || Array.isArray(item)) throw new RequestError(400, `'${where}' must be an object`);
  const { role, type } = item as { role?: unknown; type?: unknown };
  if (role !== undefined) {
    if (typeof role !== "string" || !HISTORY_ROLES.has(role)) {
      throw new RequestError(400, `'${where}.role' must be "user" or "assistant" (system and developer items are not accepted from clients)`);
    }
  } else if (typeof type !== "string" || !HISTORY_TYPES.has(type)) {
    throw new RequestError(400, `'${where}' is not a conversation item (expected a user/assistant message or a function call)`);
  }
}
