/**
 * The scaffolded Dockerfile's CMD, run the way docker runs it: exactly its argv, in the project, with PORT set,
 * as the process that receives `docker stop`'s SIGTERM. The drain must then work (run finishes, exit 0).
 */
import fs from "node:fs";
import path from "node:path";
import { klisk, REPO_ROOT, spawnChild, stopChildren } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { freePort, parseSse, postChat, useFakeOpenAI } from "../helpers/project";
import { tempDir } from "../helpers/tmp";

const fake = useFakeOpenAI();

// The CMD runs detached, so its whole process group is cleaned up if the test failed, including children a
// wrapper (npx) left behind when it died of the signal itself.
afterEach(stopChildren);

/** `klisk init`, then node_modules laid out as `npm ci` would leave it, with this checkout as the klisk package. */
async function scaffold(): Promise<string> {
  const cwd = tempDir();
  expect((await klisk(["init", "boxed", "--no-install"], { cwd })).code).toBe(0);
  const dir = path.join(cwd, "boxed");
  fs.mkdirSync(path.join(dir, "node_modules", ".bin"), { recursive: true });
  fs.symlinkSync(REPO_ROOT, path.join(dir, "node_modules", "klisk"), "dir");
  fs.symlinkSync("../klisk/bin/klisk.js", path.join(dir, "node_modules", ".bin", "klisk"));
  return dir;
}

/** The exec-form CMD (a JSON array); a shell-form CMD would not parse, and would not get the signal either. */
function dockerCmd(dir: string): string[] {
  const line = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8").match(/^CMD (.*)$/m);
  if (!line) throw new Error("The Dockerfile has no CMD");
  return JSON.parse(line[1]);
}

test("the Dockerfile's CMD gets SIGTERM itself: the run in progress finishes, then 'Server stopped' and exit 0", async () => {
  const dir = await scaffold();
  const [command, ...args] = dockerCmd(dir);
  const port = await freePort();
  const cmd = spawnChild(command, args, {
    cwd: dir,
    detached: true,
    // HOST only keeps the test on loopback; docker would bind 0.0.0.0 (the default).
    env: { PORT: String(port), HOST: "127.0.0.1", ...fakeUpstreamEnv(fake().url), KLISK_LOG_LEVEL: "info", NO_COLOR: "1" },
  });
  const exited = cmd.exited.then(({ code }) => code);
  for (let i = 0; i < 300 && !cmd.output().includes(`:${port}`); i++) await new Promise((r) => setTimeout(r, 50));
  expect(cmd.output()).toContain(`URL: http://127.0.0.1:${port}`);

  fake().enqueue({ text: "a slow but complete answer", delayMs: 150 });
  const stream = postChat(`http://127.0.0.1:${port}`, { message: "hi" }).then((r) => r.text());
  await fake().waitForRequests(1);
  cmd.child.kill("SIGTERM");
  expect(parseSse(await stream).at(-2)).toMatchObject({ type: "done", data: "a slow but complete answer" });
  expect(await exited).toBe(0);
  expect(cmd.output()).toMatch(/"msg":"Server stopped"/);
}, 30000);
