/** The events every transport (SSE, JSON, WebSocket, `klisk run`) turns into output. Shapes follow the spec. */

export interface ChatState {
  /** Responses API: the id of the last response, so the provider keeps the history. */
  previous_response_id?: string;
  /**
   * The conversation so far (bounded, attachments as placeholders), always returned: Chat Completions
   * models have no server-side history, and an agent may move between APIs (hand-off, new model).
   */
  conversation_history?: unknown[];
  /** The agent that answers the next turn (changes after a hand-off). */
  current_agent_name?: string;
}

export type ChatEvent =
  | { type: "token"; data: string }
  | { type: "thinking"; data: string }
  | { type: "tool_call"; data: { tool: string; arguments: string; status: "running"; call_id: string } }
  | { type: "tool_result"; data: { output: string; call_id: string; tool: string } }
  | { type: "handoff"; data: { from: string; to: string } }
  | { type: "done"; data: string; response_id?: string; state: ChatState }
  | { type: "error"; data: string };

export interface Attachment {
  mime_type: string;
  /** Base64-encoded bytes, already validated. */
  data: string;
  name?: string;
}

/**
 * The KliskError code a failed run ended with ("model_error", "tool_error", "aborted", ...), for a transport
 * that needs more than the text: the server maps it to an HTTP status (server/statuses.ts). Kept off the
 * event object so it never reaches the wire.
 */
const errorCodes = new WeakMap<object, string>();

export function errorEvent(message: string, code: string): ChatEvent {
  const event: ChatEvent = { type: "error", data: message };
  errorCodes.set(event, code);
  return event;
}

/** The code errorEvent gave this event; "internal" for one built elsewhere. */
export function codeOfError(event: ChatEvent): string {
  return errorCodes.get(event) ?? "internal";
}

/** Tokens a run used, every model call of it summed; on the `done` event for transports that report usage. */
export interface RunUsage {
  inputTokens: number;
  outputTokens: number;
  /** The part of outputTokens spent reasoning, when a provider reported it for any of the run's calls. */
  reasoningTokens?: number;
}

/** `total` with one model call's usage added (reasoning tokens kept only once some call reported them). */
export function addUsage(total: RunUsage | undefined, call: RunUsage): RunUsage {
  const sum: RunUsage = { inputTokens: (total?.inputTokens ?? 0) + call.inputTokens, outputTokens: (total?.outputTokens ?? 0) + call.outputTokens };
  if (total?.reasoningTokens !== undefined || call.reasoningTokens !== undefined) sum.reasoningTokens = (total?.reasoningTokens ?? 0) + (call.reasoningTokens ?? 0);
  return sum;
}

/** Kept off the event object, like the error codes: it never reaches klisk's own wire. */
const usages = new WeakMap<object, RunUsage>();

export function withUsage<E extends ChatEvent>(event: E, usage: RunUsage | undefined): E {
  if (usage) usages.set(event, usage);
  return event;
}

/** The usage withUsage gave this event, when the provider reported any. */
export function usageOf(event: ChatEvent): RunUsage | undefined {
  return usages.get(event);
}
