/**
 * Validation of chat input at the edge, shared by POST /api/chat, the fetch handler and WebSocket message
 * frames. The shapes are zod schemas (requestSchemas.ts); this adds what needs the project, the limits or
 * the signing secret. Pure functions: they return clean values or throw RequestError with a message a
 * client can act on.
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
import { chatBodySchema, parseRequest, turnSchema, type JsonObject } from "./requestSchemas";

/**
 * Deepest `state` accepted (klisk's own states nest about 6 deep). Checked before anything recursive (signature,
 * validation) runs: a 10 KB state nested 5,000 deep would otherwise overflow the stack.
 */
export const MAX_STATE_DEPTH = 64;

export interface ChatRequest extends TurnFields {
  stream: boolean;
}

export interface TurnFields {
  message: string;
  agentName?: string;
  attachments: Attachment[];
  state?: ChatState;
}

/** The fields as the schema leaves them: types checked, limits not yet. */
type TurnShape = ReturnType<typeof turnSchema.parse>;

/** Parses the body of POST /api/chat. */
export function parseChatRequest(body: unknown, project: Project, limits: ServerLimits, signer?: StateSigner): ChatRequest {
  const shape = parseRequest(chatBodySchema, body);
  return { ...checkTurn(shape, project, limits, signer), stream: shape.stream ?? true };
}

/** The fields of a WebSocket message frame: message, attachments, agent_name, state. */
export function parseTurnFields(frame: JsonObject, project: Project, limits: ServerLimits, signer?: StateSigner): TurnFields {
  return checkTurn(parseRequest(turnSchema, frame), project, limits, signer);
}

/** What the shape cannot say: the message's length, the attachments' contents, the agent, the state's size and signature. */
function checkTurn(shape: TurnShape, project: Project, limits: ServerLimits, signer: StateSigner | undefined): TurnFields {
  const { message } = shape;
  if (message.length > limits.maxMessageChars) {
    throw new RequestError(413, `'message' is too long: ${message.length} characters (limit ${limits.maxMessageChars}, limits.max_message_chars)`);
  }
  const attachments = parseAttachments(shape.attachments ?? [], limits.attachments);
  if (message.trim() === "" && attachments.length === 0) {
    throw new RequestError(400, "'message' must not be empty (or send at least one attachment)");
  }
  // An unknown name is an UnknownAgentError listing the agents (400, statuses.ts).
  const agentName = shape.agent_name == null ? undefined : resolveAgent(project, shape.agent_name).name;
  const state = parseClientState(shape.state, limits, signer);
  return { message, attachments, agentName, state };
}

/**
 * A state sent back by a client (an object, or absent: a new conversation): at most limits.max_state_kb,
 * signed by us when KLISK_STATE_SECRET is set (an empty `{}` carries nothing and counts as a new
 * conversation), then the runner's validator, which also refuses system/developer items in the history.
 */
export function parseClientState(raw: JsonObject | null | undefined, limits: ServerLimits, signer: StateSigner | undefined, where = "state"): ChatState | undefined {
  if (raw === undefined || raw === null) return undefined;
  const { bytes, depth } = measureJson(raw);
  if (bytes > limits.maxStateBytes) {
    throw new RequestError(413, `'${where}' is too large: ${Math.ceil(bytes / 1024)} KB (limit ${Math.floor(limits.maxStateBytes / 1024)} KB, limits.max_state_kb)`);
  }
  if (depth > MAX_STATE_DEPTH) throw new RequestError(400, `'${where}' is nested too deeply (more than ${MAX_STATE_DEPTH} levels)`);
  if (signer === undefined || Object.keys(raw).length === 0) return parseState(raw, where);
  return parseState(signer.verify(raw), where);
}
