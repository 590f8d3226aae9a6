/**
 * A2A read by @a2a-js/sdk's own client (auth on), with the fake upstream behind it: the agent card, then
 * JSON-RPC at /a2a in v1.0 (the client's ClientFactory over the card) and v0.3 (its LegacyJsonRpcTransport,
 * which speaks the old method names and shapes): send, stream, get, cancel, and a conversation continued
 * through its contextId.
 */
import { Role, TaskState, type Message } from "@a2a-js/sdk";
import { Client, ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from "@a2a-js/sdk/client";
import { LegacyJsonRpcTransport } from "@a2a-js/sdk/compat/v0_3/client";
import { tool, z } from "../../src/index";
import type { RunningServer } from "../../src/server/listen";
import { makeProject, serve, useFakeOpenAI } from "../helpers/project";
import { waitFor } from "../helpers/wait";

const KEY = "sk-klisk-test";
const fake = useFakeOpenAI({ env: { KLISK_API_KEY: KEY } });
let server: RunningServer;
let disabled: RunningServer;
let single: RunningServer;
let client: Client;
let legacy: Client;
let toolSignal: AbortSignal | undefined;

const withKey = (key: string): typeof fetch => (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), Authorization: `Bearer ${key}` } });

function clientFor(url: string, key = KEY): Promise<Client> {
  const options = ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl: withKey(key) })] });
  return new ClientFactory(options).createFromUrl(url);
}

function userMessage(text: string, extra: Partial<Message> = {}): Message {
  return { messageId: `m-${Math.random()}`, contextId: "", taskId: "", role: Role.ROLE_USER, parts: [{ content: { $case: "text", value: text }, metadata: undefined, filename: "", mediaType: "" }], metadata: undefined, extensions: [], referenceTaskIds: [], ...extra };
}

const send = (c: Client, message: Message) => c.sendMessage({ tenant: "", message, configuration: undefined, metadata: undefined });
const textOf = (parts: { content?: { $case: string; value: unknown } }[] | undefined) => (parts ?? []).map((p) => (p.content?.$case === "text" ? p.content.value : "")).join("");

beforeAll(async () => {
  const slow = tool({
    name: "slow",
    execute: (_args, ctx) => new Promise<string>((_resolve, reject) => {
      toolSignal = ctx.signal;
      ctx.signal.addEventListener("abort", () => reject(new Error("aborted")));
    }),
  });
  const agents = [{ name: "Assistant", instructions: "Be brief.", tools: [slow] }, { name: "Poet" }];
  server = await serve(makeProject(agents));
  disabled = await serve(makeProject(agents, "deploy:\n  a2a:\n    enabled: false\n"));
  single = await serve(makeProject(agents, "limits:\n  max_concurrent_runs: 1\n"));
  client = await clientFor(server.url);
  const card = await client.getAgentCard();
  legacy = new Client(new LegacyJsonRpcTransport({ endpoint: `${server.url}/a2a`, fetchImpl: withKey(KEY) }), card);
});
afterAll(async () => {
  await server.close();
  await disabled.close();
  await single.close();
});

test("the agent card: name, JSON-RPC interfaces for 1.0 and 0.3, streaming, one skill per agent, the key scheme", async () => {
  const raw = await (await fetch(`${server.url}/.well-known/agent-card.json`)).json();
  expect(raw.supportedInterfaces).toEqual([
    { url: `${server.url}/a2a`, protocolBinding: "JSONRPC", protocolVersion: "1.0" },
    { url: `${server.url}/a2a`, protocolBinding: "JSONRPC", protocolVersion: "0.3" },
  ]);
  const card = await client.getAgentCard();
  expect(card.capabilities?.streaming).toBe(true);
  expect(card.skills.map((s) => s.id)).toEqual(["Assistant", "Poet"]);
  expect(card.securitySchemes.bearer.scheme).toEqual({ $case: "httpAuthSecurityScheme", value: expect.objectContaining({ scheme: "Bearer" }) });
  expect(client.protocolVersion).toBe("1.0");
  const info = await (await fetch(`${server.url}/api/info`)).json();
  expect(info.endpoints).toMatchObject({ a2a: "/a2a", agent_card: "/.well-known/agent-card.json" });
});

