/**
 * The one provider seam. The runner's loop sees only these types; each adapter under models/ turns one
 * provider's wire stream into ModelEvents.
 */
import type { BuiltinTool, ModelSettings } from "../../project/registry";
import type { JsonSchema } from "../tools";

/** Conversation items in the Responses API's input shape (the neutral format adapters convert from). */
export type InputItem =
  | { role: "user"; content: Array<Record<string, unknown>> | string }
  | { role: "assistant"; content: string }
  | { type: "function_call"; call_id: string; name: string; arguments: string }
  | { type: "function_call_output"; call_id: string; output: string };

export interface FunctionToolSpec {
  name: string;
  description: string;
  parameters: JsonSchema;
}

export interface ModelRequest {
  instructions: string;
  /** The new items of this call; earlier ones are reached through previousResponseId. */
  input: InputItem[];
  previousResponseId?: string;
  tools: FunctionToolSpec[];
  builtinTools: readonly BuiltinTool[];
  settings: Readonly<ModelSettings>;
  signal: AbortSignal;
}

export type ModelEvent =
  | { type: "text_delta"; delta: string }
  | { type: "reasoning_delta"; delta: string }
  | { type: "function_call"; callId: string; name: string; arguments: string }
  | { type: "completed"; responseId?: string; text: string };

export interface Model {
  /** e.g. "openai" — used in error messages. */
  readonly provider: string;
  readonly name: string;
  stream(request: ModelRequest): AsyncIterable<ModelEvent>;
}
