/**
 * `klisk dev [dir]`: `klisk serve` for the edit loop. It watches the project's sources, klisk.config.yaml
 * and .env, and on a change reloads the project in the same process: new requests get the new agents,
 * runs in progress finish on the old ones, open WebSockets stay open. A reload that fails keeps the last
 * good project serving; the error (file, line, cause) is printed and shown as a banner on the chat page
 * (GET /api/info carries it as `dev.error`) until a reload succeeds. Logs are human-readable lines.
 */
import { performance } from "node:perf_hooks";
import path from "node:path";
import { ConfigError } from "../errors";
import { log } from "../log";
import { EnvReloader } from "../project/envReload";
import { loadProject } from "../project/load";
import { enableEsmReload, type EsmReload } from "../project/esmReload";
import { forgetProjectModules, needsRestart } from "../project/moduleCache";
import type { Project } from "../project/project";
import { watchProject, type ProjectWatcher } from "../project/watch";
import type { RunningServer } from "../server/listen";
import { blame, ProjectHolder, type ReloadProblem } from "../server/reload";
import { keepServingOnStrayErrors } from "../server/strayErrors";
import { reportError, styleFor } from "./output";
import { serve, stopOnSignals, type ServeFlags, type ServeOptions } from "./serve";

export interface DevOptions extends Omit<ServeOptions, "reloadable" | "prettyLogs" | "workers"> {
  /** Quiet time after the last change before reloading (default: the watcher's). */
  debounceMs?: number;
  stderr?: NodeJS.WriteStream;
}

export interface DevServer {
  running: RunningServer;
  holder: ProjectHolder;
  /** Reloads now (what a change triggers); resolves once the new project serves or the error is recorded. */
  reload(changed?: string[]): Promise<ReloadOutcome>;
  /** Stops watching and drains the server. */
  close(): Promise<void>;
}

export type ReloadOutcome = { ok: true; ms: number } | { ok: false; problem: ReloadProblem };

/** What `klisk dev [dir]` runs. */
export async function devCommand(dir: string, opts: ServeFlags): Promise<void> {
  try {
    if (opts.workers !== undefined && opts.workers.trim() !== "1") {
      throw new ConfigError("klisk dev serves from one process: --workers is for `klisk serve`.");
    }
    let dev: DevServer | undefined;
    await startDev({
      cwd: process.cwd(),
      dir,
      ...opts,
      onListening: (running) => {
        // Before the watcher exists: a signal now only has the server to stop.
        const stop = stopOnSignals({ close: () => (dev ? dev.close() : running.close()) });
        keepServingOnStrayErrors(() => stop("an uncaught error in klisk itself", 1));
      },
    }).then((started) => (dev = started));
  } catch (err) {
    process.exit(reportError(err));
  }
}

