/**
 * MCP tools from the reference "everything" server (npm, run over stdio) inside real runs: the fake OpenAI
 * model calls them through the runner, with call ids, errors, cancellation, the run timeout and a crash.
 */
import type { ChatEvent } from "../../../src/runner/events";
import { runChat } from "../../../src/runner/run";
import { tool } from "../../../src/index";
import { everythingServerYaml, isRunning, mcpProject } from "../../helpers/mcp";
import { useFakeOpenAI } from "../../helpers/project";
import { collectEvents } from "../../helpers/runner";
import { waitFor } from "../../helpers/wait";

const fake = useFakeOpenAI({ env: { KLISK_TEST_MCP_GREETING: "hello from .env" } });

const config = (extra: string[] = [], more = "") => `mcp_servers:\n${everythingServerYaml("everything", extra)}\n${more}`;

function results(events: ChatEvent[]) {
  return events.flatMap((e) => (e.type === "tool_result" ? [e.data] : []));
}

test("the server's tools are offered (filtered by allowedTools) and called like klisk tools", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["everything"], allowedTools: ["echo", "get-sum"] }], config());
  fake().enqueue({ toolCalls: [{ name: "echo", arguments: { message: "hi there" }, callId: "call_e" }, { name: "get-sum", arguments: { a: 2, b: 3 }, callId: "call_s" }] });
  const events = await collectEvents({ project, message: "use the tools" });

  expect(fake().requests[0].body.tools.map((t: any) => t.name).sort()).toEqual(["echo", "get-sum"]);
  const echo = fake().requests[0].body.tools.find((t: any) => t.name === "echo");
  expect(echo).toMatchObject({ type: "function", parameters: { type: "object", properties: { message: { type: "string" } } } });
  expect(events.filter((e) => e.type === "tool_call").map((e) => e.data)).toEqual([
    { tool: "echo", arguments: '{"message":"hi there"}', status: "running", call_id: "call_e" },
    { tool: "get-sum", arguments: '{"a":2,"b":3}', status: "running", call_id: "call_s" },
  ]);
  expect(results(events)).toEqual(expect.arrayContaining([
    { output: "Echo: hi there", call_id: "call_e", tool: "echo" },
    { output: "The sum of 2 and 3 is 5.", call_id: "call_s", tool: "get-sum" },
  ]));
  expect(fake().requests[1].body.input).toEqual([
    { type: "function_call_output", call_id: "call_e", output: "Echo: hi there" },
    { type: "function_call_output", call_id: "call_s", output: "The sum of 2 and 3 is 5." },
  ]);
  expect(events.at(-1)).toMatchObject({ type: "done" });
});

test("an agent's own tool wins a name clash, and agents without mcpServers get no MCP tools", async () => {
  const echo = tool({ name: "echo", execute: () => "mine" });
  const project = await mcpProject([{ name: "A", tools: [echo], mcpServers: ["everything"] }, { name: "B" }], config());
  fake().enqueue({ toolCalls: [{ name: "echo", arguments: { message: "x" }, callId: "c1" }] });
  const events = await collectEvents({ project, message: "go" });
  expect(results(events)).toEqual([{ output: "mine", call_id: "c1", tool: "echo" }]);
  const names = fake().requests[0].body.tools.map((t: any) => t.name);
  expect(names.filter((n: string) => n === "echo")).toHaveLength(1);
  expect(names).toContain("get-sum");

  await collectEvents({ project, message: "plain", agentName: "B" });
  expect(fake().requests.at(-1)!.body.tools).toBeUndefined();
});

test("an isError result goes back to the model as the tool's output; the run goes on", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["everything"] }], config());
  fake().enqueue({ toolCalls: [{ name: "get-sum", arguments: { a: "two", b: 3 }, callId: "c1" }] });
  const events = await collectEvents({ project, message: "add" });
  const [result] = results(events);
  expect(result.output).toMatch(/^Tool 'get-sum' raised: McpToolError: .*(a|Expected number)/s);
  expect(fake().requests[1].body.input[0]).toMatchObject({ call_id: "c1", output: result.output });
  expect(events.at(-1)).toMatchObject({ type: "done" });
});

