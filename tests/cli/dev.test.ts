/** `klisk dev` as a user runs it: a child process on a temp project whose files the test edits, over real sockets. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startKlisk, stopChildren, type Child } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { everythingServerYaml, isRunning } from "../helpers/mcp";
import { json, openWs, parseSse, postChat, useFakeOpenAI } from "../helpers/project";
import { tempDir, writeFiles } from "../helpers/tmp";
import { bodyReader, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
afterEach(stopChildren);

const URL_LINE = /URL: (http:\/\/\S+)/;
const ENTRY = [
  'import { defineAgent } from "klisk";',
  'import { version } from "./tools/version";',
  'defineAgent({ name: "Assistant", model: "gpt-5.2", tools: [version] });',
  "",
].join("\n");

/** The `version` tool; with a gate, execute waits until that file exists (so a run can be held mid-way). */
function versionTool(label: string, gate?: string): string {
  const wait = gate
    ? `const fs = require("node:fs"); while (!fs.existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));`
    : "";
  return [
    'import { tool, z } from "klisk";',
    "export const version = tool({",
    '  name: "version", description: "Which version of the tool this is.", parameters: z.object({}),',
    `  execute: async () => { ${wait} return ${JSON.stringify(label)}; },`,
    "});",
    "",
  ].join("\n");
}

/** Starts `klisk dev` and resolves once it watches (an edit before that would go unseen). */
async function devCli(dir: string, env: Record<string, string | undefined> = fakeUpstreamEnv(fake().url)): Promise<{ cli: Child; url: string }> {
  const cli = startKlisk(["dev", dir, "--port", "0", "--host", "127.0.0.1"], { env });
  const [, url] = await cli.waitFor(URL_LINE);
  await cli.waitFor(/Watching .* for changes/);
  return { cli, url };
}

const count = (text: string, pattern: RegExp) => (text.match(new RegExp(pattern, "g")) ?? []).length;

/** Waits for the n-th line of `pattern` in the child's output (reloads are reported one line each). */
async function waitForLines(cli: Child, pattern: RegExp, n: number): Promise<void> {
  await waitFor(() => count(cli.output(), pattern) >= n, 15_000, `${n} × ${pattern} in:\n${cli.output()}`);
}

const RELOADED = /Reloaded in \d+ ms/;
const FAILED = /Reload failed/;
const callVersion = () => fake().enqueue({ toolCalls: [{ name: "version", arguments: {} }] });

test("a tool edited while a stream is open: the stream finishes on the old tool, the next request and an open WebSocket get the new one", async () => {
  const gate = path.join(tempDir(), "gate");
  const dir = writeFiles({ "src/main.ts": ENTRY, "src/tools/version.ts": versionTool("v1", gate) });
  const { cli, url } = await devCli(dir);
  const socket = await openWs(url);

  // The stream is held inside v1's execute until the gate file appears.
  callVersion();
  const res = await postChat(url, { message: "which version?" });
  const body = bodyReader(res);
  await body.until(/"type":"tool_call"/);

  fs.writeFileSync(path.join(dir, "src/tools/version.ts"), versionTool("v2"));
  await waitForLines(cli, RELOADED, 1);
  expect(cli.stdout()).toMatch(/Reloaded in \d+ ms \(src\/tools\/version\.ts\)/);

  fs.writeFileSync(gate, "");
  const events = parseSse(await body.rest());
  expect(events.find((e) => e.type === "tool_result")?.data).toMatchObject({ tool: "version", output: "v1" });
  expect(events.find((e) => e.type === "done")?.data).toBe("Tool said: v1");

  callVersion();
  const next = await json(await postChat(url, { message: "and now?", stream: false }));
  expect(next.response).toBe("Tool said: v2");

  // The WebSocket opened before the reload is still open; its next turn runs on the new project.
  callVersion();
  socket.send({ message: "over the socket?" });
  const frames = await socket.until(["done", "error"], 10_000);
  expect(frames.at(-1)).toMatchObject({ type: "done", data: "Tool said: v2" });
  socket.close();
});

