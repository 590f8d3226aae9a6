/**
 * Requests Node's HTTP parser refuses before any route sees them (bad header bytes, request smuggling, a
 * header block or URL past the 16 KB limit, a request too slow to arrive) get a JSON `{error}` like every
 * other error, where Node's default answers with an empty body.
 */
import type { Duplex } from "node:stream";

type ParserError = NodeJS.ErrnoException & { rawPacket?: Buffer };

/** The longest request line (method, URL, version) we call a header problem rather than a URL problem. */
const LONG_REQUEST_LINE = 8 * 1024;

export function answerClientError(err: ParserError, socket: Duplex): void {
  // Nothing to answer: the client is gone, or a response on this socket has started (pipelining).
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, reason, message] = describe(err);
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A client that does not read the answer must not keep the socket open.
  setTimeout(() => socket.destroy(), 1000).unref();
}

function describe(err: ParserError): [number, string, string] {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return longRequestLine(err.rawPacket)
        ? [414, "URI Too Long", "Request URL is too long"]
        : [431, "Request Header Fields Too Large", "Request headers are too large"];
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, "Request Timeout", "The request took too long to arrive"];
    default:
      return [400, "Bad Request", `Malformed HTTP request${err.code ? ` (${err.code})` : ""}`];
  }
}

/** True when the packet that overflowed starts a request line that runs on past LONG_REQUEST_LINE bytes. */
function longRequestLine(packet: Buffer | undefined): boolean {
  if (!packet || !/^[A-Z]+ /.test(packet.subarray(0, 16).toString("latin1"))) return false;
  const end = packet.indexOf("\r\n");
  return end === -1 ? packet.length > LONG_REQUEST_LINE : end > LONG_REQUEST_LINE;
}
