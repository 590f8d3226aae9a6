/**
 * OpenTelemetry traces (OTEL_* variables): spans exported over OTLP/HTTP to a loopback receiver, decoded,
 * and checked as a tree against what really happened (the fake upstream's requests, the response headers).
 */
import http from "node:http";
import { tool, z } from "../../src/index";
import { configureLogger } from "../../src/log";
import type { RunningServer } from "../../src/server/listen";
import { processTracing, stopTracing } from "../../src/server/tracing/tracing";
import { createFetchHandler } from "../../src/fetch";
import { KLISK_BIN, runChild, startKlisk } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../helpers/otlpReceiver";
import { json, makeProject, openWs, postChat, serve, useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { sleep, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const MODEL = "gpt-4.1-mini";
const CONTENT_KEYS = ["gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"];

let receiver: OtlpReceiver;
let server: RunningServer;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // Read when the first server starts tracing (useFakeOpenAI puts the environment back after the file).
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_SERVICE_NAME: "traces-test" });
  const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) });
  const explode = tool({ name: "explode", execute: () => { throw new Error("boom"); } });
  const lookup = tool({ name: "lookup", parameters: z.object({ id: z.string() }), execute: async ({ id }) => `Invoice ${id}: paid` });
  server = await serve(
    makeProject([
      { name: "Triage", model: MODEL, instructions: "Route billing questions.", tools: [add, explode], handoffs: ["Billing"] },
      { name: "Billing", model: MODEL, tools: [lookup] },
    ]),
  );
});
afterAll(async () => {
  await server.close();
  await stopTracing();
  await receiver.close();
});
beforeEach(() => {
  receiver.spans.length = 0;
});

/** Flushes until the request span (the last to end) of a request to `route` has arrived; returns every span so far. */
async function exported(route = "/api/chat"): Promise<ReceivedSpan[]> {
  await waitFor(() => receiver.spans.some((s) => s.kind === 2 && s.attributes["http.route"] === route), 5000, `the ${route} request span`);
  return receiver.spans;
}

async function flushed(): Promise<void> {
  await processTracing()!.flush();
}

// Flush in the background while a test waits: spans go out as they end.
let flushing: NodeJS.Timeout;
beforeEach(() => {
  flushing = setInterval(() => void flushed(), 20);
});
afterEach(() => clearInterval(flushing));

