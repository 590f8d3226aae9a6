/**
 * A2A's objects as each protocol version spells them, and the tasks and contexts the server keeps. v1.0 is
 * the ProtoJSON of the spec (`{task}` / `{statusUpdate}` / `{artifactUpdate}` results, `TASK_STATE_*`,
 * `ROLE_*`, parts as `{text}`); v0.3 is the older JSON (`kind` on every object, lowercase states, parts as
 * `{kind: "text", text}`, `final` on the last status update). Which one a reply uses follows the request's
 * A2A-Version header; the method names of both are accepted either way.
 */
import type { ChatState } from "../runner/events";

export type A2aVersion = "1.0" | "0.3";
export type TaskState = "submitted" | "working" | "completed" | "failed" | "canceled";

const TERMINAL: ReadonlySet<TaskState> = new Set(["completed", "failed", "canceled"]);

/** A task as the server keeps it: one user message, one run, its text. */
export interface A2aTask {
  readonly id: string;
  readonly contextId: string;
  readonly userMessage: { messageId: string; text: string };
  state: TaskState;
  /** The agent's text so far (the artifact). */
  text: string;
  /** Why the run failed, for a failed task. */
  error?: string;
  timestamp: string;
  /** Aborts the run while it is in progress. */
  controller?: AbortController;
}

export const isTerminal = (task: A2aTask) => TERMINAL.has(task.state);

/**
 * The A2A-Version header as the version replies follow: none means 0.3 (the spec's rule for clients that
 * predate the header); undefined for a version this server does not speak.
 */
export function versionOf(header: string | string[] | undefined): A2aVersion | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim() ?? "";
  if (value === "" || /^0\.3(\.\d+)?$/.test(value)) return "0.3";
  if (/^1(\.0(\.\d+)?)?$/.test(value)) return "1.0";
  return undefined;
}

/** JSON-RPC error codes: the standard ones and A2A's own. */
export const A2A_ERRORS = {
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  taskNotFound: -32001,
  taskNotCancelable: -32002,
  unsupportedOperation: -32004,
  versionNotSupported: -32009,
} as const;

/** One version's spelling of the objects a reply carries. */
export interface A2aWire {
  task(task: A2aTask): object;
  /** SendMessage's result. */
  sendResult(task: A2aTask): object;
  /** A stream's events: the task first, then status and artifact updates. */
  streamTask(task: A2aTask): object;
  statusUpdate(task: A2aTask): object;
  artifactUpdate(task: A2aTask, text: string, append: boolean, lastChunk: boolean): object;
}

const ARTIFACT_ID = "response";

function agentText(task: A2aTask): string | undefined {
  if (task.state === "failed") return task.error;
  return isTerminal(task) && task.text !== "" ? task.text : undefined;
}

const v1: A2aWire = {
  task(task) {
    const reply = agentText(task);
    return {
      id: task.id,
      contextId: task.contextId,
      status: v1Status(task, reply),
      ...(task.text !== "" ? { artifacts: [{ artifactId: ARTIFACT_ID, name: ARTIFACT_ID, parts: [{ text: task.text }] }] } : {}),
      history: [
        { messageId: task.userMessage.messageId, contextId: task.contextId, taskId: task.id, role: "ROLE_USER", parts: [{ text: task.userMessage.text }] },
        ...(reply !== undefined ? [v1Message(task, reply)] : []),
      ],
    };
  },
  sendResult: (task) => ({ task: v1.task(task) }),
  streamTask: (task) => ({ task: v1.task(task) }),
  statusUpdate: (task) => ({ statusUpdate: { taskId: task.id, contextId: task.contextId, status: v1Status(task, agentText(task)) } }),
  artifactUpdate: (task, text, append, lastChunk) => ({
    artifactUpdate: { taskId: task.id, contextId: task.contextId, artifact: { artifactId: ARTIFACT_ID, name: ARTIFACT_ID, parts: [{ text }] }, append, lastChunk },
  }),
};

