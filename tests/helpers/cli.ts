/**
 * The one way tests start child processes: the klisk binary (`node bin/klisk.js`, built by `npm run build`,
 * which `npm test` runs first) or any other command, always with the scrubbed environment of ./env.ts.
 * `startKlisk` / `spawnChild` for a long-running child whose output is awaited, `klisk` / `runChild` to run one
 * to completion. Children still running when the test file ends are killed (this module registers the
 * afterAll itself); `afterEach(stopChildren)` does it after every test.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { childEnv } from "./env";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const KLISK_BIN = path.join(REPO_ROOT, "bin", "klisk.js");

export interface SpawnOptions {
  /** Default: the repository root. */
  cwd?: string;
  /** Set (or, when undefined, removed) on top of childEnv(). */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed; without it stdin stays open for the test to write to. */
  input?: string;
  /** In its own process group, which stopChildren kills as a whole (children a wrapper left behind included). */
  detached?: boolean;
}

export interface RunOptions extends SpawnOptions {
  /** Reject with the output unless the exit code is 0 (as execFile does). */
  mustSucceed?: boolean;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Result extends Exit {
  stdout: string;
  stderr: string;
}

/** A running child whose output can be awaited. */
export interface Child {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as they arrived. */
  output(): string;
  /** Resolves with the first match of `pattern` in stdout, else in stderr; rejects once the output has ended or on timeout, with the output so far. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The process has exited and its output has ended (so stdout() and stderr() are complete). */
  exited: Promise<Exit>;
  /** The process has exited and its output has ended. */
  closed: Promise<Result>;
}

/** `exit` resolves on the exit event alone: a killed process group may leave a grandchild holding the pipes. */
const started: Array<{ cli: Child; detached: boolean; exit: Promise<unknown> }> = [];

/** Kills (SIGKILL) every child this test file started that is still running, and waits for them to exit. */
export async function stopChildren(): Promise<void> {
  await Promise.all(
    started.splice(0).map(async ({ cli, detached, exit }) => {
      const { child } = cli;
      if (detached && child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // the group is gone already
        }
      } else if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
      }
      await exit;
    }),
  );
}

if (typeof afterAll === "function") afterAll(stopChildren);

export function spawnChild(command: string, args: string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: childEnv(options.env),
    detached: options.detached,
  }) as ChildProcessWithoutNullStreams;
  let stdout = "";
  let stderr = "";
  let output = "";
  let ended = false;
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  child.stdout.on("data", (d: Buffer) => ((stdout += d.toString()), (output += d.toString()), notify()));
  child.stderr.on("data", (d: Buffer) => ((stderr += d.toString()), (output += d.toString()), notify()));
  child.stdin.on("error", () => {}); // EPIPE when the child exits without reading its input
  const exit = new Promise<Exit>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
    child.on("error", (err) => {
      // It never started (e.g. ENOENT): no exit event will come.
      if (child.pid === undefined) resolve({ code: null, signal: null });
      stderr += `${err.message}\n`;
    });
  });
  const closed = new Promise<Result>((resolve) => {
    const done = () => {
      ended = true;
      resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
      notify();
    };
    child.on("close", done);
    child.on("error", () => child.pid === undefined && done());
  });
  if (options.input !== undefined) child.stdin.end(options.input);

  const waitFor = (pattern: RegExp, timeoutMs = 25_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = stdout.match(pattern) ?? stderr.match(pattern);
        if (match) return done(() => resolve(match));
        if (ended) return done(() => reject(new Error(`${path.basename(command)} exited before ${pattern}:\nstdout:\n${stdout}\nstderr:\n${stderr}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`No ${pattern} within ${timeoutMs} ms:\nstdout:\n${stdout}\nstderr:\n${stderr}`))),
        timeoutMs,
      );
      const done = (finish: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        finish();
      };
      listeners.add(check);
      check();
    });

  const exited = closed.then(({ code, signal }) => ({ code, signal }));
  const cli: Child = { child, stdout: () => stdout, stderr: () => stderr, output: () => output, waitFor, exited, closed };
  started.push({ cli, detached: options.detached === true, exit });
  return cli;
}

/** Runs a command to completion (stdin closed unless `input` says otherwise). */
export async function runChild(command: string, args: string[], options: RunOptions = {}): Promise<Result> {
  const result = await spawnChild(command, args, { input: "", ...options }).closed;
  if (options.mustSucceed && result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${result.code ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** `node bin/klisk.js ...args`, running. */
export function startKlisk(args: string[], options: SpawnOptions = {}): Child {
  return spawnChild(process.execPath, [KLISK_BIN, ...args], options);
}

/** `node bin/klisk.js ...args`, run to completion. */
export function klisk(args: string[], options: RunOptions = {}): Promise<Result> {
  return runChild(process.execPath, [KLISK_BIN, ...args], options);
}
