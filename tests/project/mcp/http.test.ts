/**
 * A Streamable HTTP MCP server defined with the SDK (tests/helpers/mcpHttpServer.ts) over a real loopback
 * socket: headers with ${ENV}, list-changed, MCP cancellation, protocol errors, a server that stops and one
 * that restarts, and start-up errors that name the server.
 */
import { ConfigError } from "../../../src/errors";
import type { ChatEvent } from "../../../src/runner/events";
import { runChat } from "../../../src/runner/run";
import { startMcpServers } from "../../../src/project/mcp/servers";
import { mcpProject } from "../../helpers/mcp";
import { startMcpHttpServer, type McpHttpServer } from "../../helpers/mcpHttpServer";
import { makeProject, useFakeOpenAI } from "../../helpers/project";
import { collectEvents } from "../../helpers/runner";
import { waitFor } from "../../helpers/wait";

const fake = useFakeOpenAI({ env: { KLISK_TEST_MCP_TOKEN: "s3cret" } });

let server: McpHttpServer;
beforeEach(async () => {
  server = await startMcpHttpServer();
});
afterEach(() => server.close());

const config = (url: string, extra = "") =>
  `mcp_servers:\n  remote:\n    url: ${url}\n    headers: { Authorization: "Bearer \${KLISK_TEST_MCP_TOKEN}" }\n${extra}`;

function results(events: ChatEvent[]) {
  return events.flatMap((e) => (e.type === "tool_result" ? [e.data] : []));
}

test("headers carry ${ENV} secrets; the tools list refreshes on list-changed", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["remote"] }], config(server.url));
  expect(server.authorizations.every((a) => a === "Bearer s3cret")).toBe(true);
  fake().enqueue({ toolCalls: [{ name: "whoami", arguments: {}, callId: "c1" }] });
  expect(results(await collectEvents({ project, message: "who" }))).toEqual([{ output: "Bearer s3cret", call_id: "c1", tool: "whoami" }]);

  const [connection] = project.mcp.connections;
  await server.addTool("fresh");
  await waitFor(() => connection.tools.some((t) => t.name === "fresh"), 5000, "the new tool listed");
  fake().enqueue({ toolCalls: [{ name: "fresh", arguments: {}, callId: "c2" }] });
  expect(results(await collectEvents({ project, message: "new" }))).toEqual([{ output: "fresh ran", call_id: "c2", tool: "fresh" }]);
  expect(fake().requests.at(-2)!.body.tools.map((t: any) => t.name)).toContain("fresh");
});

test("a cancelled run sends MCP cancellation to the server", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["remote"] }], config(server.url));
  fake().enqueue({ toolCalls: [{ name: "wait", arguments: {}, callId: "c1" }] });
  const controller = new AbortController();
  const events: ChatEvent[] = [];
  const run = (async () => {
    for await (const e of runChat({ project, message: "wait", signal: controller.signal })) events.push(e);
  })();
  await server.waiting;
  controller.abort();
  await run;
  expect(events.at(-1)).toEqual({ type: "error", data: "Run cancelled" });
  // The handler's signal aborted: the server got notifications/cancelled for that request.
  expect(String(await server.cancelled)).toMatch(/cancel/i);
});

test("protocol errors and isError results become the tool's output, never a crash", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["remote"] }], config(server.url));
  fake().enqueue({ toolCalls: [{ name: "fail", arguments: {}, callId: "c1" }, { name: "oops", arguments: {}, callId: "c2" }] });
  const events = await collectEvents({ project, message: "fail" });
  expect(results(events)).toEqual(expect.arrayContaining([
    { output: "Tool 'fail' raised: Error: MCP server 'remote': MCP error -32603: the handler broke", call_id: "c1", tool: "fail" },
    { output: "Tool 'oops' raised: McpToolError: the database is down", call_id: "c2", tool: "oops" },
  ]));
  expect(events.at(-1)).toMatchObject({ type: "done" });
});

