const NO_NAMES: ReadonlySet<string> = new Set();

/**
 * Reads a streamed SDK call's raw body as JSON events. The SDK still builds the request, retries, and turns
 * HTTP errors into APIErrors; only the body is parsed here. Why not the SDK's own Stream: for every event it
 * copies its whole pending buffer (quadratic when a provider sends many events in one network chunk) and
 * passes through three nested async generators. On a 200-token answer that was the largest cost in a klisk
 * server's CPU profile (bench/profile.js); this reads each chunk once and yields each event once.
 */
import { ModelError } from "../../errors";

/** What `client.responses.create(...)` / `client.chat.completions.create(...)` return: an APIPromise. */
export interface RawResponseCall {
  asResponse(): Promise<Response>;
}

/**
 * The `data:` payloads of an SSE body, JSON-parsed, until `[DONE]` or the end of the body. Like the SDK's
 * Stream: a payload with an `error` member is a failure sent inside the stream, and a payload that is not
 * JSON throws the SyntaxError of JSON.parse.
 *
 * The body's Content-Type decides how it is read, not what was asked: a plain JSON answer (JSON mode asks
 * for one) comes out as the single event `asEvent` makes of it, and a server that streams whatever it was
 * asked is still read as a stream.
 */
export async function* jsonEvents(
  call: RawResponseCall,
  provider: string,
  asEvent: (answer: any) => any = (a) => a,
  ignored: ReadonlySet<string> = NO_NAMES,
): AsyncGenerator<any> {
  for await (const batch of jsonEventBatches(call, provider, asEvent, ignored)) yield* batch;
}

/**
 * jsonEvents, as the events of each network chunk together: a reader that loops over a batch spends one
 * async step per chunk rather than one per event (a provider often sends dozens of events in a chunk).
 * Events before a failure in the same chunk (malformed data, an error payload, `[DONE]`) still come out
 * first, as one batch, and then it throws or ends.
 *
 * `ignored`: event names (the `event:` field) whose data is not needed: never parsed, so they cost nothing.
 */
export async function* jsonEventBatches(
  call: RawResponseCall,
  provider: string,
  asEvent: (answer: any) => any = (a) => a,
  ignored: ReadonlySet<string> = NO_NAMES,
): AsyncGenerator<any[]> {
  const response = await call.asResponse();
  const contentType = response.headers.get("content-type") ?? "";
  if (contentType.includes("application/json")) {
    yield [asEvent(await response.json())];
    return;
  }
  if (!response.body) throw new ModelError(`${provider} answered a streamed request without a body`);
  const decoder = new TextDecoder();
  const parser = new SseParser(ignored);
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    const batch: any[] = [];
    let ended = false;
    let failure: unknown;
    for (const data of parser.push(decoder.decode(chunk, { stream: true }))) {
      if (data.startsWith("[DONE]")) {
        ended = true;
        break;
      }
      try {
        const event = JSON.parse(data);
        if (event?.error) throw new ModelError(`${provider} stream error: ${event.error.message ?? JSON.stringify(event.error)}`);
        batch.push(event);
      } catch (err) {
        failure = err;
        break;
      }
    }
    if (batch.length > 0) yield batch;
    if (failure !== undefined) throw failure;
    if (ended) return;
  }
}

/**
 * A text/event-stream parser (the WHATWG rules that matter here): lines end in \n or \r\n, a blank line
 * ends a message, `data:` lines of one message are joined with \n, comments (`:`) and other fields are
 * skipped. A message cut off by the end of the body is dropped, as the SDK does.
 *
 * Linear in the body: only new text is searched for line ends, and the pieces of a line that spans chunks
 * are joined once, when it ends. (Joining the pending text to each chunk and searching it again made a
 * 16 MB `response.completed` event, which carries the whole answer, cost seconds.)
 */
export class SseParser {
  /** The start of a line whose end has not arrived yet, in pieces. */
  private partial: string[] = [];
  private data: string | undefined;
  /** The current message's `event:` field is one of `ignored`: its data is dropped. */
  private skipping = false;

  /** `ignored`: event names whose messages are dropped (the Responses API names every event). */
  constructor(private readonly ignored: ReadonlySet<string> = NO_NAMES) {}

  /** Feeds decoded text; returns the data of every message it completed. */
  push(text: string): string[] {
    const messages: string[] = [];
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      let line = text.slice(start, end);
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = this.partial.join("");
        this.partial = [];
      }
      if (line.charCodeAt(line.length - 1) === 13 /* \r */) line = line.slice(0, -1);
      if (line === "") {
        if (this.data !== undefined && !this.skipping) messages.push(this.data);
        this.data = undefined;
        this.skipping = false;
      } else if (line.startsWith("event:")) {
        this.skipping = this.ignored.size > 0 && this.ignored.has(line.slice(line.charCodeAt(6) === 32 /* space */ ? 7 : 6));
      } else if (this.skipping) {
        // the data of an ignored event is not kept
      } else if (line.startsWith("data:")) {
        const value = line.slice(line.charCodeAt(5) === 32 /* space */ ? 6 : 5);
        this.data = this.data === undefined ? value : `${this.data}\n${value}`;
      }
      start = end + 1;
    }
    if (start < text.length) this.partial.push(text.slice(start));
    return messages;
  }
}
