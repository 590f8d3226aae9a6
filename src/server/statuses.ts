/**
 * The one place where errors become HTTP statuses. The runner and the project know no HTTP: their errors
 * carry a KliskError code, and this table says what a client is told. A RequestError was made at this edge
 * and carries its own status.
 */
import { KliskError, RequestError } from "../errors";

const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  /** The client named an agent the project does not have. */
  unknown_agent: 400,
  /** The model provider failed (or the run timed out waiting on it): a bad gateway, not our bug. */
  model_error: 502,
  /** Cancelled, client gone, shutting down: come back later. */
  aborted: 503,
  tool_error: 500,
  max_turns: 500,
  internal: 500,
};

/** The status for a run's error event code (JSON mode). */
export function statusOfCode(code: string): number {
  return STATUS_OF_CODE[code] ?? 500;
}

/** What a client is told about an error thrown while handling its request: status and a message safe to show. */
export function describeForClient(err: unknown): { status: number; message: string } {
  if (err instanceof RequestError) return { status: err.status, message: err.message };
  if (err instanceof KliskError && err.code in STATUS_OF_CODE && STATUS_OF_CODE[err.code] < 500) {
    return { status: STATUS_OF_CODE[err.code], message: err.message };
  }
  // http-errors from Express and its parsers (a malformed URL, say) that are safe to show the client.
  const e = err as { status?: unknown; expose?: boolean; message?: string };
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500 && e.expose) return { status: e.status, message: String(e.message) };
  return { status: 500, message: "Internal server error" };
}
