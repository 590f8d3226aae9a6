/**
 * The one bounded wait on a client that reads slowly, shared by the SSE writer and WebSocket sessions: a
 * write that does not drain within limits.write_stall_s, or outlives its run (timeout, cancel, shutdown),
 * must not hold the run and its slot.
 */

/** How the wait ended: the client took the data, it did not in time (or the write failed), or the run ended. */
export type WaitOutcome = "flushed" | "stalled" | "aborted";

export function waitForClient(flushed: Promise<unknown>, stallMs: number, signal: AbortSignal): Promise<WaitOutcome> {
  if (signal.aborted) return Promise.resolve("aborted");
  return new Promise((resolve) => {
    const settle = (outcome: WaitOutcome) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    const onAbort = () => settle("aborted");
    const timer = setTimeout(() => settle("stalled"), stallMs);
    signal.addEventListener("abort", onAbort, { once: true });
    flushed.then(
      () => settle("flushed"),
      () => settle("stalled"),
    );
  });
}