const one = (spans: ReceivedSpan[], name: string) => {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`${found.length} spans named ${name}: ${spans.map((s) => s.name).join(", ")}`);
  return found[0];
};
/** POST /api/chat on a connection of its own; `worker` is the X-Klisk-Worker that answered. */
function postChatOnNewConnection(url: string, body: unknown): Promise<{ status: number; worker: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/api/chat`, { method: "POST", agent: false, headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, worker: String(res.headers["x-klisk-worker"]) }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);

test("a tool-using run that hands off: request → invoke_agent → chat / execute_tool, continuing under invoke_agent Billing", async () => {
  fake().enqueue(
    { toolCalls: [{ name: "add", arguments: { a: 2, b: 3 }, callId: "call_add" }] },
    { toolCalls: [{ name: "transfer_to_billing", arguments: {}, callId: "call_transfer" }] },
    { toolCalls: [{ name: "lookup", arguments: { id: "42" }, callId: "call_lookup" }] },
    { text: "Invoice 42 is paid." },
  );
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const callerSpan = "00f067aa0ba902b7";
  const res = await postChat(server.url, { message: "Is invoice 42 paid? Also 2+3.", stream: false }, { traceparent: `00-${traceId}-${callerSpan}-01` });
  const body = await json(res);
  expect(body.response).toBe("Invoice 42 is paid.");
  const spans = await exported();

  // The caller's trace goes on: its trace id, its span as the request span's parent.
  const request = one(spans, "POST /api/chat");
  expect(request).toMatchObject({ traceId, parentSpanId: callerSpan, kind: 2, status: { code: 0 } });
  expect(request.attributes).toMatchObject({ "http.request.method": "POST", "http.route": "/api/chat", "url.path": "/api/chat", "http.response.status_code": 200, "klisk.request_id": res.headers.get("x-request-id") });
  expect(request.resource["service.name"]).toBe("traces-test");
  expect(spans.every((s) => s.traceId === traceId)).toBe(true);

  const triage = one(spans, "invoke_agent Triage");
  const billing = one(spans, "invoke_agent Billing");
  expect(triage.parentSpanId).toBe(request.spanId);
  expect(triage.attributes).toMatchObject({ "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Triage", "gen_ai.provider.name": "openai", "gen_ai.request.model": MODEL });
  // The hand-off: Billing's span is a child of Triage's, which stays open for the whole run.
  expect(billing.parentSpanId).toBe(triage.spanId);
  expect(billing.attributes).toMatchObject({ "gen_ai.agent.name": "Billing", "klisk.handoff.from": "Triage" });
  expect(triage.events).toContainEqual({ name: "handoff", attributes: { "klisk.handoff.to": "Billing" } });

  // Four model calls, in the order the fake received them: two for Triage, two for Billing.
  const chats = spans.filter((s) => s.name === `chat ${MODEL}`).sort((a, b) => fake().requests.findIndex((r) => r.headers.traceparent?.includes(a.spanId)) - fake().requests.findIndex((r) => r.headers.traceparent?.includes(b.spanId)));
  expect(chats.map((c) => c.parentSpanId)).toEqual([triage.spanId, triage.spanId, billing.spanId, billing.spanId]);
  chats.forEach((chat, i) => {
    expect(chat.kind).toBe(3);
    expect(chat.attributes).toMatchObject({ "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": MODEL, "gen_ai.response.id": fake().requests[i].responseId });
    expect(chat.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
    // The upstream request carried the chat span's trace context.
    expect(fake().requests[i].headers.traceparent).toBe(`00-${traceId}-${chat.spanId}-01`);
  });

  const add = one(spans, "execute_tool add");
  const lookup = one(spans, "execute_tool lookup");
  expect(add.parentSpanId).toBe(triage.spanId);
  expect(add.attributes).toMatchObject({ "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add", "gen_ai.tool.call.id": "call_add", "gen_ai.tool.type": "function" });
  expect(lookup.parentSpanId).toBe(billing.spanId);
  expect(lookup.attributes["gen_ai.tool.call.id"]).toBe("call_lookup");
  expect(childrenOf(spans, request)).toEqual([triage]);

  // Usage: each agent span counts the calls under it; Triage's (the run's) total is the JSON answer's.
  const sum = (list: ReceivedSpan[], key: string) => list.reduce((n, s) => n + (s.attributes[key] as number), 0);
  expect(triage.attributes["gen_ai.usage.input_tokens"]).toBe(sum(chats, "gen_ai.usage.input_tokens"));
  expect(triage.attributes["gen_ai.usage.output_tokens"]).toBe(body.usage.output_tokens);
  expect(billing.attributes["gen_ai.usage.input_tokens"]).toBe(sum(chats.slice(2), "gen_ai.usage.input_tokens"));

  // No prompt, instruction, output or tool argument is recorded without KLISK_TRACE_CONTENT=1.
  for (const span of spans) for (const key of CONTENT_KEYS) expect(span.attributes).not.toHaveProperty(key);
});

test("a tool that raises: ERROR with an exception event on execute_tool, and on the agent's span", async () => {
  fake().enqueue({ toolCalls: [{ name: "explode", arguments: {} }] });
  const res = await postChat(server.url, { message: "explode", stream: false });
  expect(res.status).toBe(500);
  const spans = await exported();
  const explode = one(spans, "execute_tool explode");
  expect(explode.status).toMatchObject({ code: 2, message: "Tool 'explode' raised: Error: boom" });
  expect(explode.attributes["error.type"]).toBe("tool_error");
  expect(explode.events).toContainEqual({ name: "exception", attributes: expect.objectContaining({ "exception.message": "Tool 'explode' raised: Error: boom" }) });
  const triage = one(spans, "invoke_agent Triage");
  expect(triage.status.code).toBe(2);
  expect(triage.attributes["error.type"]).toBe("tool_error");
  expect(triage.events.map((e) => e.name)).toContain("exception");
  const request = one(spans, "POST /api/chat");
  expect(request.status.code).toBe(2);
  expect(request.attributes["error.type"]).toBe("500");
});

test("a model call the provider refuses: ERROR on the chat span, error.type the upstream kind", async () => {
  fake().enqueue({ httpError: { status: 429, message: "slow down" } });
  expect((await postChat(server.url, { message: "x", stream: false })).status).toBe(502);
  const chat = one(await exported(), `chat ${MODEL}`);
  expect(chat.status.code).toBe(2);
  expect(chat.attributes["error.type"]).toBe("rate_limit");
  expect(chat.events.find((e) => e.name === "exception")?.attributes["exception.message"]).toMatch(/rate limit/);
});

test("the request log line carries the run's usage and the trace id", async () => {
  const lines: any[] = [];
  configureLogger({ level: "info", destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  try {
    const body = await json(await postChat(server.url, { message: "hi", stream: false }));
    const spans = await exported();
    await waitFor(() => lines.some((l) => l.msg === "request"));
    const line = lines.find((l) => l.msg === "request");
    expect(line.usage).toEqual(body.usage);
    expect(line.traceId).toBe(one(spans, "POST /api/chat").traceId);
  } finally {
    configureLogger({ level: "silent" });
  }
});

test("a WebSocket turn starts a trace of its own: invoke_agent is a root span", async () => {
  const socket = await openWs(server.url);
  try {
    socket.send({ message: "hello" });
    await socket.until("done");
  } finally {
    socket.close();
  }
  await waitFor(() => receiver.spans.some((s) => s.name === "invoke_agent Triage"));
  const agent = one(receiver.spans, "invoke_agent Triage");
  expect(agent.parentSpanId).toBeUndefined();
  await waitFor(() => receiver.spans.some((s) => s.name === `chat ${MODEL}`));
  expect(one(receiver.spans, `chat ${MODEL}`).parentSpanId).toBe(agent.spanId);
});

test("the fetch handler: the run's spans continue the caller's trace (no request span: the host serves HTTP)", async () => {
  const handler = await createFetchHandler(makeProject([{ name: "Edge", model: MODEL }]));
  try {
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const res = await handler(
      new Request("http://klisk.test/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", traceparent: `00-${traceId}-b7ad6b7169203331-01` },
        body: JSON.stringify({ message: "hi", stream: false }),
      }),
    );
    expect(res.status).toBe(200);
    await waitFor(() => receiver.spans.some((s) => s.name === "invoke_agent Edge"));
    const agent = one(receiver.spans, "invoke_agent Edge");
    expect(agent).toMatchObject({ traceId, parentSpanId: "b7ad6b7169203331" });
    expect(fake().requests[0].headers.traceparent).toMatch(new RegExp(`^00-${traceId}-`));
  } finally {
    await handler.close(200);
  }
});

describe("in a klisk process of its own (dist/: run npm run build first)", () => {
  const ENTRY = [
    'import { defineAgent, tool, z } from "klisk";',
    'const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) });',
    `defineAgent({ name: "Assistant", model: "${MODEL}", instructions: "Add carefully.", tools: [add] });`,
    "",
  ].join("\n");

  /** Starts a server from dist/ in a child, runs one chat, and prints the @opentelemetry modules it loaded. */
  const LOADED_MODULES = `
    const { loadProject } = require("./dist/project/load");
    const { startServer } = require("./dist/server/listen");
    (async () => {
      const server = await startServer(await loadProject(process.argv[1]), { port: 0, host: "127.0.0.1" });
      const res = await fetch(server.url + "/api/chat", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message: "hi", stream: false }) });
      if (res.status !== 200) throw new Error("chat answered " + res.status);
      await server.close();
      console.log(JSON.stringify(Object.keys(require.cache).filter((file) => file.includes("@opentelemetry"))));
    })();
  `;

  test("with tracing off no @opentelemetry module is loaded; with an endpoint set, they are", async () => {
    const dir = writeProjectDir({ entry: ENTRY });
    const run = (env: Record<string, string>) => runChild(process.execPath, ["-e", LOADED_MODULES, dir], { env: { ...fakeUpstreamEnv(fake().url), ...env }, mustSucceed: true });
    expect(JSON.parse((await run({})).stdout)).toEqual([]);
    expect(JSON.parse((await run({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })).stdout)).toEqual([]);
    expect(JSON.parse((await run({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: "true" })).stdout)).toEqual([]);
    expect(JSON.parse((await run({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })).stdout).length).toBeGreaterThan(0);
    // That last one used the default protocol, http/protobuf (flushed by close()): the span names are in its bytes.
    const proto = receiver.raw.filter((r) => r.contentType === "application/x-protobuf");
    expect(proto.length).toBeGreaterThan(0);
    expect(Buffer.concat(proto.map((r) => r.body)).includes("invoke_agent Assistant")).toBe(true);
  });

  test("an app that registered its own OpenTelemetry SDK gets klisk's spans, without any OTEL_* variable", async () => {
    const script = `
      const { NodeTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } = require("@opentelemetry/sdk-trace-node");
      const exporter = new InMemorySpanExporter();
      new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
      const { loadProject } = require("./dist/project/load");
      const { startServer } = require("./dist/server/listen");
      (async () => {
        const server = await startServer(await loadProject(process.argv[1]), { port: 0, host: "127.0.0.1" });
        await (await fetch(server.url + "/api/chat", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message: "hi", stream: false }) })).text();
        await server.close();
        console.log(JSON.stringify(exporter.getFinishedSpans().map((s) => s.name).sort()));
      })();
    `;
    const result = await runChild(process.execPath, ["-e", script, writeProjectDir({ entry: ENTRY })], { env: fakeUpstreamEnv(fake().url), mustSucceed: true });
    expect(JSON.parse(result.stdout)).toEqual(["POST /api/chat", `chat ${MODEL}`, "invoke_agent Assistant"]);
  });

  test("klisk serve with KLISK_TRACE_CONTENT=1: prompts, outputs and tool data on the spans, flushed when it stops", async () => {
    const dir = writeProjectDir({ entry: ENTRY, env: `OTEL_EXPORTER_OTLP_ENDPOINT=${receiver.url}\nOTEL_EXPORTER_OTLP_PROTOCOL=http/json\n` });
    // A batch delay far beyond the test: the spans can only arrive through the flush at shutdown.
    const child = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1"], {
      env: { ...fakeUpstreamEnv(fake().url), KLISK_TRACE_CONTENT: "1", OTEL_BSP_SCHEDULE_DELAY: "600000" },
    });
    const [, url] = await child.waitFor(/URL: (http:\/\/\S+)/);
    fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] }, { text: "It is 5." });
    expect((await json(await postChat(url, { message: "What is 2+3?", stream: false }))).response).toBe("It is 5.");
    await sleep(100); // the request span ends as the response closes
    expect(receiver.spans.filter((s) => s.resource["service.name"] !== "traces-test")).toEqual([]);
    child.child.kill("SIGTERM");
    expect((await child.exited).code).toBe(0);

    const spans = receiver.spans.filter((s) => s.resource["service.name"] !== "traces-test");
    // Named after the project when OTEL_SERVICE_NAME is not set.
    expect(spans[0].resource["service.name"]).toMatch(/^klisk-project-/);
    expect(one(spans, "POST /api/chat").kind).toBe(2);
    const chats = spans.filter((s) => s.name === `chat ${MODEL}`);
    expect(chats).toHaveLength(2);
    const first = chats.find((c) => String(c.attributes["gen_ai.output.messages"]).includes("tool_call"))!;
    expect(JSON.parse(first.attributes["gen_ai.system_instructions"] as string)).toEqual([{ type: "text", content: "Add carefully." }]);
    expect(JSON.parse(first.attributes["gen_ai.input.messages"] as string)).toEqual([{ role: "user", parts: [{ type: "text", content: "What is 2+3?" }] }]);
    expect(JSON.parse(first.attributes["gen_ai.output.messages"] as string)[0].parts).toEqual([expect.objectContaining({ type: "tool_call", name: "add", arguments: '{"a":2,"b":3}' })]);
    const last = chats.find((c) => c !== first)!;
    expect(JSON.parse(last.attributes["gen_ai.output.messages"] as string)).toEqual([{ role: "assistant", parts: [{ type: "text", content: "It is 5." }], finish_reason: "stop" }]);
    expect(one(spans, "execute_tool add").attributes).toMatchObject({ "gen_ai.tool.call.arguments": '{"a":2,"b":3}', "gen_ai.tool.call.result": "5" });
  });

  test("klisk serve --workers 2: each worker exports its own spans, flushed as the primary stops them", async () => {
    const dir = writeProjectDir({ entry: ENTRY });
    const env = { ...fakeUpstreamEnv(fake().url), KLISK_LOG_LEVEL: "info", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_SERVICE_NAME: "workers", OTEL_BSP_SCHEDULE_DELAY: "600000" };
    const child = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1", "--workers", "2"], { env });
    const [, url] = await child.waitFor(/URL: (http:\/\/\S+)/);
    await waitFor(() => child.stderr().includes("All workers ready"), 15_000, "all workers ready");
    const workers = new Set<string>();
    for (let i = 0; i < 4; i++) {
      // A fresh connection each time (no keep-alive), so the cluster hands the requests to both workers.
      const reply = await postChatOnNewConnection(url, { message: `turn ${i}`, stream: false });
      expect(reply.status).toBe(200);
      workers.add(reply.worker);
    }
    expect(workers.size).toBe(2);
    child.child.kill("SIGTERM");
    expect((await child.exited).code).toBe(0);
    const spans = receiver.spans.filter((s) => s.resource["service.name"] === "workers");
    expect(spans.filter((s) => s.name === "POST /api/chat")).toHaveLength(4);
    expect(spans.filter((s) => s.name === "invoke_agent Assistant")).toHaveLength(4);
  });

  test("klisk dev: traced like serve, flushed when it stops", async () => {
    const dir = writeProjectDir({ entry: ENTRY });
    const env = { ...fakeUpstreamEnv(fake().url), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_SERVICE_NAME: "dev", OTEL_BSP_SCHEDULE_DELAY: "600000" };
    const child = startKlisk(["dev", dir, "--port", "0", "--host", "127.0.0.1"], { env });
    const [, url] = await child.waitFor(/URL: (http:\/\/\S+)/);
    expect((await postChat(url, { message: "hi", stream: false })).status).toBe(200);
    child.child.kill("SIGTERM");
    expect((await child.exited).code).toBe(0);
    const spans = receiver.spans.filter((s) => s.resource["service.name"] === "dev");
    expect(one(spans, "invoke_agent Assistant").parentSpanId).toBe(one(spans, "POST /api/chat").spanId);
  });

  test("klisk run: the turn is a trace, exported before the command exits", async () => {
    const dir = writeProjectDir({ entry: ENTRY });
    fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: 1, b: 1 } }] }, { text: "Two." });
    const env = { ...fakeUpstreamEnv(fake().url), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_SERVICE_NAME: "klisk-run", OTEL_BSP_SCHEDULE_DELAY: "600000" };
    const result = await runChild(process.execPath, [KLISK_BIN, "run", "1+1?", dir], { env, mustSucceed: true });
    expect(result.stdout).toContain("Two.");
    const spans = receiver.spans.filter((s) => s.resource["service.name"] === "klisk-run");
    const agent = one(spans, "invoke_agent Assistant");
    expect(agent.parentSpanId).toBeUndefined();
    expect(spans.filter((s) => s.parentSpanId === agent.spanId).map((s) => s.name).sort()).toEqual([`chat ${MODEL}`, `chat ${MODEL}`, "execute_tool add"]);
  });
});
