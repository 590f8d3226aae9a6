/**
 * One-shot commands exit when their work is done, even when the project's entry leaves something running
 * (a timer, a pool, a client): CI jobs and pre-commit hooks wait on them.
 */
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fakeOpenAI";
import { startKlisk, type Result } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { writeFiles } from "../helpers/tmp";

let fake: FakeOpenAI;
let upstream: Record<string, string>;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  upstream = fakeUpstreamEnv(fake.url);
});
afterAll(() => fake.close());

const lingering = () =>
  writeFiles({
    "klisk.config.yaml": "name: lingering\n",
    "src/main.ts": `import { defineAgent } from "klisk";\nsetInterval(() => {}, 60_000); // like a database pool\ndefineAgent({ name: "A" });\n`,
  });

/** Runs klisk; a process still alive after 10 s is killed, and the result says so (signal SIGKILL). */
async function bounded(args: string[], input?: string, env: Record<string, string> = {}): Promise<Result> {
  const cli = startKlisk(args, { env: { ...upstream, ...env }, input });
  const kill = setTimeout(() => cli.child.kill("SIGKILL"), 10_000);
  const result = await cli.closed;
  clearTimeout(kill);
  return result;
}

test("klisk check exits 0 with its verdict", async () => {
  const res = await bounded(["check", lingering()]);
  expect([res.signal, res.code]).toEqual([null, 0]);
  expect(res.stdout).toMatch(/ready to serve/);
});

test("klisk check exits 1 on a failing project too", async () => {
  const res = await bounded(["check", lingering()], undefined, { OPENAI_API_KEY: "" });
  expect([res.signal, res.code]).toEqual([null, 1]);
  expect(res.stdout).toMatch(/OPENAI_API_KEY is not set/);
});

test("klisk run MESSAGE exits 0 after the answer", async () => {
  const res = await bounded(["run", "hello", lingering()]);
  expect([res.signal, res.code, res.stdout]).toEqual([null, 0, "Echo: hello\n"]);
});

test("klisk run -i exits on /exit and at the end of its input", async () => {
  const dir = lingering();
  const onExit = await bounded(["run", "-i", dir], "hi\n/exit\n");
  expect([onExit.signal, onExit.code]).toEqual([null, 0]);
  expect(onExit.stdout).toContain("Echo: hi");
  const onEnd = await bounded(["run", "-i", dir], "hi\n");
  expect([onEnd.signal, onEnd.code]).toEqual([null, 0]);
});
