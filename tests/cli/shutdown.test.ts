/** `klisk serve` signals and the hardening flags: --shutdown-timeout drains runs, a second signal exits at once, --log-level. */
import { startKlisk, stopChildren, type Child } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { parseSse, postChat, useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", model: "gpt-5.2" });\n';
const URL_LINE = /URL: (http:\/\/\S+)/;

async function serveCli(args: string[], env: Record<string, string> = {}): Promise<{ cli: Child; url: string }> {
  const dir = writeProjectDir({ entry: ENTRY });
  const cli = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1", ...args], {
    env: { ...fakeUpstreamEnv(fake().url), ...env },
  });
  const [, url] = await cli.waitFor(URL_LINE);
  return { cli, url };
}

afterEach(stopChildren);

test("SIGTERM lets a run in progress finish, then exits 0", async () => {
  fake().enqueue({ text: "a slow but complete answer", delayMs: 150 });
  const { cli, url } = await serveCli(["--shutdown-timeout", "10"]);
  const stream = postChat(url, { message: "hi" }).then((r) => r.text());
  await fake().waitForRequests(1);
  cli.child.kill("SIGTERM");
  const events = parseSse(await stream);
  expect(events.at(-2)).toMatchObject({ type: "done", data: "a slow but complete answer" });
  expect(await cli.exited).toEqual({ code: 0, signal: null });
});

test("past --shutdown-timeout, runs end with 'Server shutting down' and the process exits 0", async () => {
  fake().enqueue({ hang: true });
  const { cli, url } = await serveCli(["--shutdown-timeout", "0.3"]);
  const stream = postChat(url, { message: "hi" }).then((r) => r.text());
  await fake().waitForRequests(1);
  cli.child.kill("SIGINT");
  expect(parseSse(await stream).slice(-2)).toEqual([{ type: "error", data: "Server shutting down" }, "[DONE]"]);
  expect(await cli.exited).toEqual({ code: 0, signal: null });
});

test("a second signal exits at once, without waiting for the drain", async () => {
  fake().enqueue({ hang: true });
  const { cli, url } = await serveCli(["--shutdown-timeout", "600"], { KLISK_LOG_LEVEL: "info" }); // the "shutting down" line is an info log entry
  void postChat(url, { message: "hi" }).then((r) => r.text()).catch(() => {});
  await fake().waitForRequests(1);
  cli.child.kill("SIGTERM");
  await waitFor(() => /shutting down/.test(cli.stderr()), 5000, "first signal handled");
  cli.child.kill("SIGTERM");
  expect(await cli.exited).toEqual({ code: 1, signal: null });
});

test("--log-level info writes JSON request lines to stderr (never the key); stdout keeps the banner only", async () => {
  const { cli, url } = await serveCli(["--log-level", "info"], { KLISK_API_KEY: "sk-cli-hush-77" });
  const res = await postChat(url, { message: "hi", stream: false }, { Authorization: "Bearer sk-cli-hush-77", "X-Request-Id": "cli-req-1" });
  expect(res.status).toBe(200);
  await waitFor(() => /"reqId":"cli-req-1"/.test(cli.stderr()), 5000, "request line");
  const line = cli.stderr().split("\n").find((l) => l.includes('"cli-req-1"'))!;
  expect(JSON.parse(line)).toMatchObject({ level: 30, msg: "request", method: "POST", path: "/api/chat", status: 200, agent: "Assistant" });
  expect(cli.stderr() + cli.stdout()).not.toContain("hush-77");
  expect(cli.stdout()).not.toMatch(/"msg"/);
});

test.each([
  [["--log-level", "loud"], /Invalid --log-level "loud": use one of trace, debug, info, warn, error, fatal, silent/],
  [["--shutdown-timeout", "soon"], /Invalid --shutdown-timeout "soon": use a number of seconds, 0 or more/],
  [["--shutdown-timeout", "-1"], /Invalid --shutdown-timeout "-1"/],
])("%j exits 1 with a clear error", async (flags, message) => {
  const dir = writeProjectDir({ entry: ENTRY });
  const cli = startKlisk(["serve", dir, "--port", "0", ...flags]);
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(message);
});
