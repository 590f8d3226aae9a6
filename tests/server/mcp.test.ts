/**
 * /mcp read by the MCP SDK's own Client over StreamableHTTPClientTransport (auth on), with the fake upstream
 * behind it: each agent is a tool `ask_<agent>`, a call answers with the final text and the new state,
 * progress notifications carry the streamed text, a tool-using agent runs its tools on the server, a bad
 * key is refused, a cancelled call aborts the upstream request, and deploy.mcp.enabled: false turns it off.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { tool, z } from "../../src/index";
import type { RunningServer } from "../../src/server/listen";
import { makeProject, serve, useFakeOpenAI } from "../helpers/project";
import { waitFor } from "../helpers/wait";

const KEY = "sk-klisk-test";
const fake = useFakeOpenAI({ env: { KLISK_API_KEY: KEY } });
let server: RunningServer;
let disabled: RunningServer;
let single: RunningServer;
const clients: Client[] = [];

beforeAll(async () => {
  const weather = tool({ name: "weather", parameters: z.object({ city: z.string() }), execute: async ({ city }) => `Sunny in ${city}` });
  const agents = [
    { name: "Assistant", instructions: "Be brief.", tools: [weather] },
    { name: "Travel Guide", instructions: "Plan trips." },
  ];
  server = await serve(makeProject(agents));
  disabled = await serve(makeProject(agents, "deploy:\n  mcp:\n    enabled: false\n"));
  single = await serve(makeProject(agents, "limits:\n  max_concurrent_runs: 1\n"));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
  await disabled.close();
  await single.close();
});

async function connect(url = server.url, key = KEY): Promise<Client> {
  const client = new Client({ name: "klisk-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
  clients.push(client);
  await client.connect(transport);
  return client;
}

test("lists each agent as a tool ask_<agent> with a message and an optional state", async () => {
  const client = await connect();
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toEqual(["ask_Assistant", "ask_Travel_Guide"]);
  expect(tools[0].inputSchema).toMatchObject({ type: "object", required: ["message"], properties: { message: { type: "string" }, state: { type: "object" } } });
  expect(tools[1].title).toBe("Travel Guide");
});

test("a call answers with the agent's final text and the state that continues the conversation", async () => {
  const client = await connect();
  const first: any = await client.callTool({ name: "ask_Assistant", arguments: { message: "Hello" } });
  expect(first.isError).toBeFalsy();
  expect(first.content).toEqual([{ type: "text", text: "Echo: Hello" }]);
  expect(first.structuredContent.response).toBe("Echo: Hello");
  expect(first.structuredContent.state.current_agent_name).toBe("Assistant");
  expect(fake().requests[0].body.instructions).toBe("Be brief.");

  const second: any = await client.callTool({ name: "ask_Assistant", arguments: { message: "Again", state: first.structuredContent.state } });
  expect(second.content[0].text).toBe("Echo: Again");
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
});

test("with a progressToken, progress notifications carry the streamed text", async () => {
  const client = await connect();
  fake().enqueue({ text: "One two three" });
  const messages: string[] = [];
  const result: any = await client.callTool({ name: "ask_Travel_Guide", arguments: { message: "Go" } }, undefined, {
    onprogress: (p) => messages.push(p.message ?? ""),
  });
  expect(result.content[0].text).toBe("One two three");
  expect(messages.length).toBeGreaterThan(1);
  expect(messages.join("")).toBe("One two three");
});

test("a tool-using agent runs its tools on the server and answers with the result", async () => {
  const client = await connect();
  fake().enqueue({ toolCalls: [{ name: "weather", arguments: { city: "Paris" } }] });
  const result: any = await client.callTool({ name: "ask_Assistant", arguments: { message: "Weather in Paris?" } });
  expect(result.content[0].text).toBe("Tool said: Sunny in Paris");
  expect(fake().requests).toHaveLength(2);
});

test("bad input and unknown tools are errors the caller can read", async () => {
  const client = await connect();
  const bad: any = await client.callTool({ name: "ask_Assistant", arguments: { message: 42 } });
  expect(bad.isError).toBe(true);
  expect(bad.content[0].text).toMatch(/'message' must be a string/);
  const badState: any = await client.callTool({ name: "ask_Assistant", arguments: { message: "hi", state: { conversation_history: "nope" } } });
  expect(badState.isError).toBe(true);
  await expect(client.callTool({ name: "ask_Nobody", arguments: { message: "hi" } })).rejects.toThrow(/Unknown tool 'ask_Nobody'/);
  expect(fake().requests).toHaveLength(0);
});

test("a bad key is refused before anything runs", async () => {
  await expect(connect(server.url, "sk-wrong")).rejects.toThrow(/401|Invalid API key|Unauthorized/i);
  expect(fake().requests).toHaveLength(0);
});

test("a cancelled call aborts the upstream request", async () => {
  const client = await connect();
  fake().enqueue({ hang: true });
  const controller = new AbortController();
  const call = client.callTool({ name: "ask_Assistant", arguments: { message: "hang" } }, undefined, { signal: controller.signal });
  await fake().waitForRequests(1);
  controller.abort();
  await expect(call).rejects.toThrow();
  await waitFor(() => fake().requests[0].aborted === true);
});

test("calls share the server's run slots: a call over max_concurrent_runs is a tool error saying so", async () => {
  const client = await connect(single.url);
  fake().enqueue({ hang: true });
  const controller = new AbortController();
  const first = client.callTool({ name: "ask_Assistant", arguments: { message: "hang" } }, undefined, { signal: controller.signal });
  await fake().waitForRequests(1);
  const second: any = await client.callTool({ name: "ask_Assistant", arguments: { message: "hi" } });
  expect(second.isError).toBe(true);
  expect(second.content[0].text).toMatch(/Too many runs in progress/);
  controller.abort();
  await expect(first).rejects.toThrow();
  await waitFor(() => fake().requests[0].aborted === true);
});

test("deploy.mcp.enabled: false removes /mcp and its /api/info entry", async () => {
  const res = await fetch(`${disabled.url}/mcp`, { method: "POST", headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" }, body: "{}" });
  expect(res.status).toBe(404);
  expect((await (await fetch(`${disabled.url}/api/info`)).json()).endpoints.mcp).toBeUndefined();
  expect((await (await fetch(`${server.url}/api/info`)).json()).endpoints.mcp).toBe("/mcp");
});
