/** `klisk serve` as a user runs it: a child process on a temp project, talking to the fake upstream. */
import net from "node:net";
import { startKlisk, stopChildren, type Child } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { freePort, json, postChat, useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", model: "gpt-5.2" });\ndefineAgent({ name: "Helper", model: "gpt-4.1" });\n';

function serveCli(args: string[], env: Record<string, string> = {}): Child {
  return startKlisk(["serve", ...args], { env: { ...fakeUpstreamEnv(fake().url), ...env } });
}

afterEach(stopChildren);

const URL_LINE = /URL: (http:\/\/\S+)/;

test("serves a project: prints URL, agents and auth; answers /health and chat; SIGTERM exits 0", async () => {
  const dir = writeProjectDir({ config: "name: demo\n", entry: ENTRY });
  const cli = serveCli([dir, "--port", "0", "--host", "127.0.0.1"]);
  const [, url] = await cli.waitFor(URL_LINE);
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(cli.stdout()).toMatch(/demo is running/);
  expect(cli.stdout()).toMatch(/Assistant \(gpt-5\.2\)/);
  expect(cli.stdout()).toMatch(/Helper \(gpt-4\.1\)/);
  expect(cli.stdout()).toMatch(/Auth: off — set KLISK_API_KEY to require a key/);
  // The banner's chat page and widget tag point at what is really served.
  const [, page] = cli.stdout().match(/Chat page: (\S+)/)!;
  const [, widget] = cli.stdout().match(/Widget: <script src="(\S+)" async><\/script>/)!;
  expect([page, widget]).toEqual([`${url}/`, `${url}/widget.js`]);
  expect((await fetch(page)).headers.get("content-type")).toMatch(/^text\/html/);
  expect((await fetch(widget)).headers.get("content-type")).toMatch(/javascript/);

  expect(await json(await fetch(`${url}/health`))).toEqual({ status: "ok" });
  const chat = await postChat(url, { message: "hello", stream: false });
  expect(await json(chat)).toMatchObject({ response: "Echo: hello", done: true });

  cli.child.kill("SIGTERM");
  expect(await cli.exited).toEqual({ code: 0, signal: null });
});

test("shows localhost for the default host and exits 0 on SIGINT", async () => {
  const dir = writeProjectDir({ entry: ENTRY });
  const cli = serveCli([dir, "--port", "0"]);
  const [, url] = await cli.waitFor(URL_LINE);
  expect(url).toMatch(/^http:\/\/localhost:\d+$/);
  cli.child.kill("SIGINT");
  expect((await cli.exited).code).toBe(0);
});

test("port precedence: --port over PORT (from .env) over server.port", async () => {
  const [envPort, configPort] = [await freePort(), await freePort()];
  const dir = writeProjectDir({ config: `server:\n  port: ${configPort}\n  host: 127.0.0.1\n`, entry: ENTRY, env: `PORT=${envPort}\n` });

  const fromEnv = serveCli([dir]);
  expect((await fromEnv.waitFor(URL_LINE))[1]).toBe(`http://127.0.0.1:${envPort}`);
  fromEnv.child.kill("SIGTERM");
  await fromEnv.exited;

  const fromFlag = serveCli([dir, "--port", "0"]);
  const [, url] = await fromFlag.waitFor(URL_LINE);
  expect(url).not.toBe(`http://127.0.0.1:${envPort}`);
  expect(url).not.toBe(`http://127.0.0.1:${configPort}`);
  fromFlag.child.kill("SIGTERM");
  await fromFlag.exited;

  const noEnv = writeProjectDir({ config: `server:\n  port: ${configPort}\n  host: 127.0.0.1\n`, entry: ENTRY });
  const fromConfig = serveCli([noEnv]);
  expect((await fromConfig.waitFor(URL_LINE))[1]).toBe(`http://127.0.0.1:${configPort}`);
});

test("keys from .env turn auth on and the banner counts them", async () => {
  const dir = writeProjectDir({ entry: ENTRY, env: "KLISK_API_KEY=sk-one,sk-two\n" });
  const cli = serveCli([dir, "--port", "0", "--host", "127.0.0.1"]);
  const [, url] = await cli.waitFor(URL_LINE);
  expect(cli.stdout()).toMatch(/Auth: on \(2 keys\)/);
  expect(cli.stdout() + cli.stderr()).not.toMatch(/sk-one|sk-two/);
  expect((await postChat(url, { message: "hi", stream: false })).status).toBe(401);
  expect((await postChat(url, { message: "hi", stream: false }, { Authorization: "Bearer sk-two" })).status).toBe(200);
});

test("project warnings are printed", async () => {
  const dir = writeProjectDir({ config: "nmae: typo\n", entry: ENTRY });
  // Warnings go through the logger, which the child environment silences by default.
  const cli = serveCli([dir, "--port", "0", "--host", "127.0.0.1"], { KLISK_LOG_LEVEL: "warn" });
  await cli.waitFor(URL_LINE);
  await waitFor(() => /unknown key 'nmae'/.test(cli.stderr()));
});

test("an entry with a syntax error exits 1 naming the file and line", async () => {
  const dir = writeProjectDir({ entry: 'import { defineAgent } from "klisk";\n\ndefineAgent({ name: "A" \n  model: "x" });\n' });
  const cli = serveCli([dir, "--port", "0"]);
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(/^Error: src\/main\.ts:4(:\d+)?: Syntax error/m);
  expect(cli.stdout()).not.toMatch(/running/);
});

test("an entry that defines no agents exits 1 instead of serving nothing", async () => {
  const dir = writeProjectDir({ entry: "export const nothing = 1;\n" });
  const cli = serveCli([dir, "--port", "0"]);
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(/^Error: .*defines no agents/m);
});

test("a bad config exits 1 with the key path", async () => {
  const dir = writeProjectDir({ config: "server:\n  port: lots\n", entry: ENTRY });
  const cli = serveCli([dir]);
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(/^Error: klisk\.config\.yaml: server\.port/m);
});

test("a missing project directory exits 1", async () => {
  const cli = serveCli(["/nonexistent/klisk-project", "--port", "0"]);
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(/^Error: Project directory \/nonexistent\/klisk-project does not exist/m);
});

test.each([["abc"], ["70000"], ["-1"], ["80.5"]])("--port %s exits 1 with a clear error", async (port) => {
  const dir = writeProjectDir({ entry: ENTRY });
  const cli = serveCli([dir, "--port", port]);
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(/Error: Invalid port .* from --port: use a whole number between 1 and 65535/);
});

test("an invalid PORT variable exits 1 naming it", async () => {
  const dir = writeProjectDir({ entry: ENTRY });
  const cli = serveCli([dir], { PORT: "http" });
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(/Invalid port "http" from PORT/);
});

test("a port in use exits 1 with the message", async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const dir = writeProjectDir({ entry: ENTRY });
    const cli = serveCli([dir, "--port", String(port), "--host", "127.0.0.1"]);
    expect((await cli.exited).code).toBe(1);
    expect(cli.stderr()).toMatch(`Port ${port} is already in use. Stop the other process or pass --port <n>.`);
  } finally {
    blocker.close();
  }
});

test("without a terminal every start-up message on stderr is a JSON log line, warnings included", async () => {
  const dir = writeProjectDir({ config: "name: quiet\nunknwn_key: 1\n", entry: ENTRY });
  const cli = serveCli([dir, "--port", "0", "--host", "127.0.0.1"], { OPENAI_API_KEY: "", KLISK_LOG_LEVEL: "info" });
  await cli.waitFor(URL_LINE);
  cli.child.kill("SIGTERM");
  await cli.exited;
  const lines = cli.stderr().split("\n").filter((line) => line.trim() !== "");
  const entries = lines.map((line) => JSON.parse(line));
  const messages = entries.map((entry) => entry.msg);
  expect(messages).toEqual(expect.arrayContaining([
    expect.stringMatching(/^OPENAI_API_KEY is not set/),
    expect.stringMatching(/^KLISK_STATE_SECRET is not set/),
    expect.stringMatching(/unknown key 'unknwn_key'/),
    "Received SIGTERM, shutting down (again to exit now)",
  ]));
  expect(entries.filter((e) => /is not set|unknown key/.test(e.msg)).every((e) => e.level === 40)).toBe(true);
});
