/**
 * Validation of chat input at the edge, shared by POST /api/chat and WebSocket message frames.
 * Pure functions: they return clean values or throw RequestError with a message a client can act on.
 * `null` for an optional field means "absent" (Python clients send `"state": None`).
 */
import { RequestError } from "../errors";
import type { Project } from "../project/project";
import { parseAttachments } from "./attachments";
import type { Attachment, ChatState } from "../runner/events";
import { resolveAgent } from "../runner/run";
import { parseState } from "./clientState";
import type { StateSigner } from "./stateSigning";
import type { ServerLimits } from "./limits";
import { measureJson } from "./measureJson";

/**
 * Deepest `state` accepted (klisk's own states nest about 6 deep). Checked before anything recursive (signature,
 * validation) runs: a 10 KB state nested 5,000 deep would otherwise overflow the stack.
 */
export const MAX_STATE_DEPTH = 64;

export interface ChatRequest {
  message: string;
  stream: boolean;
  state?: ChatState;
  agentName?: string;
  attachments: Attachment[];
}

export type JsonObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses the body of POST /api/chat. */
export function parseChatRequest(body: unknown, project: Project, limits: ServerLimits, signer?: StateSigner): ChatRequest {
  if (!isPlainObject(body)) {
    throw new RequestError(400, 'Request body must be a JSON object such as {"message": "Hello"}');
  }
  const stream = body.stream ?? true;
  if (typeof stream !== "boolean") throw new RequestError(400, "'stream' must be true or false");
  return { ...parseTurnFields(body, project, limits, signer), stream };
}

export interface TurnFields {
  message: string;
  agentName?: string;
  attachments: Attachment[];
  state?: ChatState;
}

/** The fields every chat turn has: message, attachments, agent_name, state. */
export function parseTurnFields(body: JsonObject, project: Project, limits: ServerLimits, signer?: StateSigner): TurnFields {
  const { message } = body;
  if (message === undefined || message === null) throw new RequestError(400, "'message' is required");
  if (typeof message !== "string") throw new RequestError(400, "'message' must be a string");
  if (message.length > limits.maxMessageChars) {
    throw new RequestError(413, `'message' is too long: ${message.length} characters (limit ${limits.maxMessageChars}, limits.max_message_chars)`);
  }
  const attachments = parseAttachments(body.attachments, limits.attachments);
  if (message.trim() === "" && attachments.length === 0) {
    throw new RequestError(400, "'message' must not be empty (or send at least one attachment)");
  }
  const agentName = parseAgentName(body.agent_name, project);
  const state = parseClientState(body.state, limits, signer);
  return { message, attachments, agentName, state };
}

/**
 * A state sent back by a client: at most limits.max_state_kb, signed by us when KLISK_STATE_SECRET is set
 * (an empty `{}` carries nothing and counts as a new conversation), then the runner's validator, which
 * also refuses system/developer items in the history. `null`/absent: a new conversation.
 */
export function parseClientState(raw: unknown, limits: ServerLimits, signer: StateSigner | undefined, where = "state"): ChatState | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isPlainObject(raw)) throw new RequestError(400, `'${where}' must be an object`);
  const { bytes, depth } = measureJson(raw);
  if (bytes > limits.maxStateBytes) {
    throw new RequestError(413, `'${where}' is too large: ${Math.ceil(bytes / 1024)} KB (limit ${Math.floor(limits.maxStateBytes / 1024)} KB, limits.max_state_kb)`);
  }
  if (depth > MAX_STATE_DEPTH) throw new RequestError(400, `'${where}' is nested too deeply (more than ${MAX_STATE_DEPTH} levels)`);
  if (signer === undefined || Object.keys(raw).length === 0) return parseState(raw, where);
  return parseState(signer.verify(raw), where);
}

/** Validates `agent_name` against the project; unknown names get a 400 listing the agents. */
export function parseAgentName(raw: unknown, project: Project): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "string") throw new RequestError(400, "'agent_name' must be a string");
  return resolveAgent(project, raw).name;
}