test("SendMessage answers with a completed task carrying the text; GetTask finds it", async () => {
  const task: any = await send(client, userMessage("Hello"));
  expect(task.status.state).toBe(TaskState.TASK_STATE_COMPLETED);
  expect(textOf(task.artifacts[0].parts)).toBe("Echo: Hello");
  expect(task.contextId).not.toBe("");
  const again = await client.getTask({ tenant: "", id: task.id });
  expect(again.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
  expect(textOf(again.history[1].parts)).toBe("Echo: Hello");
  await expect(client.getTask({ tenant: "", id: "nope" })).rejects.toThrow(/not found/);
});

test("a contextId continues the conversation with the state the server kept", async () => {
  const first: any = await send(client, userMessage("Remember 7"));
  await send(client, userMessage("What number?", { contextId: first.contextId }));
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
  await send(client, userMessage("Fresh"));
  expect(fake().requests[2].body.previous_response_id).toBeUndefined();
});

test("metadata.agent_name picks the agent; an unknown one is an invalid-params error", async () => {
  await send(client, userMessage("Hi", { metadata: { agent_name: "Poet" } }));
  expect(fake().requests[0].body.instructions).not.toBe("Be brief.");
  await expect(send(client, userMessage("Hi", { metadata: { agent_name: "Nobody" } }))).rejects.toThrow(/Unknown agent 'Nobody'/);
});

test("SendStreamingMessage streams the task, the text as artifact chunks and the final status", async () => {
  fake().enqueue({ text: "One two three" });
  const events: any[] = [];
  for await (const event of client.sendMessageStream({ tenant: "", message: userMessage("Go"), configuration: undefined, metadata: undefined })) events.push(event);
  expect(events[0].payload.$case).toBe("task");
  const chunks = events.filter((e) => e.payload.$case === "artifactUpdate");
  expect(chunks.length).toBeGreaterThan(2);
  expect(chunks.map((e) => textOf(e.payload.value.artifact.parts)).join("")).toBe("One two three");
  expect(chunks[chunks.length - 1].payload.value.lastChunk).toBe(true);
  const last = events[events.length - 1].payload;
  expect(last.$case).toBe("statusUpdate");
  expect(last.value.status.state).toBe(TaskState.TASK_STATE_COMPLETED);
});

test("CancelTask stops a streaming task: the tool is signalled and the stream ends canceled", async () => {
  fake().enqueue({ toolCalls: [{ name: "slow", arguments: {} }] });
  toolSignal = undefined;
  const events: any[] = [];
  let taskId = "";
  for await (const event of client.sendMessageStream({ tenant: "", message: userMessage("slow"), configuration: undefined, metadata: undefined })) {
    events.push(event);
    if (event.payload?.$case === "task") {
      taskId = event.payload.value.id;
      await waitFor(() => toolSignal !== undefined);
      const canceled = await client.cancelTask({ tenant: "", id: taskId, metadata: undefined });
      expect(canceled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    }
  }
  expect(toolSignal!.aborted).toBe(true);
  expect((events[events.length - 1].payload as any).value.status.state).toBe(TaskState.TASK_STATE_CANCELED);
  await expect(client.cancelTask({ tenant: "", id: taskId, metadata: undefined })).rejects.toThrow(/already ended/);
});

test("tasks/cancel (v0.3) stops a task still waiting on the model: the upstream request is aborted", async () => {
  fake().enqueue({ hang: true });
  let canceled: any;
  const states: number[] = [];
  for await (const event of legacy.sendMessageStream({ tenant: "", message: userMessage("hang"), configuration: undefined, metadata: undefined })) {
    if (event.payload?.$case === "statusUpdate") states.push(event.payload.value.status!.state);
    if (event.payload?.$case === "task") {
      await fake().waitForRequests(1);
      canceled = await legacy.cancelTask({ tenant: "", id: event.payload.value.id, metadata: undefined });
    }
  }
  expect(canceled.status.state).toBe(TaskState.TASK_STATE_CANCELED);
  expect(states[states.length - 1]).toBe(TaskState.TASK_STATE_CANCELED);
  await waitFor(() => fake().requests[0].aborted === true);
});

test("v0.3 clients (message/send, message/stream, tasks/get) get v0.3 shapes", async () => {
  const task: any = await legacy.sendMessage({ tenant: "", message: userMessage("Old"), configuration: undefined, metadata: undefined });
  expect(task.status.state).toBe(TaskState.TASK_STATE_COMPLETED);
  expect(textOf(task.artifacts[0].parts)).toBe("Echo: Old");
  const raw = await fetch(`${server.url}/a2a`, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tasks/get", params: { id: task.id } }),
  });
  const body = await raw.json();
  expect(raw.headers.get("a2a-version")).toBe("0.3");
  expect(body.result).toMatchObject({ kind: "task", id: task.id, status: { state: "completed" } });
  expect(body.result.artifacts[0].parts[0]).toEqual({ kind: "text", text: "Echo: Old" });
  const events: any[] = [];
  for await (const event of legacy.sendMessageStream({ tenant: "", message: userMessage("Stream old", { contextId: task.contextId }), configuration: undefined, metadata: undefined })) events.push(event);
  expect(events[events.length - 1].payload.value.status.state).toBe(TaskState.TASK_STATE_COMPLETED);
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
});

test("a bad key, an unknown version and an unknown method are JSON-RPC errors", async () => {
  const bad = await clientFor(server.url, "sk-wrong");
  await expect(send(bad, userMessage("Hi"))).rejects.toThrow(/Invalid API key/);
  const post = (headers: Record<string, string>, body: object) =>
    fetch(`${server.url}/a2a`, { method: "POST", headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) }).then((r) => r.json());
  expect((await post({ "A2A-Version": "9.9" }, { jsonrpc: "2.0", id: 3, method: "SendMessage", params: {} })).error.code).toBe(-32009);
  expect((await post({}, { jsonrpc: "2.0", id: 4, method: "tasks/resubscribe", params: {} })).error.code).toBe(-32601);
  expect(fake().requests).toHaveLength(0);
});

