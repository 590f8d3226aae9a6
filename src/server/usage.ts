/**
 * `usage` on klisk's own wire: the tokens of every model call of a run, summed (the runner keeps them beside
 * the `done` event, runner/events.ts). The `done` event (SSE, WebSocket, `klisk run --json`) and the JSON
 * answer carry it when the provider reported usage; a provider that reports none leaves the field out.
 */
import { usageOf, type ChatEvent, type RunUsage } from "../runner/events";

export interface WireUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** The part of output_tokens spent reasoning; only when the provider reported it. */
  reasoning_tokens?: number;
}

/** The run's usage as the wire spells it, or undefined when the event has none. */
export function wireUsage(event: ChatEvent): WireUsage | undefined {
  const usage = usageOf(event);
  return usage ? toWireUsage(usage) : undefined;
}

export function toWireUsage(usage: RunUsage): WireUsage {
  const wire: WireUsage = { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens };
  if (usage.reasoningTokens !== undefined) wire.reasoning_tokens = usage.reasoningTokens;
  return wire;
}

/** A `done` event with its `usage` field, as it is sent; any other event (or a done without usage) unchanged. */
export function withWireUsage(event: ChatEvent): ChatEvent | (ChatEvent & { usage: WireUsage }) {
  if (event.type !== "done") return event;
  const usage = wireUsage(event);
  return usage ? { ...event, usage } : event;
}

/** `{ usage }` for the JSON answer, or nothing. */
export function usageField(event: ChatEvent): { usage?: WireUsage } {
  const usage = wireUsage(event);
  return usage ? { usage } : {};
}
