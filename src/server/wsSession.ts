/**
 * One WebSocket connection: its conversation state and a strict queue of turns. Control frames
 * (`clear`, `restore`) are queued with the turns so they apply in the order sent; `cancel` acts at once.
 * Nothing a client sends may throw out of a handler: bad frames get an `error` frame and the socket stays open.
 * A client that does not read what we send is not buffered for without end: past a high-water mark its
 * frames are no longer read until ours are flushed, a turn waits at most `write_stall_s` for it, and past a
 * hard cap the socket is closed (1008).
 */
import type { RawData, WebSocket } from "ws";
import { AbortedError, RequestError } from "../errors";
import { log } from "../log";
import type { ChatEvent, ChatState } from "../runner/events";
import { resolveAgent } from "../runner/run";
import { runTurn } from "./chat";
import { INVALID_STATE_MESSAGE, type StateSigner } from "./stateSigning";
import { parseClientState, parseTurnFields, type TurnFields } from "./chatRequest";
import { frameSchema, optionalString, parseRequest, type JsonObject } from "./requestSchemas";
import type { ServerContext } from "./context";
import type { ServerLimits } from "./limits";
import type { RateLimiter } from "./rateLimit";
import { describeForClient } from "./statuses";
import { waitForClient } from "./waitForClient";
import { withWireUsage } from "./usage";
import { BUSY_MESSAGE, CANCELLED_MESSAGE, CLIENT_GONE_MESSAGE, CLIENT_STALLED_MESSAGE, SHUTTING_DOWN_MESSAGE } from "./runs";

/** Past this many buffered bytes, wait for the socket to flush before sending more (slow client). */
const HIGH_WATER_BYTES = 1024 * 1024;
/** Past this many, the client is not reading at all: the socket is closed. */
const MAX_BUFFERED_BYTES = 16 * HIGH_WATER_BYTES;
const CLOSE_POLICY_VIOLATION = 1008;
/** How long a closed socket's client gets to finish the closing handshake before it is cut. */
const CLOSE_GRACE_MS = 1000;
/** With KLISK_STATE_SECRET set, a bare id would let a client continue any conversation and get it signed. */
const UNSIGNED_ID_MESSAGE = `${INVALID_STATE_MESSAGE}: with state signing on, send 'previous_response_id' inside the signed 'state'`;
/** Turns waiting behind the running one; more is a misbehaving client. */
const MAX_QUEUED = 32;

export interface ChatSessionOptions {
  /** With the budget this connection draws on (see RateLimiter.budgetFor). */
  rateLimit?: { limiter: RateLimiter; budget: string };
  /** This connection's id in the logs. */
  reqId?: string;
}

