/** Output into a pipe whose reader has gone (`klisk check | head -1`): exit quietly with 0, no EPIPE stack. */
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { cleanEnv, KLISK_BIN, removeTempDirs, tempDir, writeFiles } from "./cliHelpers";

afterAll(removeTempDirs);

const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", model: "gpt-5.2" });\n';

/** Runs klisk with our end of its stdout closed before it writes anything: every write it makes fails with EPIPE. */
function withClosedStdout(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [KLISK_BIN, ...args], { cwd, env: cleanEnv({ OPENAI_API_KEY: "sk-test" }), stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

test.each([
  ["check", () => ["check", writeFiles({ "klisk.config.yaml": "name: piped\n", "src/main.ts": ENTRY })]],
  ["init", () => ["init", path.join(tempDir(), "piped"), "--no-install"]],
])("klisk %s into a closed pipe exits 0 without a stack", async (_command, args) => {
  const res = await withClosedStdout(args(), tempDir());
  expect(res.stderr).not.toMatch(/EPIPE|\n\s+at /);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
});

test("`set -o pipefail; klisk check DIR | head -1` succeeds with the first line", () => {
  const dir = writeFiles({ "klisk.config.yaml": "name: piped\n", "src/main.ts": ENTRY });
  const script = `set -o pipefail; "${process.execPath}" "${KLISK_BIN}" check "${dir}" | head -1`;
  const res = spawnSync("bash", ["-c", script], { env: cleanEnv({ OPENAI_API_KEY: "sk-test" }), encoding: "utf8" });
  expect(res.stdout).toMatch(/^Project\s+piped\s/);
  expect(res.stderr).toBe("");
  expect(res.status).toBe(0);
});
