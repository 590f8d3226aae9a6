/**
 * `klisk dev`: one server whose project is swapped in place. A ProjectHolder holds the project of the
 * moment (and the last reload's error); the app mounts `reloadableRouter`, an Express router that hands each
 * request to klisk's router built for the holder's current project. A request is routed by the project it
 * arrived under, and a run keeps the project (agents, tools) it started with, so in-flight runs finish on
 * the old code while new requests get the new. The run registry, rate limiter, body budget, signer and
 * readiness stay the server's across reloads; keys and limits are read again from the reloaded .env/config.
 */
import express, { type Router } from "express";
import type { Project } from "../project/project";
import { loadApiKeys } from "./auth";
import type { ServerContext } from "./context";
import { sendJson } from "./handlers";
import { resolveServerLimits } from "./limits";
import { ROUTES } from "./paths";
import { apiInfo, ENDPOINTS, kliskRouter, optionalEndpoints } from "./router";
import type { RunRegistry } from "./runs";

/** A reload that failed: what the terminal prints and the chat page's banner shows. */
export interface ReloadProblem {
  message: string;
  /** The file to blame, relative to the project (when the message names one). */
  file?: string;
  line?: number;
  /** ISO time of the failed reload. */
  at: string;
}

/** What GET /api/info carries as `dev` under `klisk dev`. */
export interface ReloadStatus {
  /** 1 at start, +1 for every good reload. */
  generation: number;
  reloaded_at: string;
  /** The last reload's error; null once a reload succeeds again. */
  error: ReloadProblem | null;
}

/** Builds what serving `project` needs and returns the step that makes it current (so a build failure changes nothing). */
type Prepare = (project: Project) => () => void;

const RETIRE_POLL_MS = 250;
/** Server-sent reload statuses for the chat page's banner (only under `klisk dev`). */
export const DEV_STATUS_PATH = "/api/dev/status";

export class ProjectHolder {
  private current: Project;
  private generation = 1;
  private reloadedAt = new Date();
  private problem: ReloadProblem | null = null;
  private readonly preparers: Prepare[] = [];
  private runs: RunRegistry | undefined;
  private readonly watchers = new Set<(status: ReloadStatus | null) => void>();

  constructor(project: Project) {
    this.current = project;
  }

  get project(): Project {
    return this.current;
  }

  get error(): ReloadProblem | null {
    return this.problem;
  }

  status(): ReloadStatus {
    return { generation: this.generation, reloaded_at: this.reloadedAt.toISOString(), error: this.problem };
  }

  /** Called for each new project before it becomes current; a throw rejects the project (swap throws). */
  onSwap(prepare: Prepare): void {
    this.preparers.push(prepare);
  }

  /** The server's run registry, so retired projects can wait for their runs (see whenIdle). */
  trackRuns(runs: RunRegistry): void {
    this.runs = runs;
  }

  /** Calls `listener` with the status after every reload, good or failed, and with null on close(); returns the unsubscribe. */
  subscribe(listener: (status: ReloadStatus | null) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** The server is stopping: subscribers (the pages' status streams) end, so they do not hold shutdown up. */
  close(): void {
    for (const listener of [...this.watchers]) listener(null);
    this.watchers.clear();
  }

  private changed(): void {
    const status = this.status();
    for (const listener of [...this.watchers]) listener(status);
  }

  /** Makes `project` current and clears the error; returns the project it replaces. */
  swap(project: Project): Project {
    const commits = this.preparers.map((prepare) => prepare(project));
    for (const commit of commits) commit();
    const old = this.current;
    this.current = project;
    this.generation += 1;
    this.reloadedAt = new Date();
    this.problem = null;
    this.changed();
    return old;
  }

  /** Records a failed reload (the current project stays) and returns it as the page and terminal show it. */
  fail(err: unknown): ReloadProblem {
    const problem = { ...blame(err), at: new Date().toISOString() };
    this.problem = problem;
    this.changed();
    return problem;
  }

  /** Resolves once no run is in progress (then a retired project's MCP servers can be closed). */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if ((this.runs?.size ?? 0) === 0) return resolve();
        setTimeout(check, RETIRE_POLL_MS).unref();
      };
      check();
    });
  }
}

/**
 * The loader's messages start with the file to blame: "src/main.ts:4:3: Syntax error: ...",
 * "src/tools/x.ts:12: Error while loading: ...", "klisk.config.yaml: server.port ...".
 */
export function blame(err: unknown): Omit<ReloadProblem, "at"> {
  const message = err instanceof Error ? err.message : String(err);
  const located = /^([^\s:][^:\n]*?\.[A-Za-z]+):(\d+)(?::\d+)?: /.exec(message);
  if (located) return { message, file: located[1], line: Number(located[2]) };
  const named = /^([^\s:][^:\n]*?\.(?:ya?ml|env|[cm]?[jt]s)|\.env): /.exec(message);
  return named ? { message, file: named[1] } : { message };
}

/** The context a router is built on: the server's, with this project's agents, keys and limits. */
function contextFor(context: ServerContext, project: Project): ServerContext {
  return { ...context, project, keys: loadApiKeys(), limits: resolveServerLimits(project) };
}

/** klisk's router over the holder's current project, plus `dev` (the reload status) in GET /api/info. */
export function reloadableRouter(context: ServerContext, holder: ProjectHolder): Router {
  const build = (project: Project) => {
    const scoped = contextFor(context, project);
    const info = { ...apiInfo(scoped), endpoints: { ...ENDPOINTS, ...optionalEndpoints(project) } };
    return { router: kliskRouter(scoped, { edge: false }), info };
  };
  let served = build(holder.project);
  holder.trackRuns(context.runs);
  holder.onSwap((project) => {
    const next = build(project);
    return () => (served = next);
  });

  const router = express.Router();
  // The chat page polls this in dev mode to show (and clear) the reload error banner.
  router.get(ROUTES.info, (_req, res) => sendJson(res, 200, { ...served.info, dev: { ...holder.status(), status_stream: DEV_STATUS_PATH.slice(1) } }));
  // The chat page listens here in dev mode: one long request (one log line), not a poll every second.
  router.get(DEV_STATUS_PATH, (req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store", Connection: "keep-alive" });
    const send = (status: ReloadStatus | null) => {
      if (status === null) return res.end();
      res.write(`data: ${JSON.stringify(status)}\n\n`);
    };
    send(holder.status());
    const unsubscribe = holder.subscribe(send);
    req.on("close", unsubscribe);
  });
  // Read per request: a request is served by the router of the project current when it arrives.
  router.use((req, res, next) => served.router(req, res, next));
  return router;
}
