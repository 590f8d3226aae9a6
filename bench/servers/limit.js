"use strict";
/**
 * "limit": the thinnest server on this stack. A bare node:http server that proxies POST /api/chat to the
 * upstream with the openai SDK and writes klisk's wire format (SSE frames or one JSON answer), plus a bare
 * `ws` server on /ws/chat. No framework, no validation beyond JSON.parse, no routing table: what klisk's
 * own overhead is measured against. Env: PORT, OPENAI_BASE_URL, OPENAI_API_KEY, BENCH_MODEL.
 */
const http = require("node:http");
const { OpenAI } = require("openai");
const { WebSocketServer } = require("ws");

const client = new OpenAI();
const model = process.env.BENCH_MODEL ?? "gpt-4.1-mini";
const instructions = "You are a helpful assistant.";

async function chat(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  if (body.stream === false) {
    const response = await client.responses.create({ model, instructions, input: body.message }, { signal: controller.signal });
    const json = JSON.stringify({ response: response.output_text, state: { previous_response_id: response.id }, done: true });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    return void res.end(json);
  }
  const stream = await client.responses.create({ model, instructions, input: body.message, stream: true }, { signal: controller.signal });
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  let text = "";
  for await (const event of stream) {
    if (event.type === "response.output_text.delta") {
      text += event.delta;
      res.write(`data: ${JSON.stringify({ type: "token", data: event.delta })}\n\n`);
    } else if (event.type === "response.completed") {
      res.write(`data: ${JSON.stringify({ type: "done", data: text, state: { previous_response_id: event.response.id } })}\n\n`);
    }
  }
  res.end("data: [DONE]\n\n");
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end('{"status":"ok"}');
  }
  if (req.method === "POST" && req.url === "/api/chat") {
    return void chat(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String(err) }));
    });
  }
  res.writeHead(404);
  res.end();
});

// A bare ws server: what an idle WebSocket costs on this stack.
const wss = new WebSocketServer({ server, path: "/ws/chat" });
wss.on("connection", (ws) => {
  ws.on("message", (data) => ws.send(JSON.stringify({ type: "error", data: `unexpected frame ${data.length} bytes` })));
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
