/**
 * The one way tests make temp directories: under the OS temp dir, each removed after the test file that made
 * it (this module registers the afterAll itself, so no test file can forget).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const made: string[] = [];

if (typeof afterAll === "function") {
  afterAll(() => {
    for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
}

/** A new empty directory, removed when the test file ends. */
export function tempDir(prefix = "klisk-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Writes files (relative path → text) under a new temp directory and returns it. */
export function writeFiles(files: Record<string, string> = {}): string {
  const dir = tempDir("klisk-project-");
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
  return dir;
}

export interface ProjectFiles {
  /** klisk.config.yaml text. */
  config?: string;
  /** src/main.ts text. */
  entry?: string;
  /** .env text. */
  env?: string;
}

/** writeFiles for the usual three files of a project. */
export function writeProjectDir(files: ProjectFiles = {}): string {
  const all: Record<string, string> = {};
  if (files.config !== undefined) all["klisk.config.yaml"] = files.config;
  if (files.entry !== undefined) all["src/main.ts"] = files.entry;
  if (files.env !== undefined) all[".env"] = files.env;
  return writeFiles(all);
}

/** Every file under `dir`, as sorted relative paths with "/" separators. */
export function listFiles(dir: string, prefix = ""): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}
