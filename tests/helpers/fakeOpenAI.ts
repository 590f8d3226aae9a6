/**
 * Loopback fake of the OpenAI Responses API (`POST /v1/responses`) and of Chat Completions
 * (`POST /v1/chat/completions`, see fakeChat.ts), so tests can drive the real `openai` SDK without
 * touching the internet. Both endpoints play the same FakeTurn scripts. The Responses SSE wire format
 * mirrors the real API event by event (see openai-node `resources/responses/responses.ts`): every frame
 * is `event: <type>\ndata: <json>\n\n`, every JSON carries `type` and a per-response `sequence_number`.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  ClientGone, MALFORMED_FRAME, cutConnection, argDeltas, argString, errorBody, newId, sendJson, startEventStream, tokens, wordDeltas,
  type FakeTurn, type RecordedRequest,
} from "./fakeWire";
import { defaultChatTurn, playChatTurn } from "./fakeChat";

export type { FakeToolCall, FakeTurn, RecordedRequest } from "./fakeWire";

export interface FakeOpenAI {
  /** Base URL for the SDK, e.g. "http://127.0.0.1:PORT/v1". */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Queue scripted turns (FIFO); each /v1/responses or /v1/chat/completions request takes the next one. */
  enqueue(...turns: FakeTurn[]): void;
  /** Optional dynamic script: called when the queue is empty; return undefined for the default. */
  onRequest?: (body: any, req: RecordedRequest) => FakeTurn | undefined;
  /** Resolves when `n` requests have been received (for tests that must wait for the upstream call). */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Clear queue, onRequest and recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.filter((p) => p?.type === "input_text" && typeof p.text === "string").map((p) => p.text).join("");
}

/** Default script: echo the last user input, or report the last tool output. */
function defaultTurn(body: any): FakeTurn {
  const input = body?.input;
  if (typeof input === "string") return { text: `Echo: ${input}` };
  if (!Array.isArray(input)) return { text: "Echo: " };
  const last = input[input.length - 1];
  if (last?.type === "function_call_output") {
    return { text: `Tool said: ${typeof last.output === "string" ? last.output : JSON.stringify(last.output)}` };
  }
  for (let i = input.length - 1; i >= 0; i--) {
    if (input[i]?.role === "user") return { text: `Echo: ${contentText(input[i].content)}` };
  }
  return { text: "Echo: " };
}

/** The full Response object as the real API returns it (echoing request settings where they exist). */
function responseObject(id: string, body: any, createdAt: number, status: string, output: unknown[], extra: Record<string, unknown> = {}) {
  return {
    id, object: "response", created_at: createdAt, status, background: false, error: null, incomplete_details: null,
    instructions: body.instructions ?? null, max_output_tokens: body.max_output_tokens ?? null,
    model: body.model ?? "gpt-fake", output, parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true, temperature: body.temperature ?? 1, text: body.text ?? { format: { type: "text" } },
    tool_choice: body.tool_choice ?? "auto", tools: body.tools ?? [], top_p: body.top_p ?? 1,
    truncation: body.truncation ?? "disabled", usage: null, user: body.user ?? null, metadata: body.metadata ?? {},
    ...extra,
  };
}

