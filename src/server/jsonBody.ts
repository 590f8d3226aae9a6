/**
 * Reads a request body as JSON whatever the Content-Type (clients forget the header, and we only accept JSON),
 * under three bounds a hostile client cannot get around:
 * - its size after decompression (limits.max_body_mb; 413): a 61 KB gzip can inflate to 60 MB;
 * - the bytes all unfinished bodies hold at once across the process (limits.max_pending_body_mb; 503):
 *   25 clients that each send most of a big body and never finish would otherwise pile up gigabytes;
 * - how long the body may take (limits.body_timeout_s; 408).
 */
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import zlib from "node:zlib";
import { RequestError } from "../errors";
import type { Handler } from "./handlers";
import { noteRefusal } from "./metrics";

export interface BodyLimits {
  maxBytes: number;
  timeoutMs: number;
  /** Shared by every route that reads a body in this process. */
  pending: PendingBodies;
}

/** The bytes held by bodies still being read, process-wide. */
export class PendingBodies {
  private held = 0;
  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.held;
  }

  /** Counts `n` more bytes; false (and nothing counted) when that would pass the bound. */
  take(n: number): boolean {
    if (this.held + n > this.maxBytes) return false;
    this.held += n;
    return true;
  }

  release(n: number): void {
    this.held -= n;
  }
}

const DECODERS: Record<string, (() => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress) | undefined> = {
  gzip: () => zlib.createGunzip(),
  "x-gzip": () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

export function jsonBody(limits: BodyLimits): Handler {
  return function jsonBody(req, res, next) {
    // An announced oversize body is refused before reading it (and the connection with it: the body is not read).
    if (Number(req.headers["content-length"]) > limits.maxBytes) {
      res.setHeader("Connection", "close");
      return next(tooLarge(limits.maxBytes));
    }
    readBody(req, limits).then(
      (text) => {
        let body: unknown;
        try {
          body = parseJson(text);
        } catch (err) {
          return next(err);
        }
        (req as RequestWithBody).body = body;
        next();
      },
      (err: unknown) => {
        // The rest of the body is not read: the connection cannot be reused for another request.
        if (err instanceof RequestError) res.setHeader("Connection", "close");
        if (err instanceof RequestError && err.status === 503) {
          res.setHeader("Retry-After", "1");
          noteRefusal(res, "limits"); // limits.max_pending_body_mb, not a busy run slot
        }
        next(err);
      },
    );
  };
}

type RequestWithBody = IncomingMessage & { body?: unknown };

/** The parsed body that jsonBody left on the request. */
export function bodyOf(req: IncomingMessage): unknown {
  return (req as RequestWithBody).body;
}

/** The body as UTF-8 text, decompressed; rejects with RequestError (400, 408, 413, 415, 503). */
function readBody(req: IncomingMessage, limits: BodyLimits): Promise<string> {
  const badCharset = charsetError(req.headers["content-type"]);
  if (badCharset) return Promise.reject(badCharset);
  const encoding = encodingOf(req.headers["content-encoding"]);
  const decoder = encoding === "identity" ? undefined : DECODERS[encoding];
  if (encoding !== "identity" && decoder === undefined) return Promise.reject(unsupportedEncoding(encoding));

  return new Promise((resolve, reject) => {
    const inflate = decoder?.();
    const source: Readable = inflate ? req.pipe(inflate) : req;
    const chunks: Buffer[] = [];
    let held = 0;
    let settled = false;
    const finish = (err?: unknown, text?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      limits.pending.release(held);
      source.off("data", onData);
      if (inflate) {
        req.unpipe(inflate);
        inflate.destroy();
      }
      if (err === undefined) resolve(text!);
      else {
        req.pause(); // read nothing more of a body we refused
        reject(err);
      }
    };
    const onData = (chunk: Buffer) => {
      if (held + chunk.length > limits.maxBytes) return finish(tooLarge(limits.maxBytes));
      if (!limits.pending.take(chunk.length)) {
        return finish(bodiesBusy());
      }
      held += chunk.length;
      chunks.push(chunk);
    };
    const timer = setTimeout(() => finish(bodyTimedOut(limits.timeoutMs)), limits.timeoutMs);
    source.on("data", onData);
    source.once("end", () => finish(undefined, decodeUtf8(chunks)));
    source.once("error", (err: Error) => finish(new RequestError(400, `Unreadable ${encoding} body: ${err.message}`)));
    // The client went away mid-body: nobody is left to answer, but the bytes it held are released.
    req.once("error", (err) => finish(new RequestError(400, `Request failed: ${err.message}`)));
    req.once("close", () => {
      if (!req.complete) finish(new RequestError(400, "Request aborted"));
    });
  });
}

/*
 * The helpers below are shared with the fetch handler's body reader (fetchBody.ts), so both answer alike.
 */

/** 415 when the Content-Type names a charset other than UTF-8; undefined when it is fine. */
export function charsetError(contentType: string | undefined): RequestError | undefined {
  const charset = charsetOf(contentType);
  return charset !== undefined && charset !== "UTF-8" && charset !== "UTF8" ? new RequestError(415, `unsupported charset "${charset}"`) : undefined;
}

/** The Content-Encoding, normalised ("identity" when none). */
export function encodingOf(header: string | undefined): string {
  return (header ?? "identity").trim().toLowerCase();
}

export function unsupportedEncoding(encoding: string): RequestError {
  return new RequestError(415, `unsupported content encoding "${encoding}"`);
}

export function bodiesBusy(): RequestError {
  return new RequestError(503, "Too many request bodies are being received at once; retry shortly");
}

export function bodyTimedOut(timeoutMs: number): RequestError {
  return new RequestError(408, `The request body took longer than ${timeoutMs / 1000} s to arrive (limits.body_timeout_s)`);
}

/** The body's declared charset, upper-cased; undefined when none is given (JSON is UTF-8). */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = contentType ? /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType) : null;
  return match ? match[1].toUpperCase() : undefined;
}

export function decodeUtf8(chunks: Buffer[]): string {
  const text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString("utf8");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** An empty body reads as `{}` so validation can say what is missing. */
export function parseJson(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, `Malformed JSON body: ${(err as Error).message}`);
  }
}

export function tooLarge(limitBytes: number): RequestError {
  return new RequestError(413, `Request body is too large (limit ${Math.round((limitBytes / (1024 * 1024)) * 10) / 10} MB)`);
}
