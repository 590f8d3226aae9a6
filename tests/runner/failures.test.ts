/** Upstream failures on both APIs: each ends the run with one error event a user can act on. */
import net from "node:net";
import { tool } from "../../src/index";
import { configureLogger } from "../../src/log";
import { codeOfError, type ChatEvent } from "../../src/runner/events";
import { statusOfCode } from "../../src/server/statuses";

/** The HTTP status a JSON-mode client gets for a run that ended with this error event. */
const statusOfError = (event: ChatEvent) => statusOfCode(codeOfError(event));
import type { FakeTurn } from "../helpers/fakeOpenAI";
import { useFakeOpenAI } from "../helpers/project";
import { collectEvents, defineAgents, memoryProject } from "../helpers/runner";

const fake = useFakeOpenAI({ presets: ["FIREWORKS"] });
beforeEach(() => {
  process.env.KLISK_MAX_RETRIES = "0"; // some tests raise it
});

// The same failure on each API: [label, model, provider label in messages, key variable].
const APIS = [
  ["Responses", "gpt-5.2", "OpenAI", "OPENAI_API_KEY"],
  ["Chat", "fireworks/llama-v3p1-8b", "Fireworks AI", "FIREWORKS_API_KEY"],
] as const;


async function collect(model: string, turn?: FakeTurn, limits: Record<string, number> = {}): Promise<ChatEvent[]> {
  if (turn) fake().enqueue(turn);
  return collectEvents({ project: memoryProject(defineAgents({ name: "A", model }), { limits }), message: "hi" });
}

/** The last event, checked to be an upstream (502) error. */
function upstreamError(events: ChatEvent[]): string {
  const last = events.at(-1)!;
  if (last.type !== "error") throw new Error(`expected an error, got ${JSON.stringify(last)}`);
  expect(statusOfError(last)).toBe(502);
  expect(events.filter((e) => e.type === "error" || e.type === "done")).toHaveLength(1);
  return last.data;
}

describe.each(APIS)("%s API", (_api, model, label, keyVar) => {
  test("401 and 403 name the key to check", async () => {
    expect(upstreamError(await collect(model, { httpError: { status: 401 } }))).toBe(`Authentication with ${label} failed: check ${keyVar}`);
    expect(upstreamError(await collect(model, { httpError: { status: 403 } }))).toBe(`Authentication with ${label} failed: check ${keyVar}`);
  });

  test("429 and 5xx are reported with the upstream's message once retries are used up", async () => {
    expect(upstreamError(await collect(model, { httpError: { status: 429, message: "Slow down" } }))).toBe(`${label} rate limit or quota exceeded (429): Slow down`);
    expect(upstreamError(await collect(model, { httpError: { status: 503, message: "Overloaded" } }))).toBe(`${label} API error (503): Overloaded`);
  });

  test("429 and 5xx are retried by the SDK (KLISK_MAX_RETRIES)", async () => {
    process.env.KLISK_MAX_RETRIES = "2";
    fake().enqueue({ httpError: { status: 429, headers: { "retry-after-ms": "1" } } }, { httpError: { status: 500, headers: { "retry-after-ms": "1" } } });
    const events = await collect(model, { text: "made it" });
    expect(events.at(-1)).toMatchObject({ type: "done", data: "made it" });
    expect(fake().requests).toHaveLength(3);
  });

  test("a stream cut mid-way after some tokens", async () => {
    const events = await collect(model, { text: "Half an", cut: true });
    expect(events.filter((e) => e.type === "token").map((e) => e.data).join("")).toBe("Half an");
    expect(upstreamError(events)).toBe(`The connection to ${label} was cut mid-stream; try again`);
  });

  test("malformed stream data", async () => {
    expect(upstreamError(await collect(model, { text: "x", malformed: true }))).toMatch(new RegExp(`^${label} sent malformed stream data: `));
  });

  test("an error sent inside the stream", async () => {
    expect(upstreamError(await collect(model, { text: "x", streamError: "The server had an error" }))).toBe(`${label} stream error: The server had an error`);
  });

  test("an upstream that hangs ends at limits.run_timeout_s, and the upstream request is aborted", async () => {
    const events = await collect(model, { hang: true }, { run_timeout_s: 0.3 });
    expect(upstreamError(events)).toBe("The run timed out after 0.3 s");
    for (let i = 0; i < 50 && !fake().requests[0].aborted; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fake().requests[0].aborted).toBe(true);
  });

  test("after a failure the next run works", async () => {
    await collect(model, { httpError: { status: 500 } });
    expect((await collect(model)).at(-1)).toMatchObject({ type: "done", data: "Echo: hi" });
  });
});