test("${ENV} in the config reaches the server; klisk's own secrets do not", async () => {
  const project = await mcpProject(
    [{ name: "A", mcpServers: ["everything"], allowedTools: ["get-env"] }],
    config(['env: { GREETING: "${KLISK_TEST_MCP_GREETING}", FALLBACK: "${KLISK_TEST_UNSET:-plan b}" }']),
  );
  fake().enqueue({ toolCalls: [{ name: "get-env", arguments: {}, callId: "c1" }] });
  const events = await collectEvents({ project, message: "env" });
  const env = JSON.parse(results(events)[0].output);
  expect(env).toMatchObject({ GREETING: "hello from .env", FALLBACK: "plan b" });
  expect(env.OPENAI_API_KEY).toBeUndefined();
});

test("cancelling the run stops the MCP call, and the run timeout ends a call that takes too long", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["everything"] }], config());
  fake().enqueue({ toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 60, steps: 60 }, callId: "c1" }] });
  const controller = new AbortController();
  const events: ChatEvent[] = [];
  for await (const e of runChat({ project, message: "wait", signal: controller.signal })) {
    events.push(e);
    if (e.type === "tool_call") setTimeout(() => controller.abort(), 100);
  }
  expect(events.at(-1)).toEqual({ type: "error", data: "Run cancelled" });
  expect(fake().requests).toHaveLength(1);

  const timed = { ...project, config: { ...project.config, limits: { ...project.config.limits, run_timeout_s: 0.5 } } };
  fake().enqueue({ toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 60, steps: 60 }, callId: "c2" }] });
  expect((await collectEvents({ project: timed, message: "wait" })).at(-1)).toEqual({ type: "error", data: "The run timed out after 0.5 s" });

  // The server still answers afterwards.
  fake().enqueue({ toolCalls: [{ name: "echo", arguments: { message: "still here" }, callId: "c3" }] });
  expect(results(await collectEvents({ project, message: "again" }))).toEqual([{ output: "Echo: still here", call_id: "c3", tool: "echo" }]);
});

test("a crashed server process is a tool error, never a crash; it is restarted and works again", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["everything"] }], config());
  const [connection] = project.mcp.connections;
  const pid = connection.pid!;
  fake().enqueue({ toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 60, steps: 60 }, callId: "c1" }] });
  const events: ChatEvent[] = [];
  for await (const e of runChat({ project, message: "crash" })) {
    events.push(e);
    if (e.type === "tool_call") setTimeout(() => process.kill(pid, "SIGKILL"), 100);
  }
  expect(results(events)[0]).toEqual({ output: expect.stringMatching(/^Tool 'trigger-long-running-operation' raised: Error: MCP server 'everything': .*[Cc]onnection closed/), call_id: "c1", tool: "trigger-long-running-operation" });
  expect(events.at(-1)).toMatchObject({ type: "done" });

  await waitFor(() => connection.status === "connected", 10_000, "the server restarted");
  expect(connection.pid).not.toBe(pid);
  fake().enqueue({ toolCalls: [{ name: "echo", arguments: { message: "back" }, callId: "c2" }] });
  expect(results(await collectEvents({ project, message: "again" }))).toEqual([{ output: "Echo: back", call_id: "c2", tool: "echo" }]);
});

test("close() stops the child process", async () => {
  const project = await mcpProject([{ name: "A", mcpServers: ["everything"] }], config());
  const pid = project.mcp.connections[0].pid!;
  expect(isRunning(pid)).toBe(true);
  await project.mcp.close();
  await waitFor(() => !isRunning(pid), 5000, "the child exited");
});
