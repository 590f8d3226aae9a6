/**
 * A tool that leaves an error nobody catches (a floating rejected promise, a late rejection in a timer, a
 * throw in a timer) must not end `klisk serve` and every stream in flight: the error is logged with its
 * stack and the server keeps serving. Only a failure of klisk itself ends the process.
 */
import path from "node:path";
import { isKliskFailure } from "../../src/server/strayErrors";
import { startKlisk, stopChildren, type Child } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { postChat, useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
let cli: Child | undefined;
afterEach(stopChildren);

const ENTRY = `
import { defineAgent, tool } from "klisk";
const floating = tool({ name: "floating", execute: () => { void (async () => { throw new Error("floating boom"); })(); return "started"; } });
const late = tool({ name: "late", execute: () => { setTimeout(() => { void Promise.reject(new Error("late boom")); }, 5); return "started"; } });
const timer = tool({ name: "timer", execute: () => { setTimeout(() => { throw new Error("timer boom"); }, 5); return "started"; } });
const nameless = tool({ name: "nameless", execute: () => { setTimeout(() => { throw Object.create(null); }, 5); return "started"; } });
defineAgent({ name: "Assistant", tools: [floating, late, timer, nameless] });
`;

test.each([
  ["a floating async throw", "floating", /floating boom/],
  ["a late Promise.reject in a timer", "late", /late boom/],
  ["a throw inside a timer", "timer", /timer boom/],
  ["a thrown null-prototype object", "nameless", /Error: \[object Object\]|cannot be described/],
])("%s: logged at error level with its stack, and the server keeps serving", async (_name, toolName, message) => {
  const dir = writeProjectDir({ config: "name: stray\n", entry: ENTRY });
  cli = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1"], {
    env: { ...fakeUpstreamEnv(fake().url), KLISK_LOG_LEVEL: "info" },
  });
  const [, url] = await cli.waitFor(/URL: (http:\/\/\S+)/);
  // A stream in flight while the tool's error goes off: it must end normally.
  fake().enqueue({ text: "a slow answer", delayMs: 100 });
  const stream = postChat(url, { message: "slow one" }).then((r) => r.text());
  await fake().waitForRequests(1);
  fake().enqueue({ toolCalls: [{ name: toolName, arguments: {} }] }, { text: "done" });
  expect((await postChat(url, { message: "go", stream: false })).status).toBe(200);
  await waitFor(() => message.test(cli!.stderr()), 5000, "the error's log line");
  const line = JSON.parse(cli.stderr().split("\n").find((l) => message.test(l))!);
  expect(line).toMatchObject({ level: 50, msg: expect.stringMatching(/Uncaught error in the project's code/) });
  if (toolName !== "nameless") expect(line.err).toContain(path.join(dir, "src", "main.ts"));
  // Still serving: the stream in flight ends normally, /health and a new chat answer.
  expect(await stream).toMatch(/"type":"done","data":"a slow answer"[\s\S]*data: \[DONE\]/);
  expect((await fetch(`${url}/health`)).status).toBe(200);
  expect((await postChat(url, { message: "still here", stream: false })).status).toBe(200);
  expect(cli.child.exitCode).toBeNull();
});

test("isKliskFailure: the first frame outside Node decides; only klisk's own code is klisk's", () => {
  const root = "/opt/app/node_modules/klisk";
  const stack = (file: string) => `Error: x\n    at JSON.parse (<anonymous>)\n    at node:internal/timers:1:1\n    at Timeout._onTimeout (${file}:3:9)\n    at later (/elsewhere.js:1:1)`;
  expect(isKliskFailure(stack(`${root}/dist/server/app.js`), root)).toBe(true);
  // A dependency (zod is re-exported to projects) may be thrown into by a project's own code.
  expect(isKliskFailure(stack(`${root}/node_modules/zod/v4/core/core.js`), root)).toBe(false);
  expect(isKliskFailure(stack("/opt/app/src/tools/greet.ts"), root)).toBe(false);
  expect(isKliskFailure(stack("/opt/app/node_modules/pg/lib/client.js"), root)).toBe(false);
  expect(isKliskFailure("Error: no stack frames", root)).toBe(false);
});