function v1Message(task: A2aTask, text: string) {
  return { messageId: `${task.id}-reply`, contextId: task.contextId, taskId: task.id, role: "ROLE_AGENT", parts: [{ text }] };
}

function v1Status(task: A2aTask, reply: string | undefined) {
  return { state: `TASK_STATE_${task.state.toUpperCase()}`, ...(reply !== undefined ? { message: v1Message(task, reply) } : {}), timestamp: task.timestamp };
}

const v03: A2aWire = {
  task(task) {
    const reply = agentText(task);
    return {
      kind: "task",
      id: task.id,
      contextId: task.contextId,
      status: v03Status(task, reply),
      ...(task.text !== "" ? { artifacts: [{ artifactId: ARTIFACT_ID, name: ARTIFACT_ID, parts: [{ kind: "text", text: task.text }] }] } : {}),
      history: [
        { kind: "message", messageId: task.userMessage.messageId, contextId: task.contextId, taskId: task.id, role: "user", parts: [{ kind: "text", text: task.userMessage.text }] },
        ...(reply !== undefined ? [v03Message(task, reply)] : []),
      ],
    };
  },
  sendResult: (task) => v03.task(task),
  streamTask: (task) => v03.task(task),
  statusUpdate: (task) => ({ kind: "status-update", taskId: task.id, contextId: task.contextId, status: v03Status(task, agentText(task)), final: isTerminal(task) }),
  artifactUpdate: (task, text, append, lastChunk) => ({
    kind: "artifact-update",
    taskId: task.id,
    contextId: task.contextId,
    artifact: { artifactId: ARTIFACT_ID, name: ARTIFACT_ID, parts: [{ kind: "text", text }] },
    append,
    lastChunk,
  }),
};

function v03Message(task: A2aTask, text: string) {
  return { kind: "message", messageId: `${task.id}-reply`, contextId: task.contextId, taskId: task.id, role: "agent", parts: [{ kind: "text", text }] };
}

function v03Status(task: A2aTask, reply: string | undefined) {
  return { state: task.state, ...(reply !== undefined ? { message: v03Message(task, reply) } : {}), timestamp: task.timestamp };
}

export const WIRES: Readonly<Record<A2aVersion, A2aWire>> = { "1.0": v1, "0.3": v03 };

/**
 * Tasks and the klisk state of each contextId, in memory (per process), each kept `ttlMs` after its last
 * change and at most `max` of each (the oldest goes first). Pruned as new ones arrive: no timers.
 */
export class A2aMemory {
  private readonly tasks = new Map<string, { task: A2aTask; at: number }>();
  private readonly contexts = new Map<string, { state: ChatState; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}

  task(id: string): A2aTask | undefined {
    const entry = this.tasks.get(id);
    return entry && Date.now() - entry.at <= this.ttlMs ? entry.task : undefined;
  }

  /** Adds a task, or marks it changed (its time to live starts again). */
  saveTask(task: A2aTask): void {
    task.timestamp = new Date().toISOString();
    this.tasks.delete(task.id);
    this.tasks.set(task.id, { task, at: Date.now() });
    prune(this.tasks, this.ttlMs, this.max);
  }

  state(contextId: string): ChatState | undefined {
    const entry = this.contexts.get(contextId);
    return entry && Date.now() - entry.at <= this.ttlMs ? entry.state : undefined;
  }

  saveState(contextId: string, state: ChatState): void {
    this.contexts.delete(contextId);
    this.contexts.set(contextId, { state, at: Date.now() });
    prune(this.contexts, this.ttlMs, this.max);
  }
}

/** Map order is last-change order: expired and surplus entries are at the front. */
function prune(map: Map<string, { at: number }>, ttlMs: number, max: number): void {
  const now = Date.now();
  for (const [key, entry] of map) {
    if (map.size <= max && now - entry.at <= ttlMs) break;
    map.delete(key);
  }
}
