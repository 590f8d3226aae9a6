/**
 * Signed conversation state (KLISK_STATE_SECRET). The state goes to the client and comes back; without a
 * signature a client could plant fake assistant turns or tool outputs in `conversation_history`. The
 * HMAC-SHA256 covers a canonical JSON (sorted keys, no whitespace), so any process holding the same secret
 * accepts it whatever key order the client's JSON library produced.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { RequestError } from "../errors";
import type { ChatState } from "../runner/events";

export const INVALID_STATE_MESSAGE = "Invalid state";
export const STATE_SECRET_ENV = "KLISK_STATE_SECRET";
/** Versioned so the scheme can change without accepting old signatures by accident. */
const PREFIX = "v1.";

export interface StateSigner {
  /** A copy of `state` with `signature` set. */
  sign(state: ChatState): ChatState;
  /** The client's state without its `signature`; throws RequestError(400, "Invalid state") unless it is ours, unmodified. */
  verify(raw: Record<string, unknown>): Record<string, unknown>;
}

/** The start-up warning when states travel unsigned, with the command that makes a secret. */
export const UNSIGNED_STATE_WARNING =
  `${STATE_SECRET_ENV} is not set: clients can edit the conversation state they send back. Set it in .env to sign states; ` +
  "make one with: openssl rand -hex 32";

/** A signer for `secret`, or undefined when there is none (states then travel unsigned). */
export function stateSigner(secret: string | undefined = process.env[STATE_SECRET_ENV]): StateSigner | undefined {
  if (secret === undefined || secret === "") return undefined;
  const mac = (body: Record<string, unknown>) => PREFIX + createHmac("sha256", secret).update(canonicalJson(body)).digest("base64url");
  return {
    sign(state) {
      const { signature: _old, ...body } = state as ChatState & { signature?: unknown };
      return { ...body, signature: mac(body) } as ChatState;
    },
    verify(raw) {
      const { signature, ...body } = raw;
      if (typeof signature !== "string" || !sameText(signature, mac(body))) throw new RequestError(400, INVALID_STATE_MESSAGE);
      return body;
    },
  };
}

/**
 * JSON with object keys sorted at every level; `undefined` members are left out, as JSON.stringify does.
 * Linear: pieces go into one list joined once (joining at every level re-copied the inner text per level).
 * Recursive, so callers bound the depth first (the server refuses states over MAX_STATE_DEPTH).
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  writeCanonical(value, out);
  return out.join("");
}

function writeCanonical(value: unknown, out: string[]): void {
  if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      if (item === undefined) out.push("null");
      else writeCanonical(item, out);
    });
    out.push("]");
  } else if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
    out.push("{");
    keys.forEach((key, i) => {
      out.push(i > 0 ? "," : "", JSON.stringify(key), ":");
      writeCanonical(record[key], out);
    });
    out.push("}");
  } else {
    out.push(JSON.stringify(value) ?? "null");
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
