/**
 * A cache of parse results keyed by the text parsed, so a second `klisk serve` on an unchanged
 * klisk.config.yaml does not load the `yaml` library (a sixth of a cold start) for a file that rarely
 * changes — as jiti caches the entry file it compiles. Values are stored with v8.serialize (so YAML's
 * .inf/.nan survive); only successful parses are stored. Any cache problem (unreadable, corrupt, no
 * permission) falls back to parsing: the cache can make a start faster, never different.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";

/**
 * `node_modules/.cache/klisk` when the project has node_modules (where babel, eslint and jiti keep theirs),
 * else a directory in the system temp dir that only this user can write: another user must not be able
 * to plant a parsed config (say, a provider URL that collects API keys).
 */
export function cacheDir(projectDir: string, tempRoot = os.tmpdir()): string | undefined {
  const modules = path.join(projectDir, "node_modules");
  if (fs.existsSync(modules)) return path.join(modules, ".cache", "klisk");
  const dir = path.join(tempRoot, `klisk-cache-${process.getuid?.() ?? "user"}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = fs.statSync(dir);
    if (process.getuid && (stat.uid !== process.getuid() || (stat.mode & 0o022) !== 0)) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

/**
 * `parse(text)`, or its stored result for the same `kind`, `version` (of the parser, so an upgrade
 * re-parses) and text.
 */
export function cachedParse(text: string, options: { kind: string; version: string; dir: string | undefined }, parse: (text: string) => unknown): unknown {
  const { kind, version, dir } = options;
  if (dir === undefined) return parse(text);
  const key = createHash("sha256").update(`${kind}\0${version}\0${text}`).digest("hex").slice(0, 40);
  const file = path.join(dir, `${kind}-${key}.bin`);
  try {
    return v8.deserialize(fs.readFileSync(file));
  } catch {
    // Not cached yet, or unreadable: parse (errors propagate) and store.
  }
  const value = parse(text);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Written whole then renamed, so a concurrent start never reads half a file.
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, v8.serialize(value), { mode: 0o600 });
    fs.renameSync(temp, file);
  } catch {
    // A read-only project or full disk: the next start parses again.
  }
  return value;
}