test("a broken edit keeps the last good project serving, reports file and line in the terminal and to the page, and the next good reload clears it", async () => {
  const dir = writeFiles({ "src/main.ts": ENTRY, "src/tools/version.ts": versionTool("v1") });
  const { cli, url } = await devCli(dir);
  const info = await json(await fetch(`${url}/api/info`));
  expect(info.dev).toMatchObject({ generation: 1, error: null, status_stream: "api/dev/status" });
  // What the chat page listens to for its banner.
  const status = bodyReader(await fetch(`${url}/${info.dev.status_stream}`));
  expect(await status.until(/"generation":1/)).toMatch(/"error":null/);

  fs.writeFileSync(path.join(dir, "src/tools/version.ts"), `${versionTool("v2")}\nexport const broken = ;\n`);
  await waitForLines(cli, FAILED, 1);
  expect(cli.stderr()).toMatch(/Reload failed — still serving the last good version\n\s+src\/tools\/version\.ts:7(:\d+)?: Syntax error/);
  const broken = (await json(await fetch(`${url}/api/info`))).dev;
  expect(broken).toMatchObject({ generation: 1, error: { file: "src/tools/version.ts", line: 7, message: expect.stringMatching(/Syntax error/) } });
  expect(await status.until(/"error":\{/)).toMatch(/src\/tools\/version\.ts/);

  // Still serving the last good tool.
  callVersion();
  expect((await json(await postChat(url, { message: "still there?", stream: false }))).response).toBe("Tool said: v1");

  // A bad config is a failed reload too, blamed on the config file.
  fs.writeFileSync(path.join(dir, "klisk.config.yaml"), "server:\n  port: lots\n");
  await waitForLines(cli, FAILED, 2);
  expect((await json(await fetch(`${url}/api/info`))).dev.error).toMatchObject({ file: "klisk.config.yaml", message: expect.stringMatching(/server\.port/) });

  fs.writeFileSync(path.join(dir, "klisk.config.yaml"), "name: fixed\n");
  fs.writeFileSync(path.join(dir, "src/tools/version.ts"), versionTool("v3"));
  await waitForLines(cli, RELOADED, 1);
  const fixed = await json(await fetch(`${url}/api/info`));
  expect(fixed).toMatchObject({ name: "fixed", dev: { generation: 2, error: null } });
  const text = await status.until(/"generation":2/);
  expect(text.slice(text.lastIndexOf("data: "))).toMatch(/"error":null/);
  callVersion();
  expect((await json(await postChat(url, { message: "fixed?", stream: false }))).response).toBe("Tool said: v3");

  // Shutdown ends the page's status stream instead of waiting on it.
  cli.child.kill("SIGTERM");
  expect(await cli.exited).toEqual({ code: 0, signal: null });
});

test("OPENAI_API_KEY added to .env after start is picked up without a restart; the shell's variables still win", async () => {
  const dir = writeFiles({ "src/main.ts": ENTRY, "src/tools/version.ts": versionTool("v1"), ".env": "KLISK_STATE_SECRET=from-file\n" });
  // No key in the environment: the first chat fails as a new user's would.
  const { cli, url } = await devCli(dir, { OPENAI_BASE_URL: fake().url, KLISK_MAX_RETRIES: "0", OPENAI_API_KEY: undefined, KLISK_LOG_LEVEL: "silent" });
  const before = await postChat(url, { message: "hi", stream: false });
  expect((await json(before)).error).toMatch(/OPENAI_API_KEY is not set/);

  fs.writeFileSync(path.join(dir, ".env"), "KLISK_STATE_SECRET=from-file\nOPENAI_API_KEY=test\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n");
  await waitForLines(cli, RELOADED, 1);
  expect(cli.stdout()).toMatch(/Reloaded in \d+ ms \(\.env\)/);
  expect(await json(await postChat(url, { message: "hi", stream: false }))).toMatchObject({ response: "Echo: hi" });
  expect(fake().requests.at(-1)?.headers.authorization).toBe("Bearer test");
  // OPENAI_BASE_URL came from the shell: the file's does not replace it (else that chat had failed).

  // Removed from .env, the key is gone again.
  fs.writeFileSync(path.join(dir, ".env"), "KLISK_STATE_SECRET=from-file\n");
  await waitForLines(cli, RELOADED, 2);
  expect((await json(await postChat(url, { message: "hi", stream: false }))).error).toMatch(/OPENAI_API_KEY is not set/);
});

test("a burst of saves is one reload, and --workers is refused", async () => {
  const dir = writeFiles({ "src/main.ts": ENTRY, "src/tools/version.ts": versionTool("v1") });
  const { cli } = await devCli(dir);
  for (let i = 2; i <= 6; i++) fs.writeFileSync(path.join(dir, "src/tools/version.ts"), versionTool(`v${i}`));
  await waitForLines(cli, RELOADED, 1);
  // Edits after the reload started make at most one more; never one per save.
  await new Promise((r) => setTimeout(r, 500));
  expect(count(cli.stdout(), RELOADED)).toBeLessThanOrEqual(2);

  const refused = startKlisk(["dev", dir, "--workers", "2"], { env: fakeUpstreamEnv(fake().url) });
  expect((await refused.exited).code).toBe(1);
  expect(refused.stderr()).toMatch(/klisk dev serves from one process: --workers is for `klisk serve`/);
});

test("logs are human-readable lines, even to a pipe", async () => {
  const dir = writeFiles({ "src/main.ts": ENTRY, "src/tools/version.ts": versionTool("v1") });
  const { cli, url } = await devCli(dir, { ...fakeUpstreamEnv(fake().url), KLISK_LOG_LEVEL: "info" });
  expect((await fetch(`${url}/api/info`)).status).toBe(200);
  await waitFor(() => /\d\d:\d\d:\d\d INFO +request .*path=\/api\/info status=200/.test(cli.stderr()), 5000, `a pretty request line in:\n${cli.stderr()}`);
  expect(cli.stderr()).not.toMatch(/^\{"level"/m);
});

test("a project that does not load at start is reported, and served once an edit fixes it", async () => {
  const dir = writeFiles({ "src/main.ts": `${ENTRY}defineAgent({ name: "Broken" \n`, "src/tools/version.ts": versionTool("v1") });
  const cli = startKlisk(["dev", dir, "--port", "0", "--host", "127.0.0.1"], { env: fakeUpstreamEnv(fake().url) });
  await cli.waitFor(/Cannot load the project/);
  expect(cli.stderr()).toMatch(/Cannot load the project — fix it and save; klisk dev starts once it loads\n\s+src\/main\.ts:\d+(:\d+)?: Syntax error/);
  expect(cli.child.exitCode).toBeNull();

  fs.writeFileSync(path.join(dir, "src/main.ts"), ENTRY);
  const [, url] = await cli.waitFor(URL_LINE);
  await cli.waitFor(/Watching .* for changes/);
  callVersion();
  expect((await json(await postChat(url, { message: "works?", stream: false }))).response).toBe("Tool said: v1");
  expect((await json(await fetch(`${url}/api/info`))).dev).toMatchObject({ generation: 1, error: null });
});

/** Pids of the processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").filter((l) => l.trim()).map(Number);
  } catch {
    return []; // ps exits 1 when there is none
  }
}

test("a reload starts the project's MCP servers afresh and stops the replaced ones; shutdown stops the current ones", async () => {
  const entry = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", mcpServers: ["everything"], allowedTools: ["echo"] });\n';
  const dir = writeFiles({ "klisk.config.yaml": `mcp_servers:\n${everythingServerYaml()}\n`, "src/main.ts": entry });
  const { cli, url } = await devCli(dir);
  const [first] = childrenOf(cli.child.pid!);
  expect(first).toBeGreaterThan(0);

  fs.writeFileSync(path.join(dir, "src/main.ts"), `${entry}// edited\n`);
  await waitForLines(cli, RELOADED, 1);
  await waitFor(() => !isRunning(first), 10_000, "the replaced MCP server process exited");
  const [second, ...more] = childrenOf(cli.child.pid!);
  expect({ second: second > 0 && second !== first, more }).toEqual({ second: true, more: [] });

  fake().enqueue({ toolCalls: [{ name: "echo", arguments: { message: "after reload" }, callId: "c1" }] });
  expect((await json(await postChat(url, { message: "echo it", stream: false }))).response).toBe("Tool said: Echo: after reload");

  cli.child.kill("SIGTERM");
  expect(await cli.exited).toEqual({ code: 0, signal: null });
  await waitFor(() => !isRunning(second), 5000, "the current MCP server process exited");
});

test("every kind of file a project imports reloads: .ts, ESM and CommonJS .js, .mjs, .cjs, .json", async () => {
  const entry = [
    'import { defineAgent } from "klisk";',
    'import data from "./agent.json";',
    'import { model } from "./model.cjs";',
    'import { first } from "./first.mjs";',
    'import { second } from "./second.js";',
    'import { third } from "./third.js";',
    "defineAgent({ name: data.name + first + second + third, model });",
    "",
  ].join("\n");
  const files = (n: number) => ({
    "src/agent.json": `{"name":"Agent${n}"}`,
    "src/model.cjs": `exports.model = "gpt-model-${n}";\n`,
    "src/first.mjs": `export const first = "-mjs${n}";\n`,
    "src/second.js": `exports.second = "-cjs${n}";\n`,
    "src/third.js": `export const third = "-esm${n}";\n`,
  });
  const dir = writeFiles({ "src/main.ts": entry, ...files(1) });
  const { cli, url } = await devCli(dir);
  expect((await json(await fetch(`${url}/api/info`))).agents[0]).toMatchObject({ name: "Agent1-mjs1-cjs1-esm1", model: "gpt-model-1" });

  for (const n of [2, 3]) {
    for (const [file, text] of Object.entries(files(n))) fs.writeFileSync(path.join(dir, file), text);
    // Five writes may make one reload or two: wait for the one that saw them all.
    const wanted = { name: `Agent${n}-mjs${n}-cjs${n}-esm${n}`, model: `gpt-model-${n}` };
    let agent: unknown;
    for (let i = 0; i < 300 && JSON.stringify(agent) !== JSON.stringify(wanted); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 50));
      const { name, model } = (await json(await fetch(`${url}/api/info`))).agents[0];
      agent = { name, model };
    }
    expect(agent).toEqual(wanted);
  }
  expect(cli.stderr()).not.toMatch(/Restart klisk dev/);
});