test("messages share the server's run slots: one over max_concurrent_runs is refused with 503 and Retry-After", async () => {
  const busy = await clientFor(single.url);
  fake().enqueue({ hang: true });
  const controller = new AbortController();
  const stream = busy.sendMessageStream({ tenant: "", message: userMessage("hang"), configuration: undefined, metadata: undefined }, { signal: controller.signal });
  await stream.next();
  await fake().waitForRequests(1);
  await expect(send(busy, userMessage("hi"))).rejects.toThrow(/Too many runs in progress/);
  const raw = await fetch(`${single.url}/a2a`, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json", "A2A-Version": "1.0" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "SendMessage", params: { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: "hi" }] } } }),
  });
  expect(raw.status).toBe(503);
  expect(raw.headers.get("retry-after")).toBe("1");
  expect((await raw.json()).error.message).toMatch(/Too many runs/);
  controller.abort();
  await stream.return(undefined);
  await waitFor(() => fake().requests[0].aborted === true);
});

test("deploy.a2a.enabled: false removes the card and /a2a", async () => {
  expect((await fetch(`${disabled.url}/.well-known/agent-card.json`)).status).toBe(404);
  expect((await fetch(`${disabled.url}/a2a`, { method: "POST", headers: { Authorization: `Bearer ${KEY}` } })).status).toBe(404);
});