export class ChatSession {
  private state: ChatState = {};
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private running: AbortController | null = null;
  private closed = false;
  /** Turns started, for the connection's log line. */
  turns = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly context: ServerContext,
    private readonly options: ChatSessionOptions = {},
  ) {
    ws.on("message", (data, isBinary) => this.onFrame(data, isBinary));
    ws.on("close", () => {
      this.closed = true;
      this.running?.abort(new AbortedError(CLIENT_GONE_MESSAGE));
    });
    // Without a listener an 'error' (e.g. a frame over maxPayload) would crash the process; ws closes the socket itself.
    ws.on("error", (err) => log.warn({ reqId: options.reqId, err: err.message }, "WebSocket error"));
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    try {
      this.handle(parseFrame(data, isBinary));
    } catch (err) {
      // A bad frame (RequestError, unknown agent) is told what is wrong; a failure of ours is logged.
      const { status, message } = describeForClient(err);
      if (status >= 500) log.error({ reqId: this.options.reqId, err: describe(err) }, "WebSocket frame failed");
      this.reply({ type: "error", data: message });
    }
  }

  /**
   * An answer to a frame. While the client has not read what we sent, its frames are not read either
   * (ws.pause), so a client that sends much and reads nothing cannot make us buffer answers without end.
   */
  private reply(payload: { type: "error"; data: string }): void {
    if (!this.writable()) return;
    if (this.ws.bufferedAmount < HIGH_WATER_BYTES) return this.ws.send(JSON.stringify(payload));
    this.ws.pause();
    this.ws.send(JSON.stringify(payload), () => this.ws.resume());
  }

  /** False once the socket is closing, or closed here for buffering past MAX_BUFFERED_BYTES. */
  private writable(): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount <= MAX_BUFFERED_BYTES) return true;
    this.drop("Client is not reading");
    return false;
  }

  /** Closes a client that does not read (it will not read the close frame either: cut it soon after). */
  private drop(reason: string): void {
    this.running?.abort(new AbortedError(CLIENT_STALLED_MESSAGE));
    this.ws.close(CLOSE_POLICY_VIOLATION, reason);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private handle(frame: JsonObject): void {
    const type = frame.type ?? "message";
    switch (type) {
      case "clear":
        return this.enqueue(async () => {
          this.state = {};
        });
      case "restore": {
        const state = restoredState(frame, this.context.limits, this.context.signer);
        return this.enqueue(async () => {
          this.state = state;
        });
      }
      case "cancel":
        // At once, not queued: the client wants the running turn stopped now. It answers with "Run cancelled".
        this.running?.abort(new AbortedError(CANCELLED_MESSAGE));
        return;
      case "message": {
        const fields = parseTurnFields(frame, this.context.project, this.context.limits, this.context.signer);
        const previousResponseId = bareResponseId(frame, this.context.signer);
        return this.enqueue(() => this.runTurnIfAllowed(fields, previousResponseId));
      }
      default:
        throw new RequestError(400, `Unknown frame type ${JSON.stringify(type)}: send {"message": "..."} or a frame of type clear, restore or cancel`);
    }
  }

  private enqueue(task: () => Promise<void>): void {
    if (this.queued >= MAX_QUEUED) throw new RequestError(429, `Too many queued messages (at most ${MAX_QUEUED}); wait for the current turn to finish`);
    this.queued++;
    this.queue = this.queue
      .then(() => (this.closed ? undefined : task()))
      .catch((err) => log.error({ reqId: this.options.reqId, err: describe(err) }, "WebSocket turn failed"))
      .finally(() => this.queued--);
  }

  /** Rate-limited inside the queue, so a limited message cannot overtake a clear/restore sent before it. */
  private async runTurnIfAllowed(fields: TurnFields, previousResponseId: string | undefined): Promise<void> {
    const { rateLimit } = this.options;
    const limited = rateLimit ? (await rateLimit.limiter.take(rateLimit.budget)).error : null;
    if (limited !== null) {
      this.context.metrics.rejected("rate_limit");
      return this.reply({ type: "error", data: limited });
    }
    return this.runTurn(fields, previousResponseId);
  }

  private async runTurn(fields: TurnFields, previousResponseId: string | undefined): Promise<void> {
    const { project, runs, metrics } = this.context;
    const base = fields.state ?? this.state;
    const agent = resolveAgent(project, fields.agentName, base);
    const controller = runs.start({ reqId: this.options.reqId, agent: agent.name, transport: "ws" });
    if (!controller) {
      metrics.rejected(runs.closing ? "draining" : "busy");
      return this.reply({ type: "error", data: runs.closing ? SHUTTING_DOWN_MESSAGE : BUSY_MESSAGE });
    }
    this.running = controller;
    this.turns++;
    // A state sent with the frame wins over the connection's; a bare previous_response_id continues from it.
    const state = previousResponseId !== undefined ? { ...base, previous_response_id: previousResponseId } : base;
    try {
      const events = runTurn(this.context, agent, { ...fields, state }, controller.signal);
      for await (const event of events) {
        if (event.type === "done") this.state = event.state;
        if (!(await this.send(event, controller.signal))) break;
      }
    } catch (err) {
      log.error({ reqId: this.options.reqId, err: describe(err) }, "WebSocket run failed");
      this.reply({ type: "error", data: "Internal server error" });
    } finally {
      this.running = null;
      runs.finish(controller);
    }
  }

  /**
   * One event of a turn. Past the high-water mark it waits for the client to read, at most
   * limits.write_stall_s and no longer than the run may last (`signal`: run timeout, shutdown); a client
   * that does not read by then is dropped. False when the turn should stop sending.
   */
  private send(event: ChatEvent, signal: AbortSignal): Promise<boolean> {
    if (!this.writable()) return Promise.resolve(false);
    const data = JSON.stringify(withWireUsage(event));
    // After an abort only the turn's closing error event is left: send it without waiting (the cap still holds).
    if (this.ws.bufferedAmount < HIGH_WATER_BYTES || signal.aborted) {
      this.ws.send(data);
      return Promise.resolve(true);
    }
    const flushed = new Promise<void>((resolve, reject) => this.ws.send(data, (err) => (err ? reject(err) : resolve())));
    return waitForClient(flushed, this.context.limits.writeStallMs, signal).then((outcome) => {
      // A cancel stops the wait but not the client: it asked (it reads our frames, only slowly) and gets its
      // "Run cancelled" as documented. A stall, a timeout or a shutdown drops it.
      const go = outcome === "flushed" || (outcome === "aborted" && isCancel(signal.reason));
      if (!go && this.ws.readyState === this.ws.OPEN) this.drop(CLIENT_STALLED_MESSAGE);
      return go;
    });
  }
}

function parseFrame(data: RawData, isBinary: boolean): JsonObject {
  if (isBinary) throw new RequestError(400, "Binary frames are not supported: send JSON text frames");
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  const text = bytes.toString("utf8");
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, `Malformed JSON frame: ${(err as Error).message}`);
  }
  return parseRequest(frameSchema, frame);
}

/** `{"type":"restore","previous_response_id":"..."}`, or `{"type":"restore","state":{...}}`. */
function restoredState(frame: JsonObject, limits: ServerLimits, signer: StateSigner | undefined): ChatState {
  const previousResponseId = bareResponseId(frame, signer);
  if ((frame.state === undefined || frame.state === null) && previousResponseId === undefined) {
    throw new RequestError(400, "A restore frame needs 'previous_response_id' (a string) or 'state' (an object)");
  }
  const state = parseClientState(frame.state, limits, signer) ?? {};
  return previousResponseId !== undefined ? { ...state, previous_response_id: previousResponseId } : state;
}

/** A frame's top-level `previous_response_id`: only without state signing (the same rule as REST's). */
function bareResponseId(frame: JsonObject, signer: StateSigner | undefined): string | undefined {
  const id = parseRequest(optionalString, frame.previous_response_id, ["previous_response_id"]) ?? undefined;
  if (id !== undefined && signer !== undefined) throw new RequestError(400, UNSIGNED_ID_MESSAGE);
  return id;
}

function isCancel(reason: unknown): boolean {
  return reason instanceof AbortedError && reason.message === CANCELLED_MESSAGE;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.stack ?? err.message : String(err);
}
