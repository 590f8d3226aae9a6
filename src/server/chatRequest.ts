/**
 * Validation of chat input at the edge, shared by POST /api/chat and WebSocket message frames.
 * Pure functions: they return clean values or throw RequestError with a message a client can act on.
 * `null` for an optional field means "absent" (Python clients send `"state": None`).
 */
import { RequestError } from "../errors";
import type { Project } from "../project/project";
import { parseAttachments } from "../runner/attachments";
import type { Attachment, ChatState } from "../runner/events";
import { resolveAgent } from "../runner/run";
import { parseState } from "../runner/state";
import type { ServerLimits } from "./limits";

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
export function parseChatRequest(body: unknown, project: Project, limits: ServerLimits): ChatRequest {
  if (!isPlainObject(body)) {
    throw new RequestError(400, 'Request body must be a JSON object such as {"message": "Hello"}');
  }
  const stream = body.stream ?? true;
  if (typeof stream !== "boolean") throw new RequestError(400, "'stream' must be true or false");
  return { ...parseTurnFields(body, project, limits), stream };
}

export interface TurnFields {
  message: string;
  agentName?: string;
  attachments: Attachment[];
  state?: ChatState;
}

/** The fields every chat turn has: message, attachments, agent_name, state. */
export function parseTurnFields(body: JsonObject, project: Project, limits: ServerLimits): TurnFields {
  const { message } = body;
  if (message === undefined || message === null) throw new RequestError(400, "'message' is required");
  if (typeof message !== "string") throw new RequestError(400, "'message' must be a string");
  const attachments = parseAttachments(body.attachments, limits.attachments);
  if (message.trim() === "" && attachments.length === 0) {
    throw new RequestError(400, "'message' must not be empty (or send at least one attachment)");
  }
  const agentName = parseAgentName(body.agent_name, project);
  // The runner's validator: also refuses system/developer items in a client-supplied history.
  const state = body.state === undefined || body.state === null ? undefined : parseState(body.state);
  return { message, attachments, agentName, state };
}

/** Validates `agent_name` against the project; unknown names get a 400 listing the agents. */
export function parseAgentName(raw: unknown, project: Project): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "string") throw new RequestError(400, "'agent_name' must be a string");
  return resolveAgent(project, raw).name;
}

