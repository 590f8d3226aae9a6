"use strict";
/**
 * The benchmark's loopback fake of the OpenAI Responses API (`POST /v1/responses`), as cheap as it can be so
 * the servers under test are what gets measured. Run as its own process: `node bench/upstream.js` prints
 * `{"port":N}` on stdout once it listens on 127.0.0.1.
 *
 * Wire format as in tests/helpers/fakeOpenAI.ts (the real API's, event by event), but precomputed: every
 * answer is the same TOKENS-token text, so a streamed response is one prebuilt buffer with the response id
 * spliced in, written at once ("instant" upstream). `stream: false` gets the final Response object as JSON.
 *
 * Modes, switched by the bench with `POST /__mode {"mode": "instant"|"slow"}`:
 * - instant: the whole stream is written immediately;
 * - slow: headers, the opening events and the first tokens are sent, then the stream is held open until
 *   `POST /__release` (which finishes every held stream), so servers can be measured holding many streams.
 */
const http = require("node:http");

const TOKENS = 200;
const MODEL = "gpt-4.1-mini";
const ITEM_ID = "msg_bench00000000000000000000000000000000000000000000";
/** 200 word-sized deltas, like real token deltas: leading space travels with the next word. */
const DELTAS = Array.from({ length: TOKENS }, (_, i) => (i === 0 ? "Lorem" : ` w${i}`));
const TEXT = DELTAS.join("");
/** Slow mode sends this many tokens before holding the stream. */
const SLOW_PREFIX_TOKENS = 3;

let responseCounter = 0;
let mode = "instant";
/** Streams held open in slow mode: each is a function that finishes it. */
const held = new Set();

function responseObject(id, status, output, extra) {
  return {
    id, object: "response", created_at: 1700000000, status, background: false, error: null, incomplete_details: null,
    instructions: null, max_output_tokens: null, model: MODEL, output, parallel_tool_calls: true,
    previous_response_id: null, reasoning: { effort: null, summary: null }, store: true, temperature: 1,
    text: { format: { type: "text" } }, tool_choice: "auto", tools: [], top_p: 1, truncation: "disabled",
    usage: null, user: null, metadata: {}, ...extra,
  };
}

const USAGE = { input_tokens: 12, input_tokens_details: { cached_tokens: 0 }, output_tokens: TOKENS, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 12 + TOKENS };
const message = (status, text) => ({
  id: ITEM_ID, type: "message", status, role: "assistant",
  content: text === undefined ? [] : [{ type: "output_text", annotations: [], logprobs: [], text }],
});

/** A stream as three parts: head (needs the id), body (constant), tail (needs the id). Sequence numbers are fixed. */
function frame(type, seq, fields) {
  return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...fields })}\n\n`;
}
const ID_MARK = "resp_ID_MARK";
const at = { item_id: ITEM_ID, output_index: 0, content_index: 0 };
let seq = 0;
const headFrames = [
  frame("response.created", seq++, { response: responseObject(ID_MARK, "in_progress", []) }),
  frame("response.in_progress", seq++, { response: responseObject(ID_MARK, "in_progress", []) }),
  frame("response.output_item.added", seq++, { output_index: 0, item: message("in_progress") }),
  frame("response.content_part.added", seq++, { ...at, part: { type: "output_text", annotations: [], logprobs: [], text: "" } }),
];
const deltaFrames = DELTAS.map((delta) => frame("response.output_text.delta", seq++, { ...at, delta, logprobs: [] }));
const doneFrames = [
  frame("response.output_text.done", seq++, { ...at, text: TEXT, logprobs: [] }),
  frame("response.content_part.done", seq++, { ...at, part: { type: "output_text", annotations: [], logprobs: [], text: TEXT } }),
  frame("response.output_item.done", seq++, { output_index: 0, item: message("completed", TEXT) }),
];
const completedFrame = frame("response.completed", seq++, {
  response: responseObject(ID_MARK, "completed", [message("completed", TEXT)], { completed_at: 1700000001, usage: USAGE }),
});

/** Splits a template around ID_MARK so each response gets its own id without re-serialising. */
function splitOnId(text) {
  const parts = text.split(ID_MARK);
  return parts.map((p) => Buffer.from(p));
}
const HEAD = splitOnId(headFrames.join("")); // created / in_progress carry the id
const SLOW_PREFIX = Buffer.from(deltaFrames.slice(0, SLOW_PREFIX_TOKENS).join(""));
const SLOW_REST = Buffer.from(deltaFrames.slice(SLOW_PREFIX_TOKENS).join("") + doneFrames.join(""));
const MIDDLE = Buffer.from(deltaFrames.join("") + doneFrames.join(""));
const TAIL = splitOnId(completedFrame);
const FINAL_JSON = splitOnId(JSON.stringify(responseObject(ID_MARK, "completed", [message("completed", TEXT)], { completed_at: 1700000001, usage: USAGE })));

function withId(parts, id) {
  const out = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(id);
    out.push(p);
  });
  return out;
}

const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-request-id": "req_bench" };

function respond(req, res, body) {
  const id = Buffer.from(`resp_${(++responseCounter).toString(16).padStart(48, "0")}`);
  if (body.stream !== true) {
    const json = Buffer.concat(withId(FINAL_JSON, id));
    res.writeHead(200, { "content-type": "application/json", "content-length": json.length, "x-request-id": "req_bench" });
    res.end(json);
    return;
  }
  res.writeHead(200, SSE_HEADERS);
  const head = Buffer.concat(withId(HEAD, id));
  const tail = Buffer.concat(withId(TAIL, id));
  if (mode !== "slow") {
    res.end(Buffer.concat([head, MIDDLE, tail]));
    return;
  }
  res.write(Buffer.concat([head, SLOW_PREFIX]));
  const finish = () => {
    held.delete(finish);
    if (!res.destroyed) res.end(Buffer.concat([SLOW_REST, tail]));
  };
  held.add(finish);
  res.on("close", () => held.delete(finish));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (req.url === "/__mode") {
      mode = JSON.parse(Buffer.concat(chunks).toString()).mode;
      return void res.end(JSON.stringify({ mode, held: held.size }));
    }
    if (req.url === "/__release") {
      const n = held.size;
      for (const finish of [...held]) finish();
      return void res.end(JSON.stringify({ released: n }));
    }
    if (req.url === "/__held") return void res.end(JSON.stringify({ held: held.size }));
    if (req.method !== "POST" || req.url !== "/v1/responses") {
      res.writeHead(404, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: { message: `Invalid URL (${req.method} ${req.url})`, type: "invalid_request_error", param: null, code: null } }));
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: { message: "We could not parse the JSON body of your request.", type: "invalid_request_error", param: null, code: null } }));
    }
    respond(req, res, body);
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on("SIGTERM", () => process.exit(0));

