/** GET /metrics (deploy.metrics / KLISK_METRICS): scraped over HTTP from a real server and parsed. */
import { tool, z } from "../../src/index";
import { loadApiKeys } from "../../src/server/auth";
import { startServer, type RunningServer } from "../../src/server/listen";
import { freePort, json, makeProject, openWs, postChat, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
const KEY = "metrics-test-key";
const METRICS_ON = "deploy:\n  metrics:\n    enabled: true\n";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped; label values here hold no escapes). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`Not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; undefined when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(url: string, key: string | undefined = KEY): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

describe("metrics on, with an API key", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) });
    const explode = tool({ name: "explode", execute: () => { throw new Error("boom"); } });
    const project = makeProject([{ name: "Assistant", tools: [add, explode] }], METRICS_ON);
    server = await startServer(project, { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 500, keys: loadApiKeys({ KLISK_API_KEY: KEY }) });
  });
  afterAll(() => server.close());

  test("a tool run, a failed tool, a bad key and a WebSocket show up with their real values", async () => {
    const auth = { Authorization: `Bearer ${KEY}` };
    fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] }, { text: "It is 5." });
    const body = await json(await postChat(server.url, { message: "2+3?", stream: false }, auth));
    expect(body).toMatchObject({ response: "It is 5.", usage: { input_tokens: expect.any(Number) } });

    // SSE, with a tool that raises.
    fake().enqueue({ toolCalls: [{ name: "explode", arguments: {} }] });
    const sse = await postChat(server.url, { message: "explode" }, auth);
    expect(sse.status).toBe(200);
    expect(await sse.text()).toContain("Tool 'explode' raised: Error: boom");

    expect((await postChat(server.url, { message: "hi" }, { Authorization: "Bearer wrong" })).status).toBe(401);
    // The provider refuses one call: an upstream error of kind rate_limit.
    fake().enqueue({ httpError: { status: 429, message: "slow down" } });
    expect((await postChat(server.url, { message: "x", stream: false }, auth)).status).toBe(502);

    const socket = await openWs(server.url, { headers: auth });
    let samples = await scrape(server.url);
    expect(valueOf(samples, "klisk_websocket_connections")).toBe(1);
    socket.close();
    await socket.closed;

    samples = await scrape(server.url);
    expect(valueOf(samples, "klisk_tool_calls_total", { tool: "add" })).toBe(1);
    expect(valueOf(samples, "klisk_tool_calls_total", { tool: "explode" })).toBe(1);
    expect(valueOf(samples, "klisk_tool_errors_total", { tool: "explode" })).toBe(1);
    expect(valueOf(samples, "klisk_tool_errors_total", { tool: "add" })).toBeUndefined();
    // Tokens as the fake reported them (the JSON answer's usage: both model calls of the tool run).
    const labels = { agent: "Assistant", model: "gpt-5.2" };
    expect(valueOf(samples, "klisk_model_tokens_total", { ...labels, type: "input" })).toBe(body.usage.input_tokens);
    expect(valueOf(samples, "klisk_model_tokens_total", { ...labels, type: "output" })).toBe(body.usage.output_tokens);
    expect(valueOf(samples, "klisk_runs_total", { agent: "Assistant", outcome: "done" })).toBe(1);
    expect(valueOf(samples, "klisk_runs_total", { agent: "Assistant", outcome: "tool_error" })).toBe(1);
    expect(valueOf(samples, "klisk_runs_total", { agent: "Assistant", outcome: "model_error" })).toBe(1);
    // Two calls for the tool run, one for the raising tool, one refused.
    const model = { agent: "Assistant", provider: "OpenAI", model: "gpt-5.2" };
    expect(valueOf(samples, "klisk_model_calls_total", model)).toBe(4);
    expect(valueOf(samples, "klisk_upstream_errors_total", { ...model, kind: "rate_limit" })).toBe(1);
    expect(valueOf(samples, "klisk_tool_duration_seconds_count", { tool: "add" })).toBe(1);
    expect(valueOf(samples, "klisk_tool_duration_seconds_count", { tool: "explode" })).toBe(1);
    expect(valueOf(samples, "klisk_run_duration_seconds_count", { agent: "Assistant" })).toBe(3);
    expect(valueOf(samples, "klisk_run_time_to_first_token_seconds_count", { agent: "Assistant" })).toBe(1);
    expect(valueOf(samples, "klisk_runs_in_flight")).toBe(0);
    expect(valueOf(samples, "klisk_websocket_connections")).toBe(0);
    expect(valueOf(samples, "klisk_http_requests_total", { route: "/api/chat", method: "POST", status: "200" })).toBeGreaterThanOrEqual(2);
    expect(valueOf(samples, "klisk_http_requests_total", { route: "/api/chat", method: "POST", status: "401" })).toBe(1);
    expect(valueOf(samples, "klisk_rejected_requests_total", { reason: "auth" })).toBe(1);
    // The first scrape is counted too, by its route.
    expect(valueOf(samples, "klisk_http_requests_total", { route: "/metrics", method: "GET", status: "200" })).toBe(1);
    // Node's default process metrics.
    expect(valueOf(samples, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(valueOf(samples, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
  });

  test("/metrics needs the key like /api/chat", async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Invalid API key" });
    expect((await fetch(`${server.url}/metrics`, { headers: { Authorization: "Bearer nope" } })).status).toBe(401);
    const samples = await scrape(server.url);
    expect(valueOf(samples, "klisk_http_requests_total", { route: "/metrics", method: "GET", status: "401" })).toBe(2);
  });
});

describe("metrics off", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve(makeProject([{ name: "Assistant" }]));
  });
  afterAll(() => server.close());

  test("/metrics is the JSON 404", async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found: GET /metrics" });
  });
});

describe("KLISK_METRICS=1 without the config key, no API keys", () => {
  let server: RunningServer;
  beforeAll(async () => {
    process.env.KLISK_METRICS = "1";
    try {
      server = await serve(makeProject([{ name: "Assistant" }]));
    } finally {
      delete process.env.KLISK_METRICS;
    }
  });
  afterAll(() => server.close());

  test("/metrics is served without a key", async () => {
    const samples = await scrape(server.url, undefined);
    expect(valueOf(samples, "klisk_runs_in_flight")).toBe(0);
  });
});

describe("deploy.metrics.port", () => {
  let server: RunningServer;
  let metricsPort: number;
  beforeAll(async () => {
    metricsPort = await freePort();
    const project = makeProject([{ name: "Assistant" }], `${METRICS_ON}    port: ${metricsPort}\n`);
    server = await startServer(project, { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 500, keys: loadApiKeys({ KLISK_API_KEY: KEY }) });
  });
  afterAll(() => server.close());

  test("/metrics is served there alone, without a key, and not on the API's port", async () => {
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    fake().enqueue({ text: "hi" });
    expect((await postChat(server.url, { message: "hi", stream: false }, { Authorization: `Bearer ${KEY}` })).status).toBe(200);
    const samples = await scrape(metricsUrl, undefined);
    expect(valueOf(samples, "klisk_runs_total", { agent: "Assistant", outcome: "done" })).toBe(1);
    const onApi = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(onApi.status).toBe(404);
    const other = await fetch(`${metricsUrl}/api/chat`);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ error: "Not found: GET /api/chat" });
  });

  test("closing the server closes the metrics port", async () => {
    await server.close();
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
  });
});

test("a deploy.metrics.port in use is a clear start-up error", async () => {
  const net = await import("node:net");
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as import("node:net").AddressInfo).port;
  try {
    const project = makeProject([{ name: "Assistant" }], `${METRICS_ON}    port: ${port}\n`);
    await expect(startServer(project, { port: 0, host: "127.0.0.1", keys: loadApiKeys({}) })).rejects.toThrow(`Port ${port} (deploy.metrics.port) is already in use`);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

describe("a hand-off", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const project = makeProject([{ name: "Assistant", handoffs: ["Billing"] }, { name: "Billing", model: "gpt-5-mini" }], METRICS_ON);
    server = await serve(project);
  });
  afterAll(() => server.close());

  test("the run counts for the agent it started with, tokens for the one that answered, model calls for each", async () => {
    fake().enqueue({ toolCalls: [{ name: "transfer_to_billing", arguments: {} }] }, { text: "Billing here." });
    const body = await json(await postChat(server.url, { message: "my invoice", stream: false }));
    expect(body).toMatchObject({ response: "Billing here.", state: { current_agent_name: "Billing" } });
    const samples = await scrape(server.url, undefined);
    expect(valueOf(samples, "klisk_runs_total", { agent: "Assistant", outcome: "done" })).toBe(1);
    expect(valueOf(samples, "klisk_runs_total", { agent: "Billing" })).toBeUndefined();
    expect(valueOf(samples, "klisk_model_calls_total", { agent: "Assistant", model: "gpt-5.2" })).toBe(1);
    expect(valueOf(samples, "klisk_model_calls_total", { agent: "Billing", model: "gpt-5-mini" })).toBe(1);
    expect(valueOf(samples, "klisk_model_tokens_total", { agent: "Billing", model: "gpt-5-mini", type: "input" })).toBe(body.usage.input_tokens);
    expect(valueOf(samples, "klisk_model_tokens_total", { agent: "Billing", model: "gpt-5-mini", type: "output" })).toBe(body.usage.output_tokens);
    // A hand-off is no tool call.
    expect(valueOf(samples, "klisk_tool_calls_total", { tool: "transfer_to_billing" })).toBeUndefined();
    // No reasoning tokens spent (the provider said 0): no reasoning series.
    expect(valueOf(samples, "klisk_model_tokens_total", { type: "reasoning" })).toBeUndefined();
  });

  test("reasoning tokens: type=reasoning, the part of the output the model spent thinking", async () => {
    fake().enqueue({ reasoning: "Let me think about the invoice first.", text: "Thought it through." });
    const body = await json(await postChat(server.url, { message: "think", stream: false }));
    expect(body.usage.reasoning_tokens).toBeGreaterThan(0);
    const samples = await scrape(server.url, undefined);
    expect(valueOf(samples, "klisk_model_tokens_total", { agent: "Assistant", model: "gpt-5.2", type: "reasoning" })).toBe(body.usage.reasoning_tokens);
  });
});
