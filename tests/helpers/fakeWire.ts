/** Script types and wire helpers shared by the fake's Responses (fakeOpenAI.ts) and Chat (fakeChat.ts) endpoints. */
import type http from "node:http";
import { randomBytes } from "node:crypto";

export interface FakeToolCall {
  name: string;
  arguments: string | Record<string, unknown>;
  callId?: string;
  /** Chat Completions: send the whole call (id, name, arguments) in one chunk, like some servers do. */
  oneChunk?: boolean;
}

export interface FakeTurn {
  /** Output text. A string is streamed in word-sized deltas (split keeping spaces, e.g. "Hello there" → "Hello", " there"); an array gives the exact deltas. */
  text?: string | string[];
  /** Reasoning summary text, streamed as response.reasoning_summary_text.delta events BEFORE the text (reasoning item first in output). On Chat: reasoning deltas. */
  reasoning?: string | string[];
  /** Chat Completions: the delta field reasoning travels in (default "reasoning_content", as DeepSeek/vLLM; "reasoning" as OpenRouter/Groq/Ollama). */
  reasoningField?: "reasoning_content" | "reasoning";
  /** Function calls to emit (after reasoning, before/without text), arguments streamed as 2+ argument deltas. */
  toolCalls?: FakeToolCall[];
  /**
   * Responses only: hosted-tool output items, emitted (added + done) after reasoning and before tool calls/text,
   * e.g. `{ type: "web_search_call", action: { type: "search", query: "q", sources: [...] } }`. An id and
   * `status: "completed"` are filled in unless given.
   */
  hosted?: Array<Record<string, unknown>>;
  /** Chat Completions: the finish_reason (default "tool_calls" with tool calls, else "stop"). */
  finishReason?: string;
  /** Instead of a stream, answer with this HTTP status and an OpenAI-style JSON error body {error:{message,type,code}}. */
  httpError?: { status: number; message?: string; headers?: Record<string, string> };
  /** Delay between stream events, ms (default 0). */
  delayMs?: number;
  /** Stream even when the request asked for `stream: false`, like servers that only speak the stream. */
  alwaysStream?: boolean;
  /** Send headers and the first events, then never finish (for abort tests). */
  hang?: boolean;
  /** Emit `response.failed` with this message instead of completing (Chat: an `{"error":...}` chunk). */
  fail?: string;
  /** Emit an `error` stream event with this message instead of completing (Chat: an `{"error":...}` chunk). */
  streamError?: string;
  /** Stream the content, then destroy the socket instead of completing. */
  cut?: boolean;
  /** Stream the content, then send a data line that is not JSON and end the response. */
  malformed?: boolean;
}

export interface RecordedRequest {
  method: string; path: string; headers: Record<string, string | string[] | undefined>;
  body: any;               // parsed JSON body
  responseId?: string;     // id the fake gave this response (chatcmpl-... on Chat Completions)
  aborted: boolean;        // true once the client disconnected before the fake finished the response
}

/** The broken frame `malformed` sends: a JSON object cut in half. */
export const MALFORMED_FRAME = 'data: {"type":"response.output_text.delta","delta":"oops\n\n';

export class ClientGone extends Error {}

// Real ids are a prefix plus a long hex/alnum tail, e.g. resp_68e1eb49ffc0819181061e1ec436732f.
export const newId = (prefix: string, sep = "_") => `${prefix}${sep}${randomBytes(24).toString("hex")}`;

/** "Hello there" → ["Hello", " there"]: leading whitespace travels with the next word, like real token deltas. */
export function wordDeltas(s: string | string[]): string[] {
  return Array.isArray(s) ? s : s.match(/\s*\S+|\s+$/g) ?? [];
}

/** Arguments always arrive in at least two deltas so consumers must really accumulate them. */
export function argDeltas(args: string): string[] {
  const mid = Math.ceil(args.length / 2);
  return [args.slice(0, mid), args.slice(mid)];
}

export const argString = (call: FakeToolCall) => (typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments));

export const tokens = (chars: number) => Math.ceil(chars / 4);

/** OpenAI-style error `type`/`code` for a status, so SDK error subclasses and messages look familiar. */
export function errorBody(status: number, message: string) {
  const [type, code] =
    status === 401 ? ["invalid_request_error", "invalid_api_key"]
    : status === 429 ? ["requests", "rate_limit_exceeded"]
    : status >= 500 ? ["server_error", "server_error"]
    : ["invalid_request_error", null];
  return { error: { message, type, param: null, code } };
}

export function sendJson(res: http.ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}) {
  const data = JSON.stringify(payload);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), "x-request-id": newId("req"), ...headers });
  res.end(data);
}

export function startEventStream(res: http.ServerResponse) {
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-request-id": newId("req") });
  res.flushHeaders();
}

/**
 * Closes the connection mid-response, like a dropped upstream: what was written is flushed first (so the
 * client really sees the partial stream), then the socket goes away without the chunked terminator.
 */
export function cutConnection(res: http.ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = res.socket;
    if (!socket) return resolve();
    // Node 22+ holds a response's writes of one tick in the response itself (corked until the next tick):
    // release them, or ending the socket now would drop them.
    while (res.writableCorked) res.uncork();
    socket.end(() => resolve());
    socket.destroySoon?.();
  });
}
