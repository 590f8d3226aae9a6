/**
 * The fetch handler's SSE body: the frames sse.ts writes (frame(), `: ping` while idle, always
 * `data: [DONE]`), as a pull-based ReadableStream. The runner is only asked for the next event when the
 * reader wants more, so a slow reader is backpressure on the run, never an unbounded buffer. However the
 * stream ends (the last event, the reader cancelling, the run aborted while the reader is behind, a stall)
 * the iterator is returned and `onEnd` runs exactly once; the caller frees the run slot there.
 */
import { AbortedError, KliskError } from "../errors";
import { log } from "../log";
import type { ChatEvent } from "../runner/events";
import { CLIENT_GONE_MESSAGE, CLIENT_STALLED_MESSAGE } from "./runs";
import { frame } from "./sse";

const PING = ": ping\n\n";
const DONE = "data: [DONE]\n\n";
/** Frames the stream holds for a reader that is behind before it stops asking the runner for more. */
const HIGH_WATER_BYTES = 16 * 1024;
const TICK = Symbol("heartbeat");

export interface SseStreamOptions {
  /** The run's controller: aborted when the reader goes away or stalls. */
  controller: AbortController;
  /** `: ping` after this long without a frame (limits.sse_heartbeat_s). */
  heartbeatMs: number;
  /** A reader that takes nothing for this long loses its run (limits.write_stall_s). */
  stallMs: number;
  /** Once, after the runner has stopped; `cut` when the reader did not get a whole stream (gone, stalled). */
  onEnd(cut: boolean): void;
}

export const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  "X-Accel-Buffering": "no",
} as const;

interface Ending {
  /** The last frames, then the stream closes; without them (and without `error`) the reader has cancelled. */
  last?: string;
  /** Errors the stream instead: the host cuts the response (the reader is not reading anyway). */
  error?: Error;
  /** Aborts the run with this reason first (unless it is aborted already). */
  abort?: Error;
  cut: boolean;
}

export function sseStream(events: AsyncGenerator<ChatEvent, void, undefined>, options: SseStreamOptions): ReadableStream<Uint8Array> {
  const { controller: run, heartbeatMs, stallMs } = options;
  const encoder = new TextEncoder();
  let out!: ReadableStreamDefaultController<Uint8Array>;
  /** The runner's next event while it is being waited for (it outlives a heartbeat). */
  let next: Promise<IteratorResult<ChatEvent, void>> | undefined;
  let pulling = false;
  /** The ending has begun: no more frames, and no second ending. */
  let over = false;
  let stallTimer: ReturnType<typeof setTimeout> | undefined;

  const send = (text: string) => out.enqueue(encoder.encode(text));

  /** The one way the stream ends: close (or error) it, stop the runner, then report. */
  const endStream = (ending: Ending): Promise<void> => {
    if (over) return Promise.resolve();
    over = true;
    clearTimeout(stallTimer);
    run.signal.removeEventListener("abort", onRunAborted);
    if (ending.error) out.error(ending.error);
    else if (ending.last !== undefined) {
      send(ending.last);
      out.close();
    }
    if (ending.abort && !run.signal.aborted) run.abort(ending.abort);
    // A runner parked at a yield runs its finally blocks now; one mid-step (after an abort) stops at its next yield.
    return events.return(undefined).then(
      () => options.onEnd(ending.cut),
      () => options.onEnd(ending.cut),
    );
  };

  // The run was aborted (deadline, shutdown, the client's signal) while no pull waits on the runner: the
  // reader is behind and the runner would not notice until asked. End here, with the reason as the last event.
  const onRunAborted = () => {
    if (pulling || over) return; // a waiting pull gets the runner's own error event
    const reason: unknown = run.signal.reason;
    void endStream({ last: frame({ type: "error", data: reason instanceof KliskError ? reason.message : "Run cancelled" }) + DONE, cut: false });
  };
  run.signal.addEventListener("abort", onRunAborted, { once: true });

  // A reader that takes nothing while the stream is full loses its run and its response, as in sse.ts.
  const onStall = () => {
    if (pulling || over) return;
    const reason = new AbortedError(CLIENT_STALLED_MESSAGE);
    void endStream({ error: reason, abort: reason, cut: true });
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        out = controller;
      },
      async pull() {
        if (over) return;
        clearTimeout(stallTimer);
        pulling = true;
        try {
          next ??= events.next();
          const outcome = await withHeartbeat(next, heartbeatMs);
          if (over) return;
          if (outcome === TICK) return send(PING);
          next = undefined;
          if (outcome.done) return void endStream({ last: DONE, cut: false });
          const event = outcome.value;
          // runChat ends with exactly one done or error: nothing but [DONE] can follow it.
          if (event.type === "done" || event.type === "error") return void endStream({ last: frame(event) + DONE, cut: false });
          send(frame(event));
        } catch (err) {
          // runChat is meant never to throw; if it does, the reader still gets a well-formed ending.
          log.error({ err: err instanceof Error ? err.stack ?? err.message : String(err) }, "SSE stream failed");
          next = undefined;
          void endStream({ last: frame({ type: "error", data: "Internal server error" }) + DONE, cut: false });
        } finally {
          pulling = false;
          // Aborted while this pull waited and what came was not the runner's answer to it: end now, since
          // a reader that is behind may not ask again for a long time.
          if (!over && run.signal.aborted) onRunAborted();
          // Full: the reader is behind. It has stallMs to take something before its run ends.
          else if (!over && (out.desiredSize ?? 1) <= 0) stallTimer = setTimeout(onStall, stallMs);
        }
      },
      cancel() {
        // The reader went away: the client disconnected, or its code cancelled the body.
        return endStream({ abort: new AbortedError(CLIENT_GONE_MESSAGE), cut: true });
      },
    },
    { highWaterMark: HIGH_WATER_BYTES, size: (chunk) => chunk.byteLength },
  );
}

/** The runner's next event, or TICK when none came within `ms` (the pending event is kept for the next pull). */
function withHeartbeat<T>(next: Promise<T>, ms: number): Promise<T | typeof TICK> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = new Promise<typeof TICK>((resolve) => {
    timer = setTimeout(() => resolve(TICK), ms);
  });
  return Promise.race([next, tick]).finally(() => clearTimeout(timer));
}
