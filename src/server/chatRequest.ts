/**
 * Validation of chat input at the edge, shared by POST /api/chat, the fetch handler and WebSocket message
 * frames. The shapes (and the limits that a shape can say: message length, attachment count) are zod
 * schemas in requestSchemas.ts; this adds what needs the project, the attachments' bytes or the signing
 * secret. Pure functions: they return clean values or throw RequestError with a message a client can act on.
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
import { agentNameSchema, chatSchemas, parseRequest, stateObject, type ChatSchemas, type JsonObject } from "./requestSchemas";

export { isPlainObject, type JsonObject } from "./requestSchemas";

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

/** A turn's fields as the schema leaves them: the message and the attachment list checked, the rest not yet. */
type TurnShape = ReturnType<ChatSchemas["turn"]["parse"]>;

/** Parses the body of POST /api/chat. */
export function parseChatRequest(body: unknown, project: Project, limits: ServerLimits, signer?: StateSigner): ChatRequest {
  const shape = parseRequest(chatSchemas(limits).body, body);
  return { ...checkTurn(shape, project, limits, signer), stream: shape.stream ?? true };
}

/** The fields every chat turn has (a WebSocket message frame's): message, attachments, agent_name, state. */
export function parseTurnFields(body: JsonObject, project: Project, limits: ServerLimits, signer?: StateSigner): TurnFields {
  return checkTurn(parseRequest(chatSchemas(limits).turn, body), project, limits, signer);
}

/** What the schema cannot say: the attachments' contents, an empty turn, the agent, the state's size and signature. */
function checkTurn(shape: TurnShape, project: Project, limits: ServerLimits, signer: StateSigner | undefined): TurnFields {
  const { message } = shape;
  const attachments = parseAttachments(shape.attachments, limits.attachments);
  if (message.trim() === "" && attachments.length === 0) {
    throw new RequestError(400, "'message' must not be empty (or send at least one attachment)");
  }
  const agentName = parseAgentName(shape.agent_name, project);
  const state = parseClientState(shape.state, limits, signer);
  return { message, attachments, agentName, state };
}

/**
 * A state sent back by a client: at most limits.max_state_kb, signed by us when KLISK_STATE_SECRET is set
 * (an empty `{}` carries nothing and counts as a new conversation), then the runner's validator, which
 * also refuses system/developer items in the history. `null`/absent: a new conversation. Only its type is
 * checked before it is measured: nothing recursive sees it before its depth is known.
 */
export function parseClientState(raw: unknown, limits: ServerLimits, signer: StateSigner | undefined, where = "state"): ChatState | undefined {
  if (raw === undefined || raw === null) return undefined;
  const object = parseRequest(stateObject, raw, [where]);
  const { bytes, depth } = measureJson(object);
  if (bytes > limits.maxStateBytes) {
    throw new RequestError(413, `'${where}' is too large: ${Math.ceil(bytes / 1024)} KB (limit ${Math.floor(limits.maxStateBytes / 1024)} KB, limits.max_state_kb)`);
  }
  if (depth > MAX_STATE_DEPTH) throw new RequestError(400, `'${where}' is nested too deeply (more than ${MAX_STATE_DEPTH} levels)`);
  if (signer === undefined || Object.keys(object).length === 0) return parseState(object, where);
  return parseState(signer.verify(object), where);
}

/** Validates `agent_name` against the project; an unknown name is an UnknownAgentError listing the agents (400). */
export function parseAgentName(raw: unknown, project: Project): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  return resolveAgent(project, parseRequest(agentNameSchema, raw, ["agent_name"])).name;
}
