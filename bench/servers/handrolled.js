"use strict";
/**
 * "hand-rolled": what a user would write instead of klisk. Express 5 with express.json(), an
 * @openai/agents Agent, `run()` streaming token deltas as SSE (klisk's wire format) or answering JSON, and
 * a `ws` server on /ws/chat. Env: PORT, OPENAI_BASE_URL, OPENAI_API_KEY, BENCH_MODEL.
 */
const http = require("node:http");
const express = require("express");
const { WebSocketServer } = require("ws");
const { Agent, run, setTracingDisabled } = require("@openai/agents");

setTracingDisabled(true);
const agent = new Agent({ name: "Assistant", instructions: "You are a helpful assistant.", model: process.env.BENCH_MODEL ?? "gpt-4.1-mini" });

const app = express();
app.use(express.json());
app.get("/health", (_req, res) => {
  res.json({ status: "ok" });
});
app.post("/api/chat", async (req, res) => {
  const { message, stream = true } = req.body ?? {};
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  if (!stream) {
    const result = await run(agent, message, { signal: controller.signal });
    return void res.json({ response: result.finalOutput, state: { previous_response_id: result.lastResponseId }, done: true });
  }
  const result = await run(agent, message, { stream: true, signal: controller.signal });
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  for await (const event of result) {
    if (event.type === "raw_model_stream_event" && event.data.type === "output_text_delta") {
      res.write(`data: ${JSON.stringify({ type: "token", data: event.data.delta })}\n\n`);
    }
  }
  await result.completed;
  res.write(`data: ${JSON.stringify({ type: "done", data: result.finalOutput, state: { previous_response_id: result.lastResponseId } })}\n\n`);
  res.end("data: [DONE]\n\n");
});

const server = http.createServer(app);
const wss = new WebSocketServer({ server, path: "/ws/chat" });
wss.on("connection", (ws) => {
  ws.on("message", async (data) => {
    const result = await run(agent, JSON.parse(data.toString()).message, { stream: true });
    for await (const event of result) {
      if (event.type === "raw_model_stream_event" && event.data.type === "output_text_delta") ws.send(JSON.stringify({ type: "token", data: event.data.delta }));
    }
    await result.completed;
    ws.send(JSON.stringify({ type: "done", data: result.finalOutput }));
  });
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
