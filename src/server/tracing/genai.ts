/**
 * The OpenTelemetry GenAI semantic conventions klisk's spans follow (gen_ai.* attributes; still
 * "development" status, so the names are spelled here rather than imported from the incubating entry point),
 * and the content attributes' JSON shapes, written only with KLISK_TRACE_CONTENT=1.
 */
import type { InputItem } from "../../runner/models/model";
import type { ToolCall } from "../../runner/toolCalls";

export const GEN_AI = {
  operation: "gen_ai.operation.name",
  provider: "gen_ai.provider.name",
  agentName: "gen_ai.agent.name",
  requestModel: "gen_ai.request.model",
  temperature: "gen_ai.request.temperature",
  topP: "gen_ai.request.top_p",
  maxTokens: "gen_ai.request.max_tokens",
  responseId: "gen_ai.response.id",
  finishReasons: "gen_ai.response.finish_reasons",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  reasoningTokens: "gen_ai.usage.reasoning.output_tokens",
  toolName: "gen_ai.tool.name",
  toolType: "gen_ai.tool.type",
  toolCallId: "gen_ai.tool.call.id",
  // Content (KLISK_TRACE_CONTENT=1 only).
  systemInstructions: "gen_ai.system_instructions",
  inputMessages: "gen_ai.input.messages",
  outputMessages: "gen_ai.output.messages",
  toolArguments: "gen_ai.tool.call.arguments",
  toolResult: "gen_ai.tool.call.result",
} as const;

/** The convention's well-known provider names, by klisk's provider prefix; any other prefix is used as it is. */
const PROVIDER_NAMES: Readonly<Record<string, string>> = {
  gemini: "gcp.gemini",
  mistral: "mistral_ai",
  xai: "x_ai",
};

export function providerName(prefix: string): string {
  return PROVIDER_NAMES[prefix] ?? prefix;
}

interface Part {
  type: string;
  [field: string]: unknown;
}

/** A request's input items as gen_ai.input.messages: `[{role, parts}]`; attachments are named by type, never copied. */
export function inputMessages(items: readonly InputItem[]): string {
  return JSON.stringify(
    items.map((item) => {
      if (item.type === "function_call") return { role: "assistant", parts: [{ type: "tool_call", id: item.call_id, name: item.name, arguments: item.arguments }] };
      if (item.type === "function_call_output") return { role: "tool", parts: [{ type: "tool_call_response", id: item.call_id, response: item.output }] };
      return { role: item.role, parts: partsOf(item.content) };
    }),
  );
}

/** A model call's answer as gen_ai.output.messages: its text and the tool calls it asked for. */
export function outputMessages(text: string, calls: readonly ToolCall[], finishReason: string | undefined): string {
  const parts: Part[] = text ? [{ type: "text", content: text }] : [];
  for (const call of calls) parts.push({ type: "tool_call", id: call.callId, name: call.name, arguments: call.arguments });
  return JSON.stringify([{ role: "assistant", parts, finish_reason: finishReason ?? "stop" }]);
}

function partsOf(content: string | ReadonlyArray<Record<string, unknown>>): Part[] {
  if (typeof content === "string") return [{ type: "text", content }];
  return content.map((part) => {
    const text = part.text;
    if (typeof text === "string") return { type: "text", content: text };
    // input_image, input_file: the bytes stay out of the trace.
    return { type: "blob", modality: String(part.type ?? "file").replace(/^input_/, "") };
  });
}
