"use strict";
/**
 * "wire": the floor of what's possible. The same routes and output as "limit" (GET /health, POST /api/chat
 * answering klisk's SSE frames or one JSON answer, a bare `ws` server on /ws/chat), but with no openai SDK:
 * node:http in, node:http out through one keep-alive agent to `$OPENAI_BASE_URL/responses`, the upstream's
 * SSE body read line by line and JSON-parsed only where needed (text deltas, and response.completed for the
 * id). Nothing is validated beyond JSON.parse. Env: PORT, OPENAI_BASE_URL, OPENAI_API_KEY, BENCH_MODEL.
 */
const http = require("node:http");
const { WebSocketServer } = require("ws");

const base = (process.env.OPENAI_BASE_URL || "https://api.openai.com/v1").replace(/\/+$/, "");
const upstreamUrl = new URL(`${base}/responses`);
if (upstreamUrl.protocol !== "http:") throw new Error(`wire speaks plain http only, not ${upstreamUrl.href}`);
const authorization = `Bearer ${process.env.OPENAI_API_KEY ?? ""}`;
const model = process.env.BENCH_MODEL ?? "gpt-4.1-mini";
const instructions = "You are a helpful assistant.";
// One upstream socket per running chat: maxSockets bounds them, high enough for the bench's 1,000 held streams.
const agent = new http.Agent({ keepAlive: true, maxSockets: 4096, maxFreeSockets: 256 });

/** POSTs the Responses API request; calls back with the upstream response, or an error. */
function upstream(input, stream, onResponse, onError) {
  const body = JSON.stringify({ model, instructions, input, stream });
  const req = http.request(
    {
      agent,
      method: "POST",
      hostname: upstreamUrl.hostname,
      port: upstreamUrl.port,
      path: upstreamUrl.pathname + upstreamUrl.search,
      headers: {
        authorization,
        accept: stream ? "text/event-stream" : "application/json",
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      },
    },
    (up) => {
      if (up.statusCode === 200) return void onResponse(up);
      // Any other status is the provider's error: its body (the API's error JSON) is the message.
      let text = "";
      up.setEncoding("utf8");
      up.on("data", (d) => (text += d));
      up.on("end", () => onError(new Error(`upstream ${up.statusCode}: ${text.slice(0, 500)}`)));
      up.on("error", onError);
    },
  );
  req.on("error", onError);
  req.end(body);
  return req;
}

/** The concatenated output_text parts of a Response object (what the SDK's `output_text` is). */
function outputText(response) {
  let text = "";
  for (const item of response.output ?? []) {
    if (item.type !== "message") continue;
    for (const part of item.content ?? []) if (part.type === "output_text") text += part.text;
  }
  return text;
}

function fail(res, status, message) {
  if (res.headersSent) {
    // After SSE headers, a failure is an `error` event followed by [DONE] (docs/api.md).
    return void res.end(`data: ${JSON.stringify({ type: "error", data: message })}\n\ndata: [DONE]\n\n`);
  }
  const json = JSON.stringify({ error: message });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
  res.end(json);
}

function chatJson(message, res, finish) {
  return upstream(
    message,
    false,
    (up) => {
      const chunks = [];
      up.on("data", (c) => chunks.push(c));
      up.on("error", (err) => fail(res, 502, String(err.message ?? err)));
      up.on("end", () => {
        finish();
        let response;
        try {
          response = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          return fail(res, 502, "upstream answered invalid JSON");
        }
        const json = JSON.stringify({ response: outputText(response), state: { previous_response_id: response.id }, done: true });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
        res.end(json);
      });
    },
    (err) => {
      finish();
      fail(res, 502, String(err.message ?? err));
    },
  );
}

function chatStream(message, res, finish) {
  return upstream(
    message,
    true,
    (up) => {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
      up.setEncoding("utf8"); // a decoder that keeps multi-byte characters split across chunks whole
      let pending = ""; // an incomplete line carried to the next chunk
      let event; // the current SSE event's `event:` name and `data:` lines
      let data;
      let text = "";
      let ended = false;
      /** Handles one complete SSE event; returns the frames to write for it. */
      const dispatch = () => {
        let type = event;
        let parsed;
        // The Responses API names every event; parse to find the type only if a server did not.
        if (type === undefined) type = (parsed = JSON.parse(data)).type;
        if (type === "response.output_text.delta") {
          const delta = (parsed ?? JSON.parse(data)).delta;
          text += delta;
          return `data: {"type":"token","data":${JSON.stringify(delta)}}\n\n`;
        }
        if (type === "response.completed" || type === "response.incomplete") {
          const id = (parsed ?? JSON.parse(data)).response.id;
          return `data: ${JSON.stringify({ type: "done", data: text, state: { previous_response_id: id } })}\n\n`;
        }
        if (type === "response.failed" || type === "error") {
          const e = parsed ?? JSON.parse(data);
          ended = true;
          return `data: ${JSON.stringify({ type: "error", data: e.response?.error?.message ?? e.message ?? type })}\n\ndata: [DONE]\n\n`;
        }
        return "";
      };
      up.on("data", (chunk) => {
        if (ended) return;
        // Every frame this chunk completes goes out in one write: one chunked-encoding write per upstream read.
        let out = "";
        const buffer = pending + chunk;
        let start = 0;
        try {
          for (let nl = buffer.indexOf("\n"); nl !== -1 && !ended; start = nl + 1, nl = buffer.indexOf("\n", start)) {
            const end = nl > start && buffer.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
            if (end === start) {
              if (data !== undefined) out += dispatch();
              event = data = undefined;
            } else if (buffer.startsWith("data:", start)) {
              const value = buffer.slice(start + (buffer.charCodeAt(start + 5) === 32 ? 6 : 5), end);
              data = data === undefined ? value : `${data}\n${value}`;
            } else if (buffer.startsWith("event:", start)) {
              event = buffer.slice(start + (buffer.charCodeAt(start + 6) === 32 ? 7 : 6), end);
            } // `:` comments, `id:` and `retry:` lines are not needed
          }
        } catch (err) {
          ended = true;
          out += `data: ${JSON.stringify({ type: "error", data: `bad upstream event: ${err.message}` })}\n\ndata: [DONE]\n\n`;
        }
        pending = buffer.slice(start);
        if (ended) {
          finish();
          up.destroy(); // the rest of the stream is not wanted; the socket cannot be reused mid-body
          return void res.end(out);
        }
        if (out !== "") res.write(out);
      });
      up.on("error", (err) => fail(res, 502, String(err.message ?? err)));
      up.on("end", () => {
        finish();
        if (!ended) res.end("data: [DONE]\n\n");
      });
    },
    (err) => {
      finish();
      fail(res, 502, String(err.message ?? err));
    },
  );
}

function chat(req, res) {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return fail(res, 400, "Invalid JSON");
    }
    let done = false;
    const finish = () => (done = true);
    const upstreamReq = (body.stream === false ? chatJson : chatStream)(body.message, res, finish);
    // Client gone before the upstream finished: abort it (its socket is closed, not returned to the pool).
    res.on("close", () => {
      if (!done) upstreamReq.destroy();
    });
  });
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end('{"status":"ok"}');
  }
  if (req.method === "POST" && req.url === "/api/chat") return void chat(req, res);
  res.writeHead(404);
  res.end();
});

// A bare ws server, as in limit.js: what an idle WebSocket costs on this stack.
const wss = new WebSocketServer({ server, path: "/ws/chat" });
wss.on("connection", (ws) => {
  ws.on("message", (data) => ws.send(JSON.stringify({ type: "error", data: `unexpected frame ${data.length} bytes` })));
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
