/**
 * Active runs, shared by HTTP and WebSocket: enforces `limits.max_concurrent_runs`, says why a run was
 * aborted (the reason becomes the client's error event), logs aborts at info, and lets shutdown drain:
 * refuse new runs, give running ones time to finish, then abort what is left.
 */
import { AbortedError } from "../errors";
import { log } from "../log";
import { runTimeoutError } from "../runner/run";

export const BUSY_MESSAGE = "Too many runs in progress; try again shortly";
export const SHUTTING_DOWN_MESSAGE = "Server shutting down";
export const CANCELLED_MESSAGE = "Run cancelled";
export const CLIENT_GONE_MESSAGE = "Client disconnected";
export const CLIENT_STALLED_MESSAGE = "Client stopped reading the response";

/** What the abort log line says about a run (request id, transport). */
export type RunLabel = Record<string, unknown>;

interface ActiveRun {
  label?: RunLabel;
  deadline?: NodeJS.Timeout;
}

export class RunRegistry {
  private readonly active = new Map<AbortController, ActiveRun>();
  private closingFlag = false;
  private onEmpty: (() => void) | undefined;

  /**
   * `maxConcurrent` 0 means unlimited. `runTimeoutMs` (limits.run_timeout_s) aborts a run however it is
   * stuck: runChat times its own work, this also covers a transport waiting on a client that does not read.
   */
  constructor(
    private readonly maxConcurrent = 0,
    private readonly runTimeoutMs?: number,
  ) {}

  get size(): number {
    return this.active.size;
  }

  get closing(): boolean {
    return this.closingFlag;
  }

  /** A controller for a new run, or null when the server is full or shutting down. Pair with `finish`. */
  start(label?: RunLabel): AbortController | null {
    if (this.closingFlag) return null;
    if (this.maxConcurrent > 0 && this.active.size >= this.maxConcurrent) return null;
    const controller = new AbortController();
    const run: ActiveRun = { label };
    if (this.runTimeoutMs !== undefined) {
      const seconds = this.runTimeoutMs / 1000;
      run.deadline = setTimeout(() => controller.abort(runTimeoutError(seconds)), this.runTimeoutMs);
      run.deadline.unref();
    }
    this.active.set(controller, run);
    return controller;
  }

  finish(controller: AbortController): void {
    const run = this.active.get(controller);
    if (!run || !this.active.delete(controller)) return;
    clearTimeout(run.deadline);
    const label = run.label;
    // Aborts are normal (a closed tab, a cancel button, a deploy): info, not error.
    if (controller.signal.aborted) log.info({ ...label, reason: reasonText(controller.signal.reason) }, "Run aborted");
    if (this.active.size === 0) this.onEmpty?.();
  }

  /**
   * Shutdown: refuses new runs from now on, waits up to `timeoutMs` for the running ones, then aborts
   * those left with "Server shutting down" and waits (up to `settleMs`) for them to write their endings.
   */
  async drain(timeoutMs: number, settleMs = 2000): Promise<void> {
    this.closingFlag = true;
    await this.whenEmpty(timeoutMs);
    if (this.active.size === 0) return;
    log.warn({ runs: this.active.size, timeoutMs }, "Shutdown timeout reached; aborting runs in progress");
    for (const controller of this.active.keys()) controller.abort(new AbortedError(SHUTTING_DOWN_MESSAGE));
    await this.whenEmpty(settleMs);
  }

  private whenEmpty(timeoutMs: number): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.onEmpty = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.onEmpty = done;
    });
  }
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
