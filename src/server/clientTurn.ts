/**
 * A chat turn as the protocol adapters (AI SDK, AG-UI, OpenAI-compatible) receive it: the newest user
 * message (its text and files), and the conversation so far either as klisk's own state (which the client
 * carries back, signed when KLISK_STATE_SECRET is set) or as the earlier turns the client keeps itself.
 * Everything then goes through the checks POST /api/chat makes (chatRequest.ts): message and attachment
 * limits, agent_name, the state's size, shape and signature.
 */
import { RequestError } from "../errors";
import { parseTurnFields, type TurnFields } from "./chatRequest";
import type { ServerContext } from "./context";

/** An earlier turn as the client keeps it: only user and assistant text carry over. */
export interface EarlierMessage {
  role: "user" | "assistant";
  text: string;
}

/** A file of the newest message, as /api/chat's attachments are sent: `data` is base64 or a `data:` URL. */
export interface ClientFile {
  mime_type: string;
  data: string;
  name?: string;
}

export interface ClientTurn {
  text: string;
  files?: readonly ClientFile[];
  agentName?: unknown;
  /** klisk's state as the client got it from the previous answer; wins over `earlier`. */
  state?: unknown;
  /** The earlier turns, for a client that sends the whole conversation and no state. */
  earlier?: readonly EarlierMessage[];
}

/**
 * Validates a turn. `signedHistory: false` (OpenAI's Chat Completions, whose clients own the transcript
 * and have nowhere to keep a signature) accepts earlier turns unsigned even with KLISK_STATE_SECRET set;
 * they can only hold user and assistant text, nothing a user could not type.
 */
export function parseClientTurn(turn: ClientTurn, { project, limits, signer }: ServerContext, { signedHistory = true } = {}): TurnFields {
  let state = turn.state ?? undefined;
  if (state === undefined && turn.earlier && turn.earlier.length > 0) {
    if (signer && signedHistory) {
      throw new RequestError(400, "Invalid state: with KLISK_STATE_SECRET set, earlier turns are only accepted as the signed klisk state of the previous answer");
    }
    state = stateFromTranscript(turn.earlier);
  }
  const body = { message: turn.text, attachments: turn.files ?? null, agent_name: turn.agentName, state };
  return parseTurnFields(body, project, limits, signedHistory ? signer : undefined);
}

/** Earlier turns as a klisk state, so they are validated and bounded like any returned state. */
function stateFromTranscript(earlier: readonly EarlierMessage[]) {
  return { conversation_history: earlier.filter((m) => m.text !== "").map((m) => ({ role: m.role, content: m.text })) };
}

/** `{...}` or `[...]` text as JSON, anything else as the string it is (tool outputs are strings). */
export function jsonOrText(text: string): unknown {
  const first = text.trimStart()[0];
  if (first !== "{" && first !== "[") return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A tool call's arguments as the object they spell; the raw text when the model wrote broken JSON. */
export function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args === "" ? "{}" : args);
  } catch {
    return args;
  }
}

/** A data: URL's MIME type, or undefined for anything else (klisk never fetches remote files). */
export function dataUrlMime(url: string): string | undefined {
  const match = /^data:([^;,]+)[;,]/i.exec(url);
  return match ? match[1] : undefined;
}
