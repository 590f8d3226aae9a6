/**
 * MCP servers through the CLI as a user meets them: `klisk check` lists each server's tools and names a bad
 * server; `klisk serve` refuses to start without a required server, serves MCP tools over /api/chat, and stops
 * the server's child process when it shuts down.
 */
import { execFileSync } from "node:child_process";
import { klisk, runChild, startKlisk, stopChildren } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { everythingServerYaml, isRunning } from "../helpers/mcp";
import { json, postChat, useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
afterEach(stopChildren);

const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", mcpServers: ["everything"], allowedTools: ["echo"] });\n';
const GOOD = `mcp_servers:\n${everythingServerYaml()}\n`;

/** Pids of the processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").filter((l) => l.trim()).map(Number);
  } catch {
    return []; // ps exits 1 when there is none
  }
}

test("klisk check lists each MCP server's tools", async () => {
  const dir = writeProjectDir({ config: GOOD, entry: ENTRY });
  const result = await klisk(["check", dir], { env: { OPENAI_API_KEY: "test" } });
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/Assistant \(default\)\s+gpt-5\.2\s+OpenAI\s+mcp:everything/);
  expect(result.stdout).toMatch(/MCP servers\n\s+everything\s+stdio: \S*node\S* \S+index\.js stdio\n\s+\d+ tools: .*\becho\b.*\bget-sum\b/);
  expect(result.stdout).toMatch(/1 agent, 1 tool, ready to serve/);
});

test("a bad MCP configuration is a clear error from klisk check and klisk serve", async () => {
  const broken = writeProjectDir({ config: "mcp_servers:\n  everything:\n    command: klisk-no-such-mcp-server\n", entry: ENTRY });
  const check = await klisk(["check", broken], { env: { OPENAI_API_KEY: "test" } });
  expect(check.code).toBe(1);
  expect(check.stdout).toMatch(/✖ MCP server 'everything' \(stdio: klisk-no-such-mcp-server\) could not start: spawn klisk-no-such-mcp-server ENOENT/);
  expect(check.stdout).toMatch(/set 'optional: true' on it/);

  const serve = await klisk(["serve", broken, "--port", "0"], { env: { OPENAI_API_KEY: "test" } });
  expect(serve.code).toBe(1);
  expect(serve.stderr).toMatch(/MCP server 'everything' .* could not start/);

  const shape = writeProjectDir({ config: "mcp_servers:\n  everything:\n    url: ftp://example.com\n", entry: ENTRY });
  const bad = await klisk(["check", shape], { env: { OPENAI_API_KEY: "test" } });
  expect(bad.stdout).toMatch(/mcp_servers\.everything\.url must be an http\(s\) URL/);
});

test("klisk serve runs MCP tools in chats and stops the server's process on shutdown", async () => {
  const dir = writeProjectDir({ config: GOOD, entry: ENTRY });
  const cli = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1"], { env: fakeUpstreamEnv(fake().url) });
  const [, url] = await cli.waitFor(/URL: (http:\/\/\S+)/);
  const [mcpPid] = childrenOf(cli.child.pid!);
  expect(mcpPid).toBeGreaterThan(0);

  fake().enqueue({ toolCalls: [{ name: "echo", arguments: { message: "over http" }, callId: "c1" }] });
  const body = await json(await postChat(url, { message: "echo it", stream: false }));
  expect(body).toMatchObject({ response: "Tool said: Echo: over http", done: true });

  cli.child.kill("SIGTERM");
  expect(await cli.exited).toEqual({ code: 0, signal: null });
  await waitFor(() => !isRunning(mcpPid), 5000, "the MCP server process exited");
});

test("klisk run calls MCP tools and ends with its server", async () => {
  const dir = writeProjectDir({ config: GOOD, entry: ENTRY });
  fake().enqueue({ toolCalls: [{ name: "echo", arguments: { message: "from run" }, callId: "c1" }] });
  const result = await klisk(["run", "echo it", dir, "--json"], { env: fakeUpstreamEnv(fake().url) });
  expect(result.code).toBe(0);
  const events = result.stdout.trim().split("\n").map((line) => JSON.parse(line.replace(/^data: /, "")));
  expect(events).toContainEqual({ type: "tool_result", data: { output: "Echo: from run", call_id: "c1", tool: "echo" } });
  expect(events.at(-1)).toMatchObject({ type: "done", data: "Tool said: Echo: from run" });
});

test("a project without mcp_servers never loads the MCP SDK", async () => {
  const dir = writeProjectDir({ entry: 'import { defineAgent } from "klisk";\ndefineAgent({ name: "A" });\n' });
  const script = `require(${JSON.stringify(require.resolve("../../dist/project/load.js"))}).loadProject(${JSON.stringify(dir)}).then(() =>
    console.log(JSON.stringify(Object.keys(require.cache).filter((f) => f.includes("@modelcontextprotocol")))))`;
  const result = await runChild(process.execPath, ["-e", script], { mustSucceed: true });
  expect(JSON.parse(result.stdout)).toEqual([]);
});