test("a server that restarts gets a new session; one that is gone is a tool error until it is back", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["remote"] }], config(server.url));
  const [connection] = project.mcp.connections;
  const port = server.port;

  // Restarted: our session id is unknown there (404), so klisk initialises again and the call goes through.
  await server.close();
  server = await startMcpHttpServer(port);
  fake().enqueue({ toolCalls: [{ name: "whoami", arguments: {}, callId: "c1" }] });
  expect(results(await collectEvents({ project, message: "again" }))).toEqual([{ output: "Bearer s3cret", call_id: "c1", tool: "whoami" }]);

  // Gone: the call fails with the reason, and klisk reconnects in the background once it is back.
  await server.close();
  fake().enqueue({ toolCalls: [{ name: "whoami", arguments: {}, callId: "c2" }] });
  const down = await collectEvents({ project, message: "down" });
  expect(results(down)[0].output).toMatch(/^Tool 'whoami' raised: Error: MCP server 'remote'.*(fetch failed|ECONNREFUSED)/);
  expect(down.at(-1)).toMatchObject({ type: "done" });
  expect(connection.status).toBe("reconnecting");

  server = await startMcpHttpServer(port);
  await waitFor(() => connection.status === "connected", 10_000, "reconnected with back-off");
  fake().enqueue({ toolCalls: [{ name: "whoami", arguments: {}, callId: "c3" }] });
  expect(results(await collectEvents({ project, message: "back" }))).toEqual([{ output: "Bearer s3cret", call_id: "c3", tool: "whoami" }]);
});

test("a server that cannot be reached is a start-up error naming it, or a warning when optional", async () => {
  const url = server.url;
  await server.close();
  const required = makeProject([{ name: "A", mcpServers: ["remote"] }], config(url));
  const error = await startMcpServers(required.config, required.agents, required.dir).catch((e) => e);
  expect(error).toBeInstanceOf(ConfigError);
  expect(error.message).toMatch(new RegExp(`^MCP server 'remote' \\(http: ${url}\\) could not start: (TypeError: )?fetch failed \\(ECONNREFUSED\\)`));
  expect(error.hint).toMatch(/optional: true/);

  const optional = makeProject([{ name: "A", mcpServers: ["remote"] }], config(url, "    optional: true\n"));
  const started = await startMcpServers(optional.config, optional.agents, optional.dir);
  try {
    expect(started!.warnings).toEqual([expect.stringMatching(/^MCP server 'remote' .* is unavailable and optional: (TypeError: )?fetch failed/)]);
    fake().enqueue({ toolCalls: [{ name: "whoami", arguments: {}, callId: "c1" }] });
    const events = await collectEvents({ project: { ...optional, mcp: started!.servers }, message: "x" });
    expect(fake().requests[0].body.tools).toBeUndefined(); // no tools listed yet
    expect(results(events)[0].output).toMatch(/^Tool 'whoami' not found/);
  } finally {
    await started!.servers.close();
  }
});

test("bad MCP configuration: unknown server names, an unset variable", async () => {
  const unknown = makeProject([{ name: "A", mcpServers: ["nope"] }], config(server.url));
  await expect(startMcpServers(unknown.config, unknown.agents, unknown.dir)).rejects.toThrow(
    "Agent 'A' uses MCP server 'nope', which is not in mcp_servers. Known servers: remote",
  );
  delete process.env.KLISK_TEST_MCP_TOKEN;
  try {
    const unset = makeProject([{ name: "A", mcpServers: ["remote"] }], config(server.url));
    await expect(startMcpServers(unset.config, unset.agents, unset.dir)).rejects.toThrow(
      "klisk.config.yaml: mcp_servers.remote.headers.Authorization uses ${KLISK_TEST_MCP_TOKEN}, which is not set",
    );
  } finally {
    process.env.KLISK_TEST_MCP_TOKEN = "s3cret";
  }
});
