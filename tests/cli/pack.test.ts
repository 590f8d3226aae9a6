/**
 * The published artefact works, not just the checkout: `npm pack`, install the tarball into a temp dir
 * (dependencies from the local npm cache), then `klisk init`, `klisk check`, `klisk serve` and a streamed
 * chat over SSE against the fake upstream, all through the installed `node_modules/.bin/klisk`.
 */
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, runChild, spawnChild, stopChildren, type Child } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fakeOpenAI";
import { freePort } from "../helpers/project";
import { listFiles, tempDir } from "../helpers/tmp";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";

let fake: FakeOpenAI;
let installDir: string;
let packedFiles: string[];
let bin: string;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  const packDir = tempDir("klisk-pack-");
  // `npm pack` ships what is in dist/: `npm test` builds it first (pretest).
  const { stdout } = await runChild(npm, ["pack", "--json", "--pack-destination", packDir], { cwd: REPO_ROOT, mustSucceed: true });
  const [info] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = info.files.map((f) => f.path);

  installDir = tempDir("klisk-install-");
  fs.writeFileSync(path.join(installDir, "package.json"), JSON.stringify({ name: "pack-test", private: true }));
  // The dependencies come from ~/.npm (filled by `npm ci`); the network is only asked for what is missing.
  await runChild(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", path.join(packDir, info.filename)], {
    cwd: installDir,
    mustSucceed: true,
  });
  bin = path.join(installDir, "node_modules", ".bin", "klisk");
}, 180000);

afterEach(stopChildren);
afterAll(() => fake?.close());

describe("the packed package", () => {
  test("ships dist, bin, templates (dotfiles under safe names) and the UI, and no tests", () => {
    expect(packedFiles).toEqual(expect.arrayContaining(["package.json", "bin/klisk.js", "dist/index.js", "dist/cli/main.js"]));
    expect(packedFiles).toEqual(
      expect.arrayContaining(["templates/default/_gitignore", "templates/default/_env.example", "templates/default/src/main.ts"]),
    );
    const uiDir = path.join(REPO_ROOT, "src", "ui");
    const uiFiles = fs.existsSync(uiDir) ? listFiles(uiDir).map((f) => `src/ui/${f}`) : [];
    expect(packedFiles).toEqual(expect.arrayContaining(uiFiles));

    const unwanted = packedFiles.filter((f) => /(^|\/)(tests?|__tests__)\//.test(f) || /\.(test|spec)\.[cm]?[jt]s(\.map)?$/.test(f));
    expect(unwanted).toEqual([]);
    expect(packedFiles.filter((f) => f.startsWith("src/") && !f.startsWith("src/ui/"))).toEqual([]);
  });

  test("the installed binary runs", async () => {
    const res = await runChild(bin, ["--version"], { cwd: installDir });
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version);
  });

  test("klisk init --no-install scaffolds a project", async () => {
    const res = await runChild(bin, ["init", "my-agent", "--no-install"], { cwd: installDir });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const files = listFiles(path.join(installDir, "my-agent"));
    expect(files).toEqual(expect.arrayContaining([".gitignore", ".dockerignore", ".env", ".env.example", "src/main.ts"]));
  });

  test("klisk init runs npm install, and a failed install is a warning with the retry command, not a failure", async () => {
    // Offline with an empty cache, `klisk` cannot be installed: npm fails fast without touching the network.
    const res = await runChild(bin, ["init", "offline-agent"], {
      cwd: installDir,
      env: { npm_config_offline: "true", npm_config_cache: tempDir("klisk-npm-cache-") },
    });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Installing dependencies \(npm install\)/);
    expect(res.stdout).not.toMatch(/Linked klisk/); // an installed klisk is not a clone
    expect(res.stderr).toMatch(/Warning: npm install failed \(exit code \d+\)/);
    expect(res.stderr).toMatch(/cd offline-agent && npm install/);
    expect(res.stdout).toMatch(/Next steps:/);
    expect(fs.existsSync(path.join(installDir, "offline-agent", "src/main.ts"))).toBe(true);
  }, 60000);

  test("klisk check passes on it", async () => {
    const res = await runChild(bin, ["check", "my-agent"], { cwd: installDir, env: { OPENAI_API_KEY: "test" } });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Assistant \(default\)\s+gpt-5\.2\s+OpenAI\s+greet/);
  });

  test("klisk serve answers a streamed chat that calls the template's tool", async () => {
    const port = await freePort();
    const server = spawnChild(bin, ["serve", "my-agent", "--port", String(port), "--host", "127.0.0.1"], {
      cwd: installDir,
      env: fakeUpstreamEnv(fake.url),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHealth(url, server);

    fake.enqueue({ toolCalls: [{ name: "greet", arguments: { name: "Ada" } }] });
    const res = await fetch(`${url}/api/chat`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message: "Hi, I'm Ada" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const frames = (await res.text()).split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => f.slice(6));
    expect(frames[frames.length - 1]).toBe("[DONE]");
    const events = frames.slice(0, -1).map((f) => JSON.parse(f));
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["tool_call", "tool_result", "token", "done"]));
    expect(events.find((e) => e.type === "tool_result").data.output).toBe("Hello, Ada! Welcome aboard.");
    expect(events[events.length - 1]).toMatchObject({ type: "done", data: "Tool said: Hello, Ada! Welcome aboard." });
    // klisk init wrote a KLISK_STATE_SECRET into .env, so the returned state is signed from the first start.
    expect(events[events.length - 1].state.signature).toEqual(expect.any(String));
    // The agent from the template reached the upstream with its model, instructions and tool.
    const body = fake.requests[0].body;
    expect(body.model).toBe("gpt-5.2");
    expect(body.tools.map((t: { name: string }) => t.name)).toEqual(["greet"]);

    server.child.kill("SIGTERM");
    const exit = await server.exited;
    expect(exit.signal === null ? exit.code : exit.signal).toBe(0);
  });

  test("the exports map serves klisk, klisk/express and klisk/fetch (with their types) to a project that installed it", async () => {
    expect(packedFiles).toEqual(expect.arrayContaining(["dist/express.js", "dist/express.d.ts", "dist/fetch.js", "dist/fetch.d.ts", "dist/index.d.ts"]));
    const script = `
      const { createKliskRouter } = require("klisk/express");
      const { createFetchHandler } = require("klisk/fetch");
      const { ModelError, KliskError } = require("klisk");
      (async () => {
        const handler = await createFetchHandler("my-agent");
        const info = await (await handler(new Request("http://localhost/api/info"))).json();
        const router = await createKliskRouter("my-agent");
        let deep = "resolved";
        try { require.resolve("klisk/dist/cli/main.js"); } catch (err) { deep = err.code; }
        console.log(JSON.stringify({ agent: info.agent, attach: typeof router.attachWebSocket, errors: new ModelError("x") instanceof KliskError, deep }));
        process.exit(0);
      })();`;
    const { stdout } = await runChild(process.execPath, ["-e", script], { cwd: installDir, env: { OPENAI_API_KEY: "test" }, mustSucceed: true });
    expect(JSON.parse(stdout)).toEqual({ agent: "Assistant", attach: "function", errors: true, deep: "ERR_PACKAGE_PATH_NOT_EXPORTED" });
  });
});

/** Polls /health until the server answers; fails early with its output if it exits. */
async function waitForHealth(url: string, child: Child, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.child.exitCode !== null) throw new Error(`klisk serve exited:\n${child.stdout()}\n${child.stderr()}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`klisk serve did not answer /health within ${timeoutMs} ms:\n${child.stdout()}\n${child.stderr()}`);
}