/** Serves the project as `klisk serve` does and reloads it on every change. */
export async function startDev(options: DevOptions): Promise<DevServer> {
  const out = options.stdout ?? process.stdout;
  const err = options.stderr ?? process.stderr;
  const dir = path.resolve(options.cwd, options.dir ?? ".");
  // Before the first load, so the variables the shell set are told apart from the file's.
  const env = new EnvReloader(dir);
  // Before the first load, so the modules it imports are ones the hook can version on the next.
  const esm = enableEsmReload(dir);
  let holder: ProjectHolder | undefined;
  const running = await serve({
    ...options,
    prettyLogs: true,
    reloadable: (project) => (holder = new ProjectHolder(project)),
    load: (projectDir) => loadUntilGood(projectDir, env, esm, err, options.debounceMs),
  });
  env.adoptLoaded();
  const projects = holder!;

  let closing: Promise<void> | undefined;
  let reloading: Promise<ReloadOutcome> | undefined;
  let again: string[] | undefined;
  const reloadOnce = async (changed: string[]): Promise<ReloadOutcome> => {
    const started = performance.now();
    let loaded: Project | undefined;
    try {
      env.reload();
      forgetProjectModules(dir);
      esm?.next();
      loaded = await loadProject(dir);
      const old = projects.swap(loaded);
      const ms = Math.round(performance.now() - started);
      // Only what is new: the same missing-key warning on every save is noise.
      for (const warning of loaded.warnings) if (!old.warnings.includes(warning)) log.warn({}, warning);
      printReloaded(out, changed, ms);
      // Without the resolve hook (Node before 20.6) Node's ESM loader serves these from its cache.
      const stale = esm ? [] : needsRestart(dir, changed);
      if (stale.length > 0) printNeedsRestart(err, stale);
      retire(projects, old);
      return { ok: true, ms };
    } catch (error) {
      // A project that loaded but could not be served: stop its MCP servers, it will never run.
      if (loaded && loaded !== projects.project) void closeMcp(loaded);
      const problem = projects.fail(error);
      printFailed(err, problem);
      return { ok: false, problem };
    }
  };
  // One reload at a time; changes that arrive meanwhile make one more, with all their files.
  const reload = (changed: string[] = []): Promise<ReloadOutcome> => {
    if (reloading) {
      again = [...(again ?? []), ...changed];
      return reloading.then(() => reloading ?? reload([]));
    }
    reloading = reloadOnce(changed).finally(() => {
      reloading = undefined;
      const next = again;
      again = undefined;
      if (next && !closing) void reload(next);
    });
    return reloading;
  };

  const watcher: ProjectWatcher = watchProject(dir, (files) => void reload(files), { debounceMs: options.debounceMs });
  out.write(`${styleFor(out).dim(`  Watching ${dir} for changes (sources, klisk.config.yaml, .env): edits reload in place`)}\n`);

  const close = () =>
    (closing ??= (async () => {
      watcher.close();
      // A reload under way finishes first: else the project it loads (and its MCP servers) would outlive us.
      await reloading;
      projects.close();
      await running.close();
      // The server closes the first project's MCP servers; a reloaded project's are ours to close.
      await closeMcp(projects.project);
    })());
  return { running, holder: projects, reload, close };
}

/**
 * The first load: there is no last good version to keep serving yet, so a broken project is reported and
 * loaded again after the next change, until it loads (flag errors and a busy port still exit).
 */
async function loadUntilGood(dir: string, env: EnvReloader, esm: EsmReload | undefined, err: NodeJS.WriteStream, debounceMs?: number): Promise<Project> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (attempt > 0) {
        env.reload();
        forgetProjectModules(dir);
        esm?.next();
      }
      return await loadProject(dir);
    } catch (error) {
      env.adoptLoaded();
      // Watching before saying so: a fix saved right after the message is not missed.
      const changed = new Promise<void>((resolve) => {
        const watcher = watchProject(dir, () => (watcher.close(), resolve()), { debounceMs });
      });
      const style = styleFor(err);
      err.write(`${style.red("✗ Cannot load the project")} ${style.dim("— fix it and save; klisk dev starts once it loads")}\n  ${blame(error).message}\n`);
      await changed;
    }
  }
}

/**
 * A replaced project's MCP servers stop once no run can call them any more. (The server closes the first
 * project's again at shutdown: closing is idempotent.)
 */
function retire(holder: ProjectHolder, old: Project): void {
  void holder.whenIdle().then(() => (old === holder.project ? undefined : closeMcp(old)));
}

/** The project's MCP server connections (`mcp_servers`), when it has any: they would outlive a reload otherwise. */
async function closeMcp(project: Project): Promise<void> {
  await project.mcp?.close();
}

function printReloaded(out: NodeJS.WriteStream, changed: string[], ms: number): void {
  const style = styleFor(out);
  const what = changed.length > 0 ? style.dim(` (${summarise(changed)})`) : "";
  out.write(`${style.green("✓")} Reloaded in ${ms} ms${what}\n`);
}

function printFailed(err: NodeJS.WriteStream, problem: ReloadProblem): void {
  const style = styleFor(err);
  err.write(`${style.red("✗ Reload failed")} ${style.dim("— still serving the last good version")}\n  ${problem.message}\n`);
}

function printNeedsRestart(err: NodeJS.WriteStream, files: string[]): void {
  const style = styleFor(err);
  err.write(`${style.yellow("⚠ Restart klisk dev to pick up")} ${summarise(files)}${style.dim(": Node keeps .mjs, .cjs and CommonJS .js modules that are import-ed loaded (TypeScript and ESM .js files reload)")}\n`);
}

function summarise(files: string[]): string {
  return files.length <= 3 ? files.join(", ") : `${files.slice(0, 3).join(", ")} and ${files.length - 3} more`;
}
