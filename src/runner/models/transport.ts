/**
 * The openai SDK's transport (its `fetch` option): upstream calls go through an undici dispatcher's
 * `request()` rather than Node's WHATWG `fetch`. The SDK still builds each request, retries (with
 * Retry-After), applies its timeout and turns statuses into typed errors; only the HTTP exchange is ours.
 *
 * Why: under JSON load the global fetch was most of a klisk server's CPU (bench/profile.js): WHATWG
 * Request/Response objects, body streams and AbortSignal plumbing around every call. `request()` is the
 * same HTTP client (undici is what Node's fetch is built on) without that wrapping, and its keep-alive pool
 * per upstream origin is bounded (`limits.upstream_connections`).
 *
 * The Response handed to the SDK is the part of one that the SDK and eventStream.ts read: ok, status,
 * statusText, url, headers (get/has/entries/forEach), body (an async iterable of bytes; the SDK cancels it
 * through its iterator's return()), json(), text(), arrayBuffer(). Aborting the request's signal (client
 * gone, run timeout) cancels the call and its body at once.
 *
 * Dispatcher: a ProxyAgent/EnvHttpProxyAgent/MockAgent (any dispatcher that is not a plain Agent) installed
 * with undici's setGlobalDispatcher before the first model call is used as is; otherwise HTTP(S)_PROXY and
 * NO_PROXY are honoured (EnvHttpProxyAgent); otherwise a keep-alive Agent. Timeouts are undici's defaults,
 * as with Node's fetch: 10 s to connect, 300 s for the headers and between body chunks.
 */
import type { Dispatcher } from "undici";

/** Connections per upstream origin (per process) when neither limit is configured. */
export const DEFAULT_UPSTREAM_CONNECTIONS = 1024;

const GLOBAL_DISPATCHER = Symbol.for("undici.globalDispatcher.1");

/** Ours, by connection bound and proxy settings. */
const dispatchers = new Map<string, Dispatcher>();

const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"];

/** The SDK's `fetch` for a pool of at most `connections` connections per origin (0: unbounded). */
export function upstreamFetch(connections: number): typeof fetch {
  const fetchUpstream = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = init.body;
    // The SDK only sends strings here (JSON bodies); anything else (a multipart upload) takes Node's fetch.
    if (input instanceof Request || (body != null && typeof body !== "string")) return fetch(input, init);
    const url = typeof input === "string" ? new URL(input) : input;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await dispatcherFor(connections).request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: (init.method ?? "GET") as Dispatcher.HttpMethod,
        headers: plainHeaders(init.headers),
        body: body ?? undefined,
        signal: init.signal ?? undefined,
      });
    } catch (err) {
      // Aborts pass through (the SDK tells a timeout from a cancel by them); other failures take fetch's
      // shape, so the SDK's connection-error and timeout detection, and resolve.ts's messages, see what
      // they saw with Node's fetch.
      if (init.signal?.aborted) throw err;
      throw new TypeError("fetch failed", { cause: err });
    }
    return new UpstreamResponse(url.href, answer) as unknown as Response;
  };
  return fetchUpstream as typeof fetch;
}

function dispatcherFor(connections: number): Dispatcher {
  const installed = (globalThis as Record<symbol, Dispatcher | undefined>)[GLOBAL_DISPATCHER];
  // A plain Agent there is Node's fetch's own default (or equivalent to ours): only a deliberate one wins.
  if (installed && installed.constructor?.name !== "Agent") return installed;
  // The proxy variables are read on every call (a few property reads), so a change applies to new calls.
  const proxy = PROXY_VARIABLES.map((name) => process.env[name] ?? "").join("\n");
  const key = `${connections}\n${proxy}`;
  let dispatcher = dispatchers.get(key);
  if (!dispatcher) {
    // Loaded on first use, like the SDK, so start-up does not pay for it.
    const undici = require("undici") as typeof import("undici");
    const options = { connections: connections > 0 ? connections : null };
    dispatcher = proxy.trim() ? new undici.EnvHttpProxyAgent(options) : new undici.Agent(options);
    dispatchers.set(key, dispatcher);
  }
  return dispatcher;
}

/** The SDK passes a Headers object; undici takes a plain one. */
function plainHeaders(headers: RequestInit["headers"]): Record<string, string> {
  const plain: Record<string, string> = {};
  if (!headers) return plain;
  if (headers instanceof Headers) {
    headers.forEach((value, name) => (plain[name] = value));
    return plain;
  }
  if (Array.isArray(headers)) {
    for (const [name, value] of headers) plain[name] = value;
    return plain;
  }
  return { ...(headers as Record<string, string>) };
}

class UpstreamHeaders {
  constructor(private readonly raw: Record<string, string | string[] | undefined>) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.raw)) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  forEach(callback: (value: string, name: string) => void): void {
    for (const [name, value] of this.entries()) callback(value, name);
  }
}

type BodyReadable = Dispatcher.ResponseData["body"];

/**
 * How long a body whose reader stopped early may take to end on its own. A reader stops at the event that
 * completes the answer, usually just before the body's last bytes: reading those keeps the connection in
 * the pool, where cancelling would close it (and the next call would connect, over TLS, again).
 */
const LINGER_MS = 250;

/** The body as an async iterable whose early return() lets the rest arrive briefly before closing. */
function lingeringBody(body: BodyReadable): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      const inner = body.iterator({ destroyOnReturn: false });
      return {
        next: () => inner.next(),
        async return(value?: unknown) {
          await inner.return?.(value);
          if (!body.readableEnded && !body.destroyed) {
            const timer = setTimeout(() => body.destroy(), LINGER_MS);
            timer.unref();
            body.once("close", () => clearTimeout(timer));
            body.on("error", () => {}); // an abort or a cut now concerns nobody
            body.resume();
          }
          return { done: true, value: undefined };
        },
      };
    },
  };
}

class UpstreamResponse {
  readonly status: number;
  readonly statusText = "";
  readonly headers: UpstreamHeaders;
  readonly body: AsyncIterable<Buffer>;
  private readonly readable: BodyReadable;

  constructor(
    readonly url: string,
    answer: Dispatcher.ResponseData,
  ) {
    this.status = answer.statusCode;
    this.headers = new UpstreamHeaders(answer.headers);
    this.readable = answer.body;
    this.body = lingeringBody(answer.body);
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  json(): Promise<unknown> {
    return this.readable.json();
  }

  text(): Promise<string> {
    return this.readable.text();
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.readable.arrayBuffer();
  }
}