test("response.failed from the Responses API", async () => {
  expect(upstreamError(await collect("gpt-5.2", { fail: "Model overloaded" }))).toBe("OpenAI response failed: Model overloaded");
});

test("a refused connection names the provider and its URL", async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  process.env.FIREWORKS_BASE_URL = `http://127.0.0.1:${port}/v1`;
  try {
    expect(upstreamError(await collect("fireworks/m"))).toBe(`Could not reach Fireworks AI at http://127.0.0.1:${port}/v1: Connection error. (ECONNREFUSED)`);
  } finally {
    process.env.FIREWORKS_BASE_URL = fake().url;
  }
});

test('a tool with onError: "return" sends its error to the model instead of ending the run', async () => {
  const flaky = tool({ name: "flaky", onError: "return", execute: () => { throw new RangeError("out of stock"); } });
  const agents = defineAgents({ name: "A", model: "fireworks/m", tools: [flaky] });
  fake().enqueue({ toolCalls: [{ name: "flaky", arguments: {}, callId: "f1" }] });
  const events = await collectEvents({ project: memoryProject(agents), message: "buy" });
  expect(events).toContainEqual({ type: "tool_result", data: { output: "Tool 'flaky' raised: RangeError: out of stock", call_id: "f1", tool: "flaky" } });
  expect(fake().requests[1].body.messages.at(-1)).toEqual({ role: "tool", tool_call_id: "f1", content: "Tool 'flaky' raised: RangeError: out of stock" });
  expect(events.at(-1)).toMatchObject({ type: "done", data: "Tool said: Tool 'flaky' raised: RangeError: out of stock" });
});

describe("tool failures are logged for the operator", () => {
  let lines: any[] = [];
  beforeEach(() => {
    lines = [];
    configureLogger({ level: "error", destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  });
  afterEach(() => configureLogger({ level: "silent" }));

  test("a tool that ends the run: an error line with agent, tool, call id and the stack", async () => {
    const boom = tool({ name: "boom", execute: function explodeHere() { throw new TypeError("kaput"); } });
    fake().enqueue({ toolCalls: [{ name: "boom", arguments: {}, callId: "b1" }] });
    const events = await collectEvents({ project: memoryProject(defineAgents({ name: "A", model: "fireworks/m", tools: [boom] })), message: "go" });
    expect(events.at(-1)).toEqual({ type: "error", data: "Tool 'boom' raised: TypeError: kaput" });
    expect(lines).toEqual([expect.objectContaining({ level: 50, msg: "Tool failed", agent: "A", tool: "boom", callId: "b1" })]);
    expect(lines[0].err).toMatch(/^TypeError: kaput\n[\s\S]*\bat Object.explodeHere /);
  });

  // Values that throw again when described: a message getter that throws, and no prototype (String() fails).
  const hostile: Array<[string, () => unknown, string]> = [
    ["an object whose message getter throws", () => ({ get message(): string { throw new Error("gotcha"); } }), "Error: [object Object]"],
    ["Object.create(null)", () => Object.create(null), "Error: [object Object]"],
  ];
  test.each(hostile)('onError "return": %s still goes back to the model, and is logged', async (_label, make, described) => {
    const weird = tool({ name: "weird", onError: "return", execute: () => { throw make(); } });
    fake().enqueue({ toolCalls: [{ name: "weird", arguments: {}, callId: "w1" }] });
    const events = await collectEvents({ project: memoryProject(defineAgents({ name: "A", model: "fireworks/m", tools: [weird] })), message: "go" });
    expect(events.at(-1)).toMatchObject({ type: "done", data: `Tool said: Tool 'weird' raised: ${described}` });
    expect(lines).toEqual([expect.objectContaining({ level: 50, msg: "Tool failed", tool: "weird", callId: "w1", err: described })]);
  });

  test("default onError: a thrown Object.create(null) ends the run with a normal tool error", async () => {
    const weird = tool({ name: "weird", execute: () => { throw Object.create(null); } });
    fake().enqueue({ toolCalls: [{ name: "weird", arguments: {}, callId: "w2" }] });
    const events = await collectEvents({ project: memoryProject(defineAgents({ name: "A", model: "fireworks/m", tools: [weird] })), message: "go" });
    expect(events.at(-1)).toEqual({ type: "error", data: "Tool 'weird' raised: Error: [object Object]" });
    expect(lines).toHaveLength(1);
  });
});
