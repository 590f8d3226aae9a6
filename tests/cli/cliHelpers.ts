/**
 * Helpers for CLI tests that spawn the real binary (`node bin/klisk.js`, built by `pretest`): a clean
 * environment, run-to-completion, long-running children with output matching, and temp directories.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const KLISK_BIN = path.join(REPO_ROOT, "bin", "klisk.js");

/** The test runner's environment without anything that changes klisk's behaviour or colours. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(OPENAI_|KLISK_|FORCE_COLOR$|NO_COLOR$|PORT$|HOST$)/.test(key)) continue;
    env[key] = value;
  }
  env.KLISK_LOG_LEVEL = "silent";
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** The executable; default `node bin/klisk.js`. */
  command?: string[];
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running klisk process whose output can be awaited. */
export interface Child {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr match `pattern`; rejects on exit or timeout with the output so far. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<Result>;
}

export function startKlisk(args: string[], options: SpawnOptions = {}): Child {
  const [cmd, ...pre] = options.command ?? [process.execPath, KLISK_BIN];
  const child = spawn(cmd, [...pre, ...args], { cwd: options.cwd ?? REPO_ROOT, env: cleanEnv(options.env) });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  child.stdout.on("data", (d: Buffer) => ((stdout += d.toString()), notify()));
  child.stderr.on("data", (d: Buffer) => ((stderr += d.toString()), notify()));
  const exited = new Promise<Result>((resolve) => {
    child.on("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
      notify();
    });
  });
  if (options.input !== undefined) child.stdin.end(options.input);

  const waitFor = (pattern: RegExp, timeoutMs = 15000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = (stdout + stderr).match(pattern);
        if (match) return done(() => resolve(match));
        if (child.exitCode !== null || child.signalCode !== null) {
          return done(() => reject(new Error(`klisk exited before ${pattern}:\n${stdout}\n${stderr}`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`No ${pattern} within ${timeoutMs} ms:\n${stdout}\n${stderr}`))), timeoutMs);
      const done = (finish: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        finish();
      };
      listeners.add(check);
      check();
    });

  return { child, stdout: () => stdout, stderr: () => stderr, waitFor, exited };
}

/** Runs klisk to completion. */
export function klisk(args: string[], options: SpawnOptions = {}): Promise<Result> {
  return startKlisk(args, { input: "", ...options }).exited;
}

const tempDirs: string[] = [];

export function tempDir(prefix = "klisk-cli-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes files (relative path → text) under a new temp directory and returns it. */
export function writeFiles(files: Record<string, string>): string {
  const dir = tempDir("klisk-project-");
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
  return dir;
}

/** Every file under `dir`, as sorted relative paths with "/" separators. */
export function listFiles(dir: string, prefix = ""): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}
