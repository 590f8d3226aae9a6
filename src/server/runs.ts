/**
 * Active runs, shared by HTTP and WebSocket: enforces `limits.max_concurrent_runs` and lets shutdown
 * abort every run in flight so streams end with an error event instead of being cut mid-frame.
 */
export class RunRegistry {
  private readonly active = new Set<AbortController>();
  private closingFlag = false;

  /** `maxConcurrent` 0 means unlimited. */
  constructor(private readonly maxConcurrent = 0) {}

  get size(): number {
    return this.active.size;
  }

  get closing(): boolean {
    return this.closingFlag;
  }

  /** A controller for a new run, or null when the server is full or shutting down. Pair with `finish`. */
  start(): AbortController | null {
    if (this.closingFlag) return null;
    if (this.maxConcurrent > 0 && this.active.size >= this.maxConcurrent) return null;
    const controller = new AbortController();
    this.active.add(controller);
    return controller;
  }

  finish(controller: AbortController): void {
    this.active.delete(controller);
  }

  /** Refuses new runs from now on and aborts the running ones. */
  shutdown(): void {
    this.closingFlag = true;
    for (const controller of this.active) controller.abort();
  }
}

export const BUSY_MESSAGE = "Too many runs in progress; try again shortly";
export const SHUTTING_DOWN_MESSAGE = "Server is shutting down";
