/** Output into a pipe whose reader has gone (`klisk check | head -1`): exit quietly with 0, no EPIPE stack. */
import path from "node:path";
import { KLISK_BIN, runChild, startKlisk } from "../helpers/cli";
import { tempDir, writeFiles } from "../helpers/tmp";

const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", model: "gpt-5.2" });\n';

/** Runs klisk with our end of its stdout closed before it writes anything: every write it makes fails with EPIPE. */
function withClosedStdout(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  const cli = startKlisk(args, { cwd, env: { OPENAI_API_KEY: "sk-test" }, input: "" });
  cli.child.stdout.destroy();
  return cli.closed;
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

test("`set -o pipefail; klisk check DIR | head -1` succeeds with the first line", async () => {
  const dir = writeFiles({ "klisk.config.yaml": "name: piped\n", "src/main.ts": ENTRY });
  const script = `set -o pipefail; "${process.execPath}" "${KLISK_BIN}" check "${dir}" | head -1`;
  const res = await runChild("bash", ["-c", script], { env: { OPENAI_API_KEY: "sk-test" } });
  expect(res.stdout).toMatch(/^Project\s+piped\s/);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
});