/** Id prefixes of hosted-tool output items, as the real API uses them. */
const HOSTED_ID_PREFIX: Record<string, string> = { web_search_call: "ws", file_search_call: "fs", code_interpreter_call: "ci", image_generation_call: "ig" };

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const queue: FakeTurn[] = [];
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  // Tracked so close() can cancel pending stream delays instead of keeping jest alive.
  const sleep = (ms: number) =>
    ms <= 0 ? Promise.resolve() : new Promise<void>((resolve) => {
      const t = setTimeout(() => { timers.delete(t); resolve(); }, ms);
      timers.add(t);
    });

  /** Plays one turn. Streaming and non-streaming share this path; only `emit` differs. */
  async function playTurn(turn: FakeTurn, body: any, rec: RecordedRequest, res: http.ServerResponse, stream: boolean) {
    const id = newId("resp");
    rec.responseId = id;
    const createdAt = Math.floor(Date.now() / 1000);
    const output: any[] = [];
    let seq = 0;
    // Serialised at emit time, so later mutation of items/parts doesn't leak into earlier events.
    const emit = async (type: string, fields: Record<string, unknown>) => {
      if (!stream) return;
      if (res.destroyed) throw new ClientGone();
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`);
      await sleep(turn.delayMs ?? 0);
      if (res.destroyed) throw new ClientGone();
    };

    if (stream) startEventStream(res);
    await emit("response.created", { response: responseObject(id, body, createdAt, "in_progress", []) });
    await emit("response.in_progress", { response: responseObject(id, body, createdAt, "in_progress", []) });
    if (turn.hang) return; // never end: the client has to abort (or close() destroys the socket)

    let reasoningChars = 0;
    if (turn.reasoning !== undefined) {
      const output_index = output.length;
      const item = { id: newId("rs"), type: "reasoning", summary: [] as unknown[] };
      const at = { item_id: item.id, output_index, summary_index: 0 };
      output.push(item);
      await emit("response.output_item.added", { output_index, item });
      const part = { type: "summary_text", text: "" };
      await emit("response.reasoning_summary_part.added", { ...at, part });
      const deltas = wordDeltas(turn.reasoning);
      for (const delta of deltas) await emit("response.reasoning_summary_text.delta", { ...at, delta });
      part.text = deltas.join("");
      reasoningChars = part.text.length;
      await emit("response.reasoning_summary_text.done", { ...at, text: part.text });
      await emit("response.reasoning_summary_part.done", { ...at, part });
      item.summary.push(part);
      await emit("response.output_item.done", { output_index, item });
    }

    for (const hosted of turn.hosted ?? []) {
      const output_index = output.length;
      const prefix = HOSTED_ID_PREFIX[String(hosted.type)] ?? "ht";
      const item = { id: newId(prefix), status: "completed", ...hosted };
      output.push(item);
      await emit("response.output_item.added", { output_index, item: { ...item, status: "in_progress" } });
      await emit("response.output_item.done", { output_index, item });
    }

    for (const call of turn.toolCalls ?? []) {
      const output_index = output.length;
      const args = argString(call);
      const item = { id: newId("fc"), type: "function_call", status: "in_progress", arguments: "", call_id: call.callId ?? newId("call"), name: call.name };
      output.push(item);
      await emit("response.output_item.added", { output_index, item });
      for (const delta of argDeltas(args)) {
        await emit("response.function_call_arguments.delta", { item_id: item.id, output_index, delta });
      }
      await emit("response.function_call_arguments.done", { item_id: item.id, output_index, name: call.name, arguments: args });
      Object.assign(item, { arguments: args, status: "completed" });
      await emit("response.output_item.done", { output_index, item });
    }

    // A turn with nothing scripted still answers with an (empty) message, like a model saying nothing.
    const text = turn.text ?? (turn.toolCalls?.length || turn.reasoning !== undefined ? undefined : "");
    if (text !== undefined) {
      const output_index = output.length;
      const item = { id: newId("msg"), type: "message", status: "in_progress", content: [] as unknown[], role: "assistant" };
      const at = { item_id: item.id, output_index, content_index: 0 };
      output.push(item);
      await emit("response.output_item.added", { output_index, item });
      const part = { type: "output_text", annotations: [], logprobs: [], text: "" };
      await emit("response.content_part.added", { ...at, part });
      const deltas = wordDeltas(text);
      for (const delta of deltas) await emit("response.output_text.delta", { ...at, delta, logprobs: [] });
      part.text = deltas.join("");
      await emit("response.output_text.done", { ...at, text: part.text, logprobs: [] });
      await emit("response.content_part.done", { ...at, part });
      item.content.push(part);
      item.status = "completed";
      await emit("response.output_item.done", { output_index, item });
    }

    const outChars = output.reduce((n, it) => n + (it.arguments?.length ?? 0) + (it.content?.[0]?.text?.length ?? 0), 0);
    const usage = {
      input_tokens: tokens(JSON.stringify(body.input ?? "").length), input_tokens_details: { cached_tokens: 0 },
      output_tokens: tokens(outChars + reasoningChars), output_tokens_details: { reasoning_tokens: tokens(reasoningChars) },
      total_tokens: 0,
    };
    usage.total_tokens = usage.input_tokens + usage.output_tokens;

    if (turn.cut) return cutConnection(res);
    if (turn.malformed && stream) {
      res.write(MALFORMED_FRAME);
      return void res.end();
    }
    if (turn.streamError !== undefined) {
      await emit("error", { code: "server_error", message: turn.streamError, param: null });
      return void res.end();
    }
    const final = turn.fail !== undefined
      ? responseObject(id, body, createdAt, "failed", output, { error: { code: "server_error", message: turn.fail }, usage })
      : responseObject(id, body, createdAt, "completed", output, { completed_at: Math.floor(Date.now() / 1000), usage });
    if (!stream) return sendJson(res, 200, final);
    await emit(turn.fail !== undefined ? "response.failed" : "response.completed", { response: final });
    res.end();
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body: any = undefined;
    let badJson = false;
    try { body = raw ? JSON.parse(raw) : undefined; } catch { body = raw; badJson = true; }

    const path = new URL(req.url ?? "/", "http://fake").pathname;
    const rec: RecordedRequest = { method: req.method ?? "GET", path, headers: req.headers, body, aborted: false };
    // "Finished" means we called end(); a close before that is a client abort (or close()).
    res.on("close", () => { if (!res.writableEnded) rec.aborted = true; });
    requests.push(rec);
    for (const w of [...waiters]) w();

    const chat = path === "/v1/chat/completions";
    if (rec.method !== "POST" || (path !== "/v1/responses" && !chat)) {
      return sendJson(res, 404, errorBody(404, `Invalid URL (${rec.method} ${path})`));
    }
    if (!/^Bearer\s+\S+/.test(String(req.headers.authorization ?? ""))) {
      return sendJson(res, 401, errorBody(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."));
    }
    if (badJson || typeof body !== "object" || body === null) {
      return sendJson(res, 400, errorBody(400, "We could not parse the JSON body of your request."));
    }

    const turn = queue.shift() ?? fake.onRequest?.(body, rec) ?? (chat ? defaultChatTurn(body) : defaultTurn(body));
    if (turn.httpError) {
      const { status, message, headers } = turn.httpError;
      return sendJson(res, status, errorBody(status, message ?? `Fake error ${status}`), headers);
    }
    const stream = body.stream === true || turn.alwaysStream === true;
    if (turn.hang && !stream) return; // non-streamed hang: simply never answer
    if (chat) return playChatTurn(turn, body, rec, res, sleep);
    await playTurn(turn, body, rec, res, stream);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (err instanceof ClientGone) return;
      if (!res.headersSent) sendJson(res, 500, errorBody(500, `fakeOpenAI crashed: ${String(err)}`));
      else res.destroy();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeOpenAI = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...turns) => { queue.push(...turns); },
    onRequest: undefined,
    waitForRequests(n, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        if (requests.length >= n) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fakeOpenAI: expected ${n} request(s), got ${requests.length} within ${timeoutMs}ms`));
        }, timeoutMs);
        const check = () => {
          if (requests.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    reset() {
      queue.length = 0;
      requests.length = 0; // same array: callers may hold a reference to fake.requests
      fake.onRequest = undefined;
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy(); // hanging streams would otherwise block server.close()
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
