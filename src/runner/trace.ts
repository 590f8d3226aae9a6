/**
 * What a run tells its tracer (OpenTelemetry spans, src/server/tracing/). Types only: the runner never loads
 * OpenTelemetry, and without a tracer (tracing off) it makes none of these calls. Like RunObserver, the
 * calls come at a run's boundaries (an agent taking over, a model call, a tool call, the end), never per token.
 */
import type { Agent } from "../sdk/agent";
import type { ChatEvent } from "./events";
import type { Model, ModelEvent, ModelRequest } from "./models/model";
import type { ToolCall, ToolCallWrapper } from "./toolCalls";

export interface RunTrace {
  /** `agent` answers from here on: once at the start, then after each hand-off (`from`: the agent handing off). */
  agentStarted(agent: Agent, from?: string): void;
  /** A model call is about to be made; its headers (the trace context) go upstream with the request. */
  modelCall(model: Model, request: ModelRequest): ModelCallTrace;
  /** Runs one function tool call inside its span (the tool's own spans nest under it); a plain function, passed on as is. */
  readonly toolCall: ToolCallWrapper;
  /** The run's `done` or `error` event (each agent span has counted the tokens of the calls under it). */
  runEnded(event: ChatEvent): void;
}

export interface ModelCallTrace {
  readonly headers: Readonly<Record<string, string>>;
  /** The call's end: its `completed` event and the calls it asked for, or what it threw. */
  ended(result: { completed?: Extract<ModelEvent, { type: "completed" }>; calls?: readonly ToolCall[]; error?: unknown }): void;
}
