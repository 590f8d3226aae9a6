/**
 * `klisk dev`'s file watcher: the project's source files (so the entry and everything it imports from the
 * project), klisk.config.yaml and .env. One non-recursive fs.watch per directory, node_modules, .git, dist
 * and hidden directories left out. Node 20's `recursive: true` on Linux walks and watches every directory,
 * node_modules included, with no way to skip any; chokidar 4 would do as well as this but is one more
 * dependency for a few dozen lines. Saves come in bursts (an editor writes, renames, touches; a formatter
 * rewrites): changes are reported once, `debounceMs` after the last one.
 */
import fs from "node:fs";
import path from "node:path";
import { ENTRY_EXTENSIONS } from "./load";

const SKIPPED_DIRS = new Set(["node_modules", "dist", "build", "coverage", "out"]);
const WATCHED_FILE = new RegExp(`(?:${[...ENTRY_EXTENSIONS, ".json", ".yaml", ".yml"].map((e) => `\\${e}`).join("|")})$`);
export const DEFAULT_DEBOUNCE_MS = 80;

export interface ProjectWatcher {
  close(): void;
}

export interface WatchOptions {
  debounceMs?: number;
}

/** Calls `onChange` with the changed files (relative to `dir`) after each burst of changes. */
export function watchProject(dir: string, onChange: (files: string[]) => void, options: WatchOptions = {}): ProjectWatcher {
  const root = path.resolve(dir);
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const watchers = new Map<string, fs.FSWatcher>();
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const flush = () => {
    timer = undefined;
    const files = [...pending].sort();
    pending.clear();
    if (files.length > 0 && !closed) onChange(files);
  };

  const watchDir = (directory: string) => {
    if (closed || watchers.has(directory)) return;
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(directory, { persistent: true }, (_event, name) => onEvent(directory, name?.toString()));
    } catch {
      return; // gone already, or unreadable: nothing to watch
    }
    watcher.on("error", () => unwatch(directory));
    watchers.set(directory, watcher);
    for (const entry of readDir(directory)) {
      if (entry.isDirectory() && watchable(entry.name)) watchDir(path.join(directory, entry.name));
    }
  };

  const unwatch = (directory: string) => {
    for (const [watched, watcher] of watchers) {
      if (watched === directory || watched.startsWith(directory + path.sep)) {
        watcher.close();
        watchers.delete(watched);
      }
    }
  };

  const onEvent = (directory: string, name: string | undefined) => {
    if (closed) return;
    if (name === undefined) return; // some platforms do not say which file; the next event will
    const file = path.join(directory, name);
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      // A new (or moved-in) directory may already hold files: watch it and count them as changed.
      if (!watchable(name) || watchers.has(file)) return;
      watchDir(file);
      pending.add(path.relative(root, file));
    } else if (!stat && watchers.has(file)) {
      unwatch(file);
      pending.add(path.relative(root, file));
    } else if (isWatchedFile(directory, name)) {
      pending.add(path.relative(root, file));
    } else {
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(flush, debounceMs);
  };

  const isWatchedFile = (directory: string, name: string) =>
    (directory === root && name === ".env") || (!name.startsWith(".") && WATCHED_FILE.test(name));

  watchDir(root);
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

function watchable(name: string): boolean {
  return !name.startsWith(".") && !SKIPPED_DIRS.has(name);
}

function readDir(directory: string): fs.Dirent[] {
  try {
    return fs.readdirSync(directory, { withFileTypes: true });
  } catch {
    return [];
  }
}
