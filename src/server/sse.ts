/**
 * The one SSE writer: headers once, one `data: <json>` frame per event, always `data: [DONE]` and `end()`.
 * A client that goes away aborts the run; a slow client is waited for (backpressure), not buffered without
 * end, and one that reads nothing for `stallMs` (limits.write_stall_s) loses its run, so it cannot hold a
 * run slot past the run timeout.
 */
import type { ServerResponse } from "node:http";
import { AbortedError } from "../errors";
import { log } from "../log";
import type { ChatEvent } from "../runner/events";
import { CLIENT_GONE_MESSAGE, CLIENT_STALLED_MESSAGE } from "./runs";
import { waitForClient } from "./waitForClient";
import { withWireUsage } from "./usage";

const PING = ": ping\n\n";

export interface SseOptions {
  /** Aborted when the client disconnects before the stream ends. */
  controller: AbortController;
  /** Comment frames keep idle proxies from closing the stream while a tool or model is slow (limits.sse_heartbeat_s). */
  heartbeatMs: number;
  /** How long a write may wait for the client to read (limits.write_stall_s). */
  stallMs: number;
  /** How the events are spelled on the wire: klisk's own frames unless a protocol adapter gives its own. */
  encoder?: SseEncoder;
}

/**
 * A protocol's spelling of runChat's events on an SSE stream (AI SDK, AG-UI, OpenAI chunks). One per
 * stream: an encoder may keep state (open message ids, pending tool calls). The writer's rules (headers
 * once, heartbeats, backpressure, client-gone abort, always ending) hold for every protocol.
 */
export interface SseEncoder {
  /** Headers beside the SSE ones (a protocol's marker header). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The frames for one event ("" for none). */
  event(event: ChatEvent): string;
  /** What closes the stream after the last event (klisk's and most protocols': `data: [DONE]`). */
  end(): string;
}

/** klisk's own frames (spec/rest-api.md). */
export const KLISK_SSE: SseEncoder = { event: frame, end: () => "data: [DONE]\n\n" };

export async function writeSse(res: ServerResponse, events: AsyncIterable<ChatEvent>, options: SseOptions): Promise<void> {
  const { controller } = options;
  const encoder = options.encoder ?? KLISK_SSE;
  let closed = false;
  res.on("close", () => {
    closed = true;
    if (!res.writableFinished) controller.abort(new AbortedError(CLIENT_GONE_MESSAGE));
  });
  res.socket?.setNoDelay(true);
  // writeHead merges with headers already set (CORS), so those survive. No Connection header of our own:
  // Node sends `Connection: keep-alive` itself, and setting it would override a client's `Connection: close`.
  res.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    ...encoder.headers,
  });
  res.flushHeaders();

  const out = new FrameWriter(res);
  const heartbeat = setInterval(() => out.write(PING), options.heartbeatMs);
  heartbeat.unref();

  const { stallMs } = options;
  try {
    for await (const event of events) {
      if (closed) break;
      out.write(encoder.event(event));
      if (out.backpressure && (await waitForClient(out.backpressure, stallMs, controller.signal)) !== "flushed") {
        // The client is not reading (or the run's deadline passed while we waited): end the run and cut
        // the response; nothing more can reach this client anyway.
        if (!controller.signal.aborted) controller.abort(new AbortedError(CLIENT_STALLED_MESSAGE));
        res.destroy();
        break;
      }
    }
  } catch (err) {
    // runChat is meant never to throw; if it does, the client still gets a well-formed ending.
    log.error({ err: err instanceof Error ? err.stack ?? err.message : String(err) }, "SSE stream failed");
    out.write(encoder.event({ type: "error", data: "Internal server error" }));
  } finally {
    clearInterval(heartbeat);
    out.write(encoder.end());
    out.end();
  }
}

/**
 * A frame maker for the one frame that repeats per token: `shape(text)` is serialised once around a marker,
 * then each frame is the constant parts joined around the text's JSON. Same bytes as serialising each time.
 */
export function textFrames(shape: (text: string) => object): (text: string) => string {
  const marker = JSON.stringify("\u0000klisk-text\u0000");
  const json = JSON.stringify(shape(JSON.parse(marker)));
  const at = json.indexOf(marker);
  const prefix = `data: ${json.slice(0, at)}`;
  const suffix = `${json.slice(at + marker.length)}\n\n`;
  return (text) => prefix + JSON.stringify(text) + suffix;
}

const TOKEN_PREFIX = 'data: {"type":"token","data":';

/** One event as an SSE frame. Tokens, nearly every frame, skip serialising the constant part. */
export function frame(event: ChatEvent): string {
  if (event.type === "token") return `${TOKEN_PREFIX}${JSON.stringify(event.data)}}\n\n`;
  return `data: ${JSON.stringify(event.type === "done" ? withWireUsage(event) : event)}\n\n`;
}

/**
 * Coalesces the frames of one tick into one socket write. A provider often delivers many tokens in one
 * network chunk; written one by one, each is a syscall and a chunk header of its own. The first frame of
 * a tick still leaves at once, so the first token is never held back.
 */
class FrameWriter {
  private pending = "";
  private flushScheduled = false;
  /** Set while the client is not keeping up: wait for it before producing more (never buffer without end). */
  backpressure: Promise<void> | undefined;

  constructor(private readonly res: ServerResponse) {}

  write(chunk: string): void {
    if (this.res.destroyed || chunk === "") return;
    if (this.flushScheduled) {
      this.pending += chunk;
      return;
    }
    this.flushScheduled = true;
    process.nextTick(this.flush);
    this.send(chunk);
  }

  end(): void {
    this.flush();
    this.res.end();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const chunk = this.pending;
    this.pending = "";
    if (chunk !== "" && !this.res.destroyed) this.send(chunk);
  };

  private send(chunk: string): void {
    if (this.res.write(chunk) || this.backpressure) return;
    this.backpressure = new Promise((resolve) => {
      const done = () => {
        this.res.off("drain", done);
        this.res.off("close", done);
        this.backpressure = undefined;
        resolve();
      };
      this.res.on("drain", done);
      this.res.on("close", done);
    });
  }
}
