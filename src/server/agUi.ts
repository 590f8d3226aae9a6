/**
 * POST /api/ag-ui: the AG-UI protocol (1.0), so CopilotKit and other AG-UI clients (`HttpAgent`) run a
 * klisk agent. The request is a `RunAgentInput`; the answer is SSE `data: <event>` frames from RUN_STARTED
 * to RUN_FINISHED (or RUN_ERROR). klisk's state is the AG-UI state: STATE_SNAPSHOT hands the new one to the
 * client, which sends it back as `state` on the next run. `forwardedProps.agent_name` picks the agent.
 */
import { z } from "zod";
import { RequestError } from "../errors";
import { codeOfError, type ChatEvent } from "../runner/events";
import { streamRun, withRun } from "./chat";
import { parseClientTurn, type ClientFile, type EarlierMessage } from "./clientTurn";
import type { ServerContext } from "./context";
import type { Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { isPlainObject, parseRequest } from "./requestSchemas";
import { textFrames, type SseEncoder } from "./sse";
import { newId } from "./ids";

/** The AG-UI protocol version these events follow. */
export const AG_UI_PROTOCOL_VERSION = "1.0";

const message = z.looseObject(
  {
    role: z.string({ error: "must be a string" }),
    content: z.union([z.string(), z.array(z.looseObject({ type: z.string({ error: "must be a string" }) }))], { error: "must be a string or an array of parts" }).nullish(),
  },
  { error: "must be a message {id, role, content}" },
);
/** The request body (also what GET /openapi.json describes). */
export const agUiInputSchema = z.looseObject(
  {
    threadId: z.string({ error: "must be a string" }),
    runId: z.string({ error: "must be a string" }),
    messages: z.array(message, { error: "must be an array of messages" }).min(1, { error: "must hold at least the user's message" }),
    state: z.unknown().optional(),
    forwardedProps: z.looseObject({ agent_name: z.unknown().optional() }, { error: "must be an object" }).nullish(),
  },
  { error: "Request body must be an AG-UI RunAgentInput {threadId, runId, messages, state, forwardedProps}" },
);
const textPart = z.object({ type: z.literal("text"), text: z.string({ error: "must be a string" }) });
const mediaPart = z.object({
  type: z.enum(["image", "document"]),
  source: z.object({ type: z.literal("data", { error: 'must be an inline {type: "data"} source (klisk does not fetch files)' }), value: z.string(), mimeType: z.string() }, { error: "must be a source object" }),
});

type Message = z.output<typeof message>;

export function agUiRoute(context: ServerContext): Handler {
  return async function agUi(req, res) {
    const input = parseRequest(agUiInputSchema, bodyOf(req));
    const turn = parseClientTurn(agUiTurn(input), context);
    await withRun(context, res, { ...turn, stream: true }, "ag-ui", (run) => streamRun(context, res, run, agUiEncoder(input.threadId, input.runId)));
  };
}

function agUiTurn({ messages, state, forwardedProps }: z.output<typeof agUiInputSchema>) {
  const lastIndex = messages.length - 1;
  const last = messages[lastIndex];
  if (last.role !== "user") throw new RequestError(400, `'messages' must end with the user's message (the last one has role '${last.role}')`);
  const earlier: EarlierMessage[] = [];
  messages.slice(0, lastIndex).forEach((m, i) => {
    if (m.role === "system" || m.role === "developer") {
      throw new RequestError(400, `messages[${i}]: ${m.role} messages are not accepted; the agent's instructions are set on the server`);
    }
    if (m.role === "user" || m.role === "assistant") earlier.push({ role: m.role, text: typeof m.content === "string" ? m.content : userContent(m, i).text });
  });
  // An empty state (what a new HttpAgent holds) is no state: the earlier messages, if any, speak instead.
  const kliskState = isPlainObject(state) && Object.keys(state).length === 0 ? undefined : state;
  return { ...userContent(last, lastIndex), agentName: forwardedProps?.agent_name, state: kliskState ?? undefined, earlier };
}

function userContent(m: Message, i: number): { text: string; files: ClientFile[] } {
  if (typeof m.content !== "object" || m.content === null) return { text: m.content ?? "", files: [] };
  const texts: string[] = [];
  const files: ClientFile[] = [];
  m.content.forEach((p, j) => {
    const at = ["messages", i, "content", j];
    if (p.type === "text") texts.push(parseRequest(textPart, p, at).text);
    else if (p.type === "image" || p.type === "document") {
      const { source } = parseRequest(mediaPart, p, at);
      files.push({ mime_type: source.mimeType, data: source.value });
    } else throw new RequestError(400, `messages[${i}].content[${j}]: unsupported part '${p.type}' (text, image and document are)`);
  });
  return { text: texts.join("\n"), files };
}

/**
 * runChat's events as AG-UI events: RUN_STARTED; TEXT_MESSAGE_START/CONTENT/END for text; REASONING_START,
 * REASONING_MESSAGE_START/CONTENT/END, REASONING_END for thinking; TOOL_CALL_START/ARGS/END and
 * TOOL_CALL_RESULT for each tool call; CUSTOM `klisk.handoff`; STATE_SNAPSHOT (klisk's new state) and
 * RUN_FINISHED, or RUN_ERROR.
 */
export function agUiEncoder(threadId: string, runId: string): SseEncoder {
  let started = false;
  let textId: string | undefined;
  let textContent: ((delta: string) => string) | undefined;
  let reasoningId: string | undefined;
  const frame = (event: object) => `data: ${JSON.stringify(event)}\n\n`;
  const close = (): string => {
    let out = "";
    if (textId !== undefined) out += frame({ type: "TEXT_MESSAGE_END", messageId: textId });
    if (reasoningId !== undefined) out += frame({ type: "REASONING_MESSAGE_END", messageId: reasoningId }) + frame({ type: "REASONING_END", messageId: reasoningId });
    textId = reasoningId = undefined;
    return out;
  };
  return {
    event(event: ChatEvent): string {
      let out = "";
      if (!started) {
        started = true;
        out += frame({ type: "RUN_STARTED", threadId, runId, protocolVersion: AG_UI_PROTOCOL_VERSION });
      }
      switch (event.type) {
        case "token":
          if (event.data === "") return out;
          if (reasoningId !== undefined) out += close();
          if (textId === undefined) {
            const messageId = (textId = newId("msg_"));
            out += frame({ type: "TEXT_MESSAGE_START", messageId, role: "assistant" });
            // Serialised around the text once per message (see textFrames).
            textContent = textFrames((delta) => ({ type: "TEXT_MESSAGE_CONTENT", messageId, delta }));
          }
          return out + textContent!(event.data);
        case "thinking":
          if (event.data === "") return out;
          if (textId !== undefined) out += close();
          if (reasoningId === undefined) {
            reasoningId = newId("reasoning_");
            out += frame({ type: "REASONING_START", messageId: reasoningId }) + frame({ type: "REASONING_MESSAGE_START", messageId: reasoningId, role: "reasoning" });
          }
          return out + frame({ type: "REASONING_MESSAGE_CONTENT", messageId: reasoningId, delta: event.data });
        case "tool_call": {
          const { call_id: toolCallId } = event.data;
          out += close() + frame({ type: "TOOL_CALL_START", toolCallId, toolCallName: event.data.tool });
          if (event.data.arguments !== "") out += frame({ type: "TOOL_CALL_ARGS", toolCallId, delta: event.data.arguments });
          return out + frame({ type: "TOOL_CALL_END", toolCallId });
        }
        case "tool_result":
          return out + frame({ type: "TOOL_CALL_RESULT", messageId: newId("tool_"), toolCallId: event.data.call_id, content: event.data.output, role: "tool" });
        case "handoff":
          return out + close() + frame({ type: "CUSTOM", name: "klisk.handoff", value: event.data });
        case "done":
          return out + close() + frame({ type: "STATE_SNAPSHOT", snapshot: event.state }) + frame({ type: "RUN_FINISHED", threadId, runId });
        case "error":
          return out + close() + frame({ type: "RUN_ERROR", message: event.data, code: codeOfError(event) });
      }
    },
    // AG-UI streams end with RUN_FINISHED or RUN_ERROR; there is no [DONE].
    end: () => "",
  };
}
