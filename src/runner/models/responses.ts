/** OpenAI Responses API adapter: a streamed `responses.create` call → ModelEvents. */
import type OpenAI from "openai";
import { ModelError } from "../../errors";
import { jsonEventBatches, type RawResponseCall } from "./eventStream";
import { usageOf, type Model, type ModelEvent, type ModelRequest } from "./model";
import { hostedToolEvent, hostedToolIncludes, isHostedToolItem } from "./hostedTools";

/**
 * Stream events the switch below has no case for, by their `event:` name (the API names each event after
 * its `type`): never JSON-parsed. `response.in_progress` alone repeats the whole response object.
 */
const IGNORED_EVENTS: ReadonlySet<string> = new Set([
  "response.queued",
  "response.in_progress",
  "response.output_item.added",
  "response.content_part.added",
  "response.content_part.done",
  "response.function_call_arguments.delta",
  "response.function_call_arguments.done",
  "response.reasoning_summary_part.added",
  "response.reasoning_summary_part.done",
  "response.output_text.annotation.added",
]);

/** Reasoning models only accept (and only send summaries with) a `reasoning` block. */
const REASONING_MODEL = /^(o\d|gpt-5|codex)/i;

export function responsesModel(client: OpenAI, provider: string, name: string): Model {
  return {
    provider,
    name,
    api: "responses",
    async *stream(request: ModelRequest): AsyncGenerator<ModelEvent> {
      const body = buildBody(name, request);
      // JSON mode needs no deltas: it asks for one plain answer, read as the event that would end a stream.
      const call = client.responses.create(request.stream === false ? { ...body, stream: false } : (body as any), { signal: request.signal, headers: request.headers });
      const batches = jsonEventBatches(call as unknown as RawResponseCall, provider, finalEvent, IGNORED_EVENTS);
      // Calls and hosted items seen in output_item.done, so the final response does not repeat them.
      const emitted = new Set<string>();
      const fromItem = (item: any): ModelEvent | undefined => {
        const isCall = item?.type === "function_call";
        if (!isCall && !isHostedToolItem(item)) return undefined;
        const key = String(isCall ? item.call_id : item.id);
        if (emitted.has(key)) return undefined;
        emitted.add(key);
        return isCall ? functionCall(item) : hostedToolEvent(item);
      };
      let text = "";
      let responseId: string | undefined;
      // Parts that streamed deltas; a server that only sends the `.done` event still gets its text through.
      const streamedParts = new Set<string>();
      const partKey = (e: any) => `${e.item_id}:${e.content_index ?? e.summary_index ?? 0}`;
      // The events of one network chunk in a plain loop: one async step per chunk, not per event.
      for await (const batch of batches) {
        for (const event of batch) {
          switch (event.type) {
            case "response.created":
              responseId = event.response?.id;
              break;
            case "response.output_text.delta":
              streamedParts.add(partKey(event));
              text += event.delta;
              yield { type: "text_delta", delta: event.delta };
              break;
            case "response.output_text.done":
              if (!streamedParts.has(partKey(event)) && event.text) {
                text += event.text;
                yield { type: "text_delta", delta: event.text };
              }
              break;
            case "response.reasoning_summary_text.delta":
            case "response.reasoning_text.delta":
              streamedParts.add(partKey(event));
              yield { type: "reasoning_delta", delta: event.delta };
              break;
            case "response.reasoning_summary_text.done":
            case "response.reasoning_text.done":
              if (!streamedParts.has(partKey(event)) && event.text) yield { type: "reasoning_delta", delta: event.text };
              break;
            case "response.output_item.done": {
              const itemEvent = fromItem(event.item);
              if (itemEvent) yield itemEvent;
              break;
            }
            case "response.completed":
            case "response.incomplete": {
              // The final response carries the full output: pick up calls a stream may not have announced.
              const output: any[] = event.response?.output ?? [];
              for (const item of output) {
                const itemEvent = fromItem(item);
                if (itemEvent) yield itemEvent;
              }
              const usage = event.response?.usage;
              yield {
                type: "completed",
                responseId: event.response?.id ?? responseId,
                text: text || outputText(output),
                // Responses has no finish_reason; an incomplete response says why (e.g. max_output_tokens).
                finishReason: event.type === "response.incomplete" ? event.response?.incomplete_details?.reason ?? "incomplete" : "stop",
                usage: usage ? usageOf(usage.input_tokens, usage.output_tokens, usage.output_tokens_details?.reasoning_tokens) : undefined,
              };
              return;
            }
            case "response.failed":
              throw new ModelError(`${provider} response failed: ${event.response?.error?.message ?? "unknown error"}`);
            case "error":
              throw new ModelError(`${provider} stream error: ${event.message ?? event.code ?? "unknown error"}`);
          }
        }
      }
      throw new ModelError(`The ${provider} stream ended before the response completed`);
    },
  };
}

/** A plain Response as the stream event that would have carried it. */
function finalEvent(response: any): any {
  const type = response?.status === "failed" ? "response.failed" : response?.status === "incomplete" ? "response.incomplete" : "response.completed";
  return { type, response };
}

function functionCall(item: any): ModelEvent {
  return { type: "function_call", callId: String(item.call_id), name: String(item.name), arguments: String(item.arguments ?? "") };
}

function outputText(output: any[]): string {
  return output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content ?? [])
    .filter((part: any) => part.type === "output_text")
    .map((part: any) => part.text)
    .join("");
}

function buildBody(model: string, request: ModelRequest): Record<string, unknown> {
  const s = request.settings;
  const tools: unknown[] = request.tools.map((t) => ({
    type: "function",
    name: t.name,
    description: t.description,
    parameters: t.parameters,
    strict: false,
  }));
  tools.push(...request.builtinTools);
  const include = hostedToolIncludes(request.builtinTools);
  const body: Record<string, unknown> = {
    model,
    input: request.input,
    stream: true,
  };
  if (request.instructions) body.instructions = request.instructions;
  if (request.previousResponseId) body.previous_response_id = request.previousResponseId;
  if (tools.length > 0) body.tools = tools;
  if (include.length > 0) body.include = include;
  if (s.parallelToolCalls !== undefined) body.parallel_tool_calls = s.parallelToolCalls;
  if (s.temperature !== undefined) body.temperature = s.temperature;
  if (s.topP !== undefined) body.top_p = s.topP;
  if (s.maxOutputTokens !== undefined) body.max_output_tokens = s.maxOutputTokens;
  if (REASONING_MODEL.test(model) || s.reasoningEffort || s.reasoningSummary) {
    body.reasoning = { summary: s.reasoningSummary ?? "auto", ...(s.reasoningEffort ? { effort: s.reasoningEffort } : {}) };
  }
  return { ...body, ...(s.extraBody ?? {}) };
}
