/**
 * `.env` read again on `klisk dev`'s reloads. loadEnv (env.ts) never overrides a variable that is set, so on
 * its own a key added to .env after start-up, or a changed one, would never arrive. Here the variables the
 * shell set before start-up still win; every other one follows the file: set, changed, or removed with it.
 */
import fs from "node:fs";
import path from "node:path";
import dotenv from "dotenv";
import { ConfigError } from "../errors";

export class EnvReloader {
  /** What the process had before any .env was read: the shell's, never touched. */
  private readonly shell: ReadonlySet<string>;
  /** Variables this reloader set from the file last time. */
  private fromFile = new Set<string>();

  constructor(private readonly dir: string, env: NodeJS.ProcessEnv = process.env) {
    this.shell = new Set(Object.keys(env));
  }

  /** Applies the file as it is now; returns the names that changed (never their values: they are secrets). */
  reload(env: NodeJS.ProcessEnv = process.env): string[] {
    const file = path.join(this.dir, ".env");
    let parsed: Record<string, string> = {};
    if (fs.existsSync(file)) {
      try {
        parsed = dotenv.parse(fs.readFileSync(file));
      } catch (err) {
        throw new ConfigError(`.env: cannot read ${file} (${(err as Error).message})`);
      }
    }
    const changed: string[] = [];
    const next = new Set<string>();
    for (const [name, value] of Object.entries(parsed)) {
      if (this.shell.has(name)) continue;
      next.add(name);
      if (env[name] !== value) {
        env[name] = value;
        changed.push(name);
      }
    }
    for (const name of this.fromFile) {
      if (next.has(name) || this.shell.has(name)) continue;
      delete env[name];
      changed.push(name);
    }
    this.fromFile = next;
    return changed;
  }

  /** After the first load: what loadEnv set from the file then (everything new since the constructor) is the file's. */
  adoptLoaded(env: NodeJS.ProcessEnv = process.env): void {
    this.fromFile = new Set(Object.keys(env).filter((name) => !this.shell.has(name)));
  }
}
