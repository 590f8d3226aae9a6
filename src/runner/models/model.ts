/**
 * The one provider seam. The runner's loop sees only these types; each adapter under models/ turns one
 * provider's wire stream into ModelEvents.
 */
import type { ModelApi } from "../../project/providers";
import type { BuiltinToolConfig, ModelSettings } from "../../sdk/agent";
import type { JsonSchema } from "../../sdk/tool";

/** Which wire API a model speaks (decides how the conversation is carried between calls); routed in project/providers.ts. */
export type { ModelApi };

/**
 * Conversation items in the Responses API's input shape: the neutral format adapters convert from, and
 * what `state.conversation_history` holds. Clients may send back items in the API's longer forms
 * (`{type:"message", content:[{type:"output_text"}]}`, reasoning items), so converters stay lenient.
 */
export type InputItem =
  | { type?: "message"; role: "user"; content: Array<Record<string, unknown>> | string }
  | { type?: "message"; role: "assistant"; content: Array<Record<string, unknown>> | string }
  | { type: "function_call"; call_id: string; name: string; arguments: string }
  | { type: "function_call_output"; call_id: string; output: string };

export interface FunctionToolSpec {
  name: string;
  description: string;
  parameters: JsonSchema;
}

export interface ModelRequest {
  instructions: string;
  /**
   * Responses with previousResponseId: only the items the provider has not seen. Otherwise (Chat
   * Completions, or no response id yet): the whole conversation.
   */
  input: InputItem[];
  previousResponseId?: string;
  tools: FunctionToolSpec[];
  /** Hosted tools (Responses API only), already in request shape. */
  builtinTools: readonly BuiltinToolConfig[];
  settings: Readonly<ModelSettings>;
  signal: AbortSignal;
  /**
   * false: only the final result matters (JSON mode), so the adapter asks for a plain answer; an upstream
   * that streams anyway is still read. The events are the same, but text may come in `completed` alone.
   */
  stream?: boolean;
  /** Extra HTTP headers for this call only: the trace context (`traceparent`) when tracing is on. */
  headers?: Readonly<Record<string, string>>;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** The part of outputTokens spent reasoning, when the provider reports any (reasoning models). */
  reasoningTokens?: number;
}

export type ModelEvent =
  | { type: "text_delta"; delta: string }
  | { type: "reasoning_delta"; delta: string }
  | { type: "function_call"; callId: string; name: string; arguments: string }
  /** A hosted tool the provider ran itself (web search, code interpreter...): shown, never executed here. */
  | { type: "hosted_tool"; callId: string; name: string; arguments: string; output: string }
  | { type: "completed"; responseId?: string; text: string; finishReason?: string; usage?: Usage };

export interface Model {
  /** Human label for messages, e.g. "OpenAI", "Groq". */
  readonly provider: string;
  /** The provider as model names spell it ("openai", "groq", a custom name); set by resolveModel. */
  readonly providerKey?: string;
  readonly name: string;
  readonly api: ModelApi;
  stream(request: ModelRequest): AsyncIterable<ModelEvent>;
}

/**
 * A provider's token counts as Usage. Reasoning tokens only when some were spent: OpenAI reports 0 for every
 * model that does not reason, and that zero on every answer would say nothing.
 */
export function usageOf(input: unknown, output: unknown, reasoning: unknown): Usage {
  const usage: Usage = { inputTokens: typeof input === "number" ? input : 0, outputTokens: typeof output === "number" ? output : 0 };
  if (typeof reasoning === "number" && reasoning > 0) usage.reasoningTokens = reasoning;
  return usage;
}
