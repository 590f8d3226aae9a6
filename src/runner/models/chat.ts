/**
 * Chat Completions adapter (OpenAI-compatible providers): a streamed
 * `chat.completions.create` call → ModelEvents. Chat has no server-side conversation, so every request
 * carries the whole conversation.
 */
import type OpenAI from "openai";
import { randomUUID } from "node:crypto";
import { AbortedError, ConfigError, ModelError } from "../../errors";
import { jsonEvents, type RawResponseCall } from "./eventStream";
import { usageOf, type Model, type ModelEvent, type ModelRequest, type Usage } from "./model";
import { toChatMessages } from "./chatMessages";

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

export function chatModel(client: OpenAI, provider: string, name: string): Model {
  return {
    provider,
    name,
    api: "chat",
    async *stream(request: ModelRequest): AsyncGenerator<ModelEvent> {
      if (request.builtinTools.length > 0) {
        // The load-time check reports this first; kept here so a hand-off can never send them silently.
        throw new ConfigError(`Hosted tools (${request.builtinTools.map((t) => t.type).join(", ")}) need an OpenAI Responses model; ${provider} '${name}' speaks Chat Completions.`);
      }
      const body = buildBody(name, request);
      // JSON mode needs no deltas: it asks for one plain answer, read as the chunk that would have streamed it.
      const plain = request.stream === false ? { ...body, stream: false, stream_options: undefined } : body;
      const call = client.chat.completions.create(plain as any, { signal: request.signal, headers: request.headers });
      const chunks = jsonEvents(call as unknown as RawResponseCall, provider, asChunk);
      yield* readChatStream(chunks, provider, request.signal);
    },
  };
}

/**
 * Tool calls arrive as fragments keyed by `index` (id and name in the first, arguments spread over the
 * rest); some servers send a whole call in one chunk, some omit `index`. Calls are emitted once the
 * stream has finished, in index order, because only then are their arguments complete.
 */
export async function* readChatStream(stream: AsyncIterable<any> | Iterable<any>, provider: string, signal: AbortSignal): AsyncGenerator<ModelEvent> {
  const calls = new Map<number, PartialCall>();
  let text = "";
  let id: string | undefined;
  let finishReason: string | undefined;
  let usage: Usage | undefined;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    id ??= chunk.id;
    if (chunk.usage) usage = usageOf(chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.completion_tokens_details?.reasoning_tokens);
    // Only the first choice: we never ask for n > 1.
    const choice = (chunk.choices ?? []).find((c: any) => (c.index ?? 0) === 0);
    if (!choice) continue;
    const delta = choice.delta ?? {};
    // DeepSeek and vLLM say reasoning_content; OpenRouter, Groq and Ollama say reasoning.
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === "string" && reasoning) yield { type: "reasoning_delta", delta: reasoning };
    if (typeof delta.content === "string" && delta.content) {
      text += delta.content;
      yield { type: "text_delta", delta: delta.content };
    }
    for (const fragment of delta.tool_calls ?? []) addFragment(calls, fragment);
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  // An aborted stream must never pass for a complete answer.
  if (signal.aborted) throw new AbortedError();
  // A dropped connection already threw ("terminated"). A response that ended properly but without a
  // finish_reason is accepted (some small servers omit it), unless it carried nothing at all.
  if (!finishReason && chunks === 0) throw new ModelError(`The ${provider} stream ended before the response completed`);
  for (const [, call] of [...calls].sort(([a], [b]) => a - b)) {
    if (!call.name) throw new ModelError(`${provider} sent a tool call without a function name`);
    yield { type: "function_call", callId: call.id, name: call.name, arguments: call.arguments };
  }
  yield { type: "completed", responseId: id, text, finishReason, usage };
}

/** A plain completion as the single chunk that would have streamed it. */
function asChunk(completion: any): any {
  const choice = (completion?.choices ?? []).find((c: any) => (c.index ?? 0) === 0);
  const message = choice?.message ?? {};
  const delta = {
    content: message.content,
    reasoning_content: message.reasoning_content ?? message.reasoning,
    tool_calls: message.tool_calls?.map((call: any, index: number) => ({ index, ...call })),
  };
  return { id: completion?.id, usage: completion?.usage, choices: choice ? [{ index: 0, delta, finish_reason: choice.finish_reason }] : [] };
}

function fragmentIndex(calls: Map<number, PartialCall>, fragment: any): number {
  if (typeof fragment.index === "number") return fragment.index;
  // Without an index: a known id continues its call, a new id starts one, no id continues the last.
  for (const [i, call] of calls) if (fragment.id && call.id === fragment.id) return i;
  return fragment.id || calls.size === 0 ? calls.size : calls.size - 1;
}

function addFragment(calls: Map<number, PartialCall>, fragment: any): void {
  const index = fragmentIndex(calls, fragment);
  let call = calls.get(index);
  if (!call) {
    call = { id: "", name: "", arguments: "" };
    calls.set(index, call);
  }
  if (fragment.id) call.id = fragment.id;
  if (!call.id) call.id = `call_${randomUUID().replace(/-/g, "")}`; // some local servers send no ids
  // Like the SDK's own accumulator: a name replaces, arguments append.
  if (fragment.function?.name) call.name = fragment.function.name;
  if (typeof fragment.function?.arguments === "string") call.arguments += fragment.function.arguments;
}

function buildBody(model: string, request: ModelRequest): Record<string, unknown> {
  const s = request.settings;
  const body: Record<string, unknown> = {
    model,
    messages: toChatMessages(request.instructions, request.input),
    stream: true,
    // Usage arrives in a last chunk with no choices.
    stream_options: { include_usage: true },
  };
  if (request.tools.length > 0) {
    body.tools = request.tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } }));
    // OpenAI rejects parallel_tool_calls in a request without tools.
    if (s.parallelToolCalls !== undefined) body.parallel_tool_calls = s.parallelToolCalls;
  }
  if (s.temperature !== undefined) body.temperature = s.temperature;
  if (s.topP !== undefined) body.top_p = s.topP;
  // max_tokens, not max_completion_tokens: the name every OpenAI-compatible server understands.
  // Use extraBody: { max_completion_tokens } for servers that want the newer name.
  if (s.maxOutputTokens !== undefined) body.max_tokens = s.maxOutputTokens;
  if (s.reasoningEffort !== undefined) body.reasoning_effort = s.reasoningEffort;
  // reasoningSummary has no Chat Completions form (a load-time warning says so).
  return { ...body, ...(s.extraBody ?? {}) };
}
