/**
 * The spans of one run (a RunTrace, see runner/trace.ts): `invoke_agent <agent>` for the run, `chat <model>`
 * per model call and `execute_tool <tool>` per function tool call, with the GenAI convention's attributes.
 *
 * A hand-off nests: the agent taking over gets its own `invoke_agent` span, a child of the span of the agent
 * that handed off (which stays open until the run ends, so it covers the whole run, as a call stack would).
 * Model and tool calls are children of the agent answering at the time. Each agent span counts the tokens
 * of the calls under it, so the outermost one holds the run's total.
 */
import type { Context, Span, Tracer } from "@opentelemetry/api";
import { AbortedError, KliskError, ModelError, ToolError } from "../../errors";
import { splitModelName } from "../../project/providers";
import { addUsage, codeOfError, type RunUsage } from "../../runner/events";
import type { ModelCallTrace, RunTrace } from "../../runner/trace";
import { raised, type ToolCallResult } from "../../runner/toolCalls";
import { GEN_AI, inputMessages, outputMessages, providerName } from "./genai";

type Api = typeof import("@opentelemetry/api");

interface AgentSpan {
  span: Span;
  /** The context its children start under. */
  context: Context;
  usage?: RunUsage;
}

export function runTrace(api: Api, tracer: Tracer, parent: Context, content: boolean): RunTrace {
  const { SpanKind, SpanStatusCode } = api;
  const agents: AgentSpan[] = [];
  // Model and tool calls in progress: a run that ends first (cancelled, a tool failed) ends them too.
  const open = new Set<Span>();
  const under = () => agents[agents.length - 1]?.context ?? parent;
  /** Ends a call's span once (a tool may settle after the run that ended it). */
  const close = (span: Span): boolean => {
    if (!open.delete(span)) return false;
    span.end();
    return true;
  };

  return {
    agentStarted(agent, from) {
      const { provider, modelName } = splitModelName(agent.model);
      const outer = under();
      const span = tracer.startSpan(
        `invoke_agent ${agent.name}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [GEN_AI.operation]: "invoke_agent",
            [GEN_AI.agentName]: agent.name,
            [GEN_AI.provider]: providerName(provider),
            [GEN_AI.requestModel]: modelName,
            ...(from !== undefined ? { "klisk.handoff.from": from } : {}),
          },
        },
        outer,
      );
      agents[agents.length - 1]?.span.addEvent("handoff", { "klisk.handoff.to": agent.name });
      agents.push({ span, context: api.trace.setSpan(outer, span) });
    },

    modelCall(model, request): ModelCallTrace {
      const outer = under();
      const settings = request.settings;
      const span = tracer.startSpan(
        `chat ${model.name}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            [GEN_AI.operation]: "chat",
            [GEN_AI.provider]: providerName(model.providerKey ?? model.provider.toLowerCase()),
            [GEN_AI.requestModel]: model.name,
            ...(settings.temperature !== undefined ? { [GEN_AI.temperature]: settings.temperature } : {}),
            ...(settings.topP !== undefined ? { [GEN_AI.topP]: settings.topP } : {}),
            ...(settings.maxOutputTokens !== undefined ? { [GEN_AI.maxTokens]: settings.maxOutputTokens } : {}),
          },
        },
        outer,
      );
      open.add(span);
      if (content) {
        if (request.instructions) span.setAttribute(GEN_AI.systemInstructions, JSON.stringify([{ type: "text", content: request.instructions }]));
        span.setAttribute(GEN_AI.inputMessages, inputMessages(request.input));
      }
      // The upstream request carries this span as its parent (W3C traceparent).
      const headers: Record<string, string> = {};
      api.propagation.inject(api.trace.setSpan(outer, span), headers);
      return {
        headers,
        ended({ completed, calls = [], error }) {
          if (!open.has(span)) return;
          if (error !== undefined || !completed) {
            recordError(span, error);
          } else {
            if (completed.responseId) span.setAttribute(GEN_AI.responseId, completed.responseId);
            span.setAttribute(GEN_AI.finishReasons, [completed.finishReason ?? "stop"]);
            if (completed.usage) {
              setUsage(span, completed.usage);
              for (const agent of agents) agent.usage = addUsage(agent.usage, completed.usage);
            }
            if (content) span.setAttribute(GEN_AI.outputMessages, outputMessages(completed.text, calls, completed.finishReason));
          }
          close(span);
        },
      };
    },

    toolCall(call, run) {
      const outer = under();
      const span = tracer.startSpan(
        `execute_tool ${call.name}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [GEN_AI.operation]: "execute_tool",
            [GEN_AI.toolName]: call.name,
            [GEN_AI.toolCallId]: call.callId,
            [GEN_AI.toolType]: "function",
            ...(content ? { [GEN_AI.toolArguments]: call.arguments } : {}),
          },
        },
        outer,
      );
      open.add(span);
      const finished = (result: ToolCallResult) => {
        if (open.has(span)) {
          if (content) span.setAttribute(GEN_AI.toolResult, result.output);
          // onError: "return" sent the failure back to the model; the call failed all the same.
          if (raised(result)) recordError(span, new ToolError(call.name, result.output));
          close(span);
        }
        return result;
      };
      const failed = (err: unknown): never => {
        if (open.has(span)) {
          recordError(span, err);
          close(span);
        }
        throw err;
      };
      // The tool runs in its span's context: spans its own code makes (fetch instrumentation, ...) nest under it.
      return api.context.with(api.trace.setSpan(outer, span), run).then(finished, failed);
    },

    runEnded(event) {
      const failure = event.type === "error" ? new KliskError(codeOfError(event), event.data) : undefined;
      const cause = failure && failure.code !== "aborted" ? failure : new AbortedError();
      for (const span of [...open]) {
        recordError(span, cause);
        close(span);
      }
      // Innermost first: each agent span ends after the spans inside it. The run's error is recorded on the
      // agent that was answering; the agents it took over from are marked failed too.
      agents.reverse().forEach(({ span, usage }, i) => {
        if (usage) setUsage(span, usage);
        if (failure && i === 0) recordError(span, cause);
        else if (failure) markFailed(span, cause);
        span.end();
      });
      agents.length = 0;
    },
  };

  /**
   * An error on its span: status ERROR, error.type and an `exception` event. A cancelled call (the client
   * went away, the user pressed stop) is no failure: it is only marked.
   */
  function recordError(span: Span, err: unknown): void {
    const error = err instanceof Error || isErrorLike(err) ? err : new Error(String(err));
    if (!(error instanceof AbortedError)) span.recordException(error);
    markFailed(span, error);
  }

  function markFailed(span: Span, err: { message: string }): void {
    if (err instanceof AbortedError) span.setAttribute("klisk.cancelled", true);
    else {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      span.setAttribute("error.type", errorType(err));
    }
  }
}

function setUsage(span: Span, usage: RunUsage): void {
  span.setAttribute(GEN_AI.inputTokens, usage.inputTokens);
  span.setAttribute(GEN_AI.outputTokens, usage.outputTokens);
  if (usage.reasoningTokens !== undefined) span.setAttribute(GEN_AI.reasoningTokens, usage.reasoningTokens);
}

/** error.type: the upstream failure's kind (rate_limit, timeout, ...), klisk's error code, or the error's name. */
function errorType(err: unknown): string {
  if (err instanceof ModelError) return err.kind;
  if (err instanceof KliskError) return err.code;
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === "string" && name ? name : "_OTHER";
}

function isErrorLike(value: unknown): value is { name: string; message: string } {
  return typeof (value as { message?: unknown } | null)?.message === "string";
}
