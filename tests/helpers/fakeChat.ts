/**
 * The fake's Chat Completions endpoint (`POST /v1/chat/completions`), playing the same FakeTurn scripts as
 * the Responses one. Wire format as the real API (openai-node `resources/chat/completions`): frames are
 * `data: <chat.completion.chunk json>\n\n`, tool calls arrive as fragments keyed by `index`, usage comes in
 * a last chunk with no choices when `stream_options.include_usage` is set, and the stream ends with
 * `data: [DONE]`.
 */
import type http from "node:http";
import {
  ClientGone, MALFORMED_FRAME, cutConnection, argDeltas, argString, newId, sendJson, startEventStream, tokens, wordDeltas,
  type FakeTurn, type RecordedRequest,
} from "./fakeWire";

type Sleep = (ms: number) => Promise<void>;

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.filter((p) => p?.type === "text" && typeof p.text === "string").map((p) => p.text).join("");
}

/** Default script: echo the last user message, or report the last tool result. */
export function defaultChatTurn(body: any): FakeTurn {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const last = messages[messages.length - 1];
  if (last?.role === "tool") return { text: `Tool said: ${messageText(last.content)}` };
  const user = [...messages].reverse().find((m) => m?.role === "user");
  return { text: `Echo: ${messageText(user?.content)}` };
}

export async function playChatTurn(turn: FakeTurn, body: any, rec: RecordedRequest, res: http.ServerResponse, sleep: Sleep) {
  const id = newId("chatcmpl", "-");
  rec.responseId = id;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model ?? "fake-chat";
  const calls = (turn.toolCalls ?? []).map((c) => ({ ...c, id: c.callId ?? newId("call"), args: argString(c) }));
  const text = wordDeltas(turn.text ?? (calls.length || turn.reasoning !== undefined ? [] : ""));
  const reasoning = turn.reasoning === undefined ? [] : wordDeltas(turn.reasoning);
  const finishReason = turn.finishReason ?? (calls.length ? "tool_calls" : "stop");
  const promptChars = JSON.stringify(body.messages ?? "").length;
  const outChars = text.join("").length + reasoning.join("").length + calls.reduce((n, c) => n + c.args.length, 0);
  const usage = {
    prompt_tokens: tokens(promptChars), completion_tokens: tokens(outChars), total_tokens: tokens(promptChars) + tokens(outChars),
    // As OpenAI reports it: 0 for a model that does not reason.
    completion_tokens_details: { reasoning_tokens: tokens(reasoning.join("").length) },
  };

  if (body.stream !== true && !turn.alwaysStream) {
    const message: Record<string, unknown> = { role: "assistant", content: text.length ? text.join("") : null, refusal: null };
    if (calls.length) message.tool_calls = calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.args } }));
    return sendJson(res, 200, { id, object: "chat.completion", created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }], usage });
  }

  const write = async (frame: string) => {
    if (res.destroyed) throw new ClientGone();
    res.write(frame);
    await sleep(turn.delayMs ?? 0);
    if (res.destroyed) throw new ClientGone();
  };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: null, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`);

  startEventStream(res);
  await chunk({ role: "assistant", content: "" });
  if (turn.hang) return; // never end: the client has to abort (or close() destroys the socket)
  const field = turn.reasoningField ?? "reasoning_content";
  for (const delta of reasoning) await chunk({ [field]: delta });
  for (const delta of text) await chunk({ content: delta });
  for (const [index, call] of calls.entries()) {
    if (call.oneChunk) {
      await chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: call.args } }] });
      continue;
    }
    await chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }] });
    for (const part of argDeltas(call.args)) await chunk({ tool_calls: [{ index, function: { arguments: part } }] });
  }

  if (turn.cut) return cutConnection(res);
  if (turn.malformed) {
    await write(MALFORMED_FRAME);
    return void res.end();
  }
  const failure = turn.fail ?? turn.streamError;
  if (failure !== undefined) {
    // What OpenAI-compatible servers send on a mid-stream failure; the SDK throws an APIError for it.
    await write(`data: ${JSON.stringify({ error: { message: failure, type: "server_error", param: null, code: "server_error" } })}\n\n`);
    return void res.end();
  }
  await chunk({}, finishReason);
  if (body.stream_options?.include_usage) {
    await write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: null, choices: [], usage })}\n\n`);
  }
  await write("data: [DONE]\n\n");
  res.end();
}
