/**
 * The fetch handler's request body: read as JSON under the same bounds as jsonBody.ts (its size after
 * decompression, 413; the bytes all unfinished bodies hold at once, 503; how long it may take, 408), but
 * from a web Request's ReadableStream, so it works wherever a Request does (Next.js, Hono, Bun, Deno).
 * gzip and deflate are decoded with DecompressionStream; the messages are jsonBody.ts's own.
 */
import { RequestError } from "../errors";
import { bodiesBusy, bodyTimedOut, charsetError, decodeUtf8, encodingOf, parseJson, tooLarge, unsupportedEncoding, type BodyLimits } from "./jsonBody";

/** Content-Encoding → DecompressionStream format. No brotli: DecompressionStream does not decode it everywhere. */
const FORMATS: Record<string, "gzip" | "deflate" | undefined> = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate" };

/** The body parsed as JSON (an empty body reads as `{}`); rejects with RequestError (400, 408, 413, 415, 503). */
export async function readJsonBody(request: Request, limits: BodyLimits): Promise<unknown> {
  const refusal = refusalBeforeReading(request, limits.maxBytes);
  if (refusal) {
    // Read nothing of a body we refuse (the host may still drain it; that is its business).
    request.body?.cancel().catch(() => {});
    throw refusal;
  }
  return parseJson(await readText(request, limits));
}

function refusalBeforeReading(request: Request, maxBytes: number): RequestError | undefined {
  // An announced oversize body is refused before reading it.
  if (Number(request.headers.get("content-length")) > maxBytes) return tooLarge(maxBytes);
  const badCharset = charsetError(request.headers.get("content-type") ?? undefined);
  if (badCharset) return badCharset;
  const encoding = encodingOf(request.headers.get("content-encoding") ?? undefined);
  if (encoding !== "identity" && FORMATS[encoding] === undefined) return unsupportedEncoding(encoding);
  return undefined;
}

/** The body as UTF-8 text, decompressed, counting every byte against the size and the shared pending budget. */
async function readText(request: Request, limits: BodyLimits): Promise<string> {
  if (request.body === null) return "";
  const encoding = encodingOf(request.headers.get("content-encoding") ?? undefined);
  const format = FORMATS[encoding];
  const reader = (format ? request.body.pipeThrough(new DecompressionStream(format)) : request.body).getReader();
  const chunks: Buffer[] = [];
  let held = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  // Either ends the read early; both only ever reject while the loop below is waiting on them.
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(bodyTimedOut(limits.timeoutMs)), limits.timeoutMs);
    // The client went away mid-body: nobody is left to answer, but the bytes it held are released.
    onAbort = () => reject(new RequestError(400, "Request aborted"));
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener("abort", onAbort, { once: true });
  });
  stopped.catch(() => {}); // rejected after the loop has left (it never is, but never unhandled)
  try {
    for (;;) {
      const { done, value } = await Promise.race([readChunk(reader, format ? encoding : undefined), stopped]);
      if (done) return decodeUtf8(chunks);
      // The size after decompression is what is bounded: a 61 KB gzip can inflate to 60 MB.
      if (held + value.byteLength > limits.maxBytes) throw tooLarge(limits.maxBytes);
      if (!limits.pending.take(value.byteLength)) throw bodiesBusy();
      held += value.byteLength;
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  } catch (err) {
    reader.cancel().catch(() => {}); // read nothing more of a body we refused
    throw err;
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener("abort", onAbort!);
    limits.pending.release(held);
  }
}

/** One chunk; a failing read is the client's fault (a broken upload or compressed data), so a 400. */
async function readChunk(reader: ReadableStreamDefaultReader<Uint8Array>, encoding: string | undefined): ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> {
  try {
    return await reader.read();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new RequestError(400, encoding ? `Unreadable ${encoding} body: ${message}` : `Request failed: ${message}`);
  }
}
