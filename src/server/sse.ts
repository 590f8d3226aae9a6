/**
 * The one SSE writer: headers once, one `data: <json>` frame per event, always `data: [DONE]` and `end()`.
 * A client that goes away aborts the run; a slow client is waited for (backpressure), not buffered without end.
 */
import type { Response } from "express";
import { AbortedError } from "../errors";
import type { ChatEvent } from "../runner/events";
import { CLIENT_GONE_MESSAGE } from "./runs";

/** Comment frames keep idle proxies from closing the stream while a tool or model is slow (limits.sse_heartbeat_s). */
const HEARTBEAT_MS = 15_000;
const PING = ": ping\n\n";

export interface SseOptions {
  /** Aborted when the client disconnects before the stream ends. */
  controller: AbortController;
  log: (message: string) => void;
  heartbeatMs?: number;
}

export async function writeSse(res: Response, events: AsyncIterable<ChatEvent>, options: SseOptions): Promise<void> {
  const { controller, log } = options;
  let closed = false;
  res.on("close", () => {
    closed = true;
    if (!res.writableFinished) controller.abort(new AbortedError(CLIENT_GONE_MESSAGE));
  });
  res.socket?.setNoDelay(true);
  // writeHead merges with headers already set (CORS), so those survive.
  res.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no",
  });
  res.flushHeaders();

  let writing = Promise.resolve();
  const write = (chunk: string): Promise<void> => {
    writing = writing.then(() => (closed || res.destroyed ? undefined : writeChunk(res, chunk)));
    return writing;
  };
  const heartbeat = setInterval(() => void write(PING), options.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  try {
    for await (const event of events) {
      if (closed) break;
      await write(`data: ${JSON.stringify(event)}\n\n`);
    }
  } catch (err) {
    // runChat is meant never to throw; if it does, the client still gets a well-formed ending.
    log(`SSE stream failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    await write(`data: ${JSON.stringify({ type: "error", data: "Internal server error" })}\n\n`);
  } finally {
    clearInterval(heartbeat);
    await write("data: [DONE]\n\n");
    res.end();
  }
}

/** Writes and, when the socket buffer is full, waits for 'drain' (or for the client to go away). */
function writeChunk(res: Response, chunk: string): Promise<void> {
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
