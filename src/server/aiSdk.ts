/**
 * POST /api/ai-sdk: the Vercel AI SDK's UI message stream protocol (v1), so `useChat` with a
 * `DefaultChatTransport` talks to a klisk agent. The request is what the transport sends ({id, messages,
 * trigger, messageId} plus its `body`: agent_name, state); the answer is SSE `data: <chunk>` frames with the
 * `x-vercel-ai-ui-message-stream: v1` header, ending with `data: [DONE]`. klisk's state travels as a
 * `data-klisk-state` part of the assistant message, so the next request carries it back by itself.
 */
import { z } from "zod";
import { RequestError } from "../errors";
import type { ChatEvent } from "../runner/events";
import type { Project } from "../project/project";
import { streamRun, withRun } from "./chat";
import { dataUrlMime, jsonOrText, parseArguments, parseClientTurn, type ClientFile, type EarlierMessage } from "./clientTurn";
import type { ServerContext } from "./context";
import type { Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { parseRequest } from "./requestSchemas";
import { textFrames, type SseEncoder } from "./sse";
import { newId } from "./ids";

export const STATE_PART = "data-klisk-state";
export const HANDOFF_PART = "data-klisk-handoff";

const part = z.looseObject({ type: z.string({ error: "must be a string" }) }, { error: "must be an object with a type" });
const uiMessage = z.looseObject(
  {
    role: z.enum(["system", "user", "assistant"], { error: 'must be "user", "assistant" or "system"' }),
    parts: z.array(part, { error: "must be an array of parts" }),
  },
  { error: "must be a UI message {id, role, parts}" },
);
/** The request body (also what GET /openapi.json describes). */
export const aiSdkRequestSchema = z.looseObject(
  {
    messages: z.array(uiMessage, { error: "must be an array of UI messages" }).min(1, { error: "must hold at least the user's message" }),
    agent_name: z.unknown().optional(),
    state: z.unknown().optional(),
  },
  { error: 'Request body must be a JSON object such as {"messages": [{"role": "user", "parts": [{"type": "text", "text": "Hello"}]}]}' },
);
const textPart = z.object({ type: z.literal("text"), text: z.string({ error: "must be a string" }) });
const filePart = z.object({
  type: z.literal("file"),
  mediaType: z.string({ error: "must be a string" }),
  url: z.string({ error: "must be a data: URL" }),
  filename: z.string().nullish(),
});

type UIMessage = z.output<typeof uiMessage>;

export function aiSdkRoute(context: ServerContext): Handler {
  const hosted = hostedToolNames(context.project);
  return async function aiSdk(req, res) {
    const turn = parseClientTurn(aiSdkTurn(bodyOf(req)), context);
    await withRun(context, res, { ...turn, stream: true }, "ai-sdk", (run) => streamRun(context, res, run, aiSdkEncoder(hosted)));
  };
}

/** The newest user message as the turn; the state from the body, else from the last answer's data-klisk-state part. */
function aiSdkTurn(body: unknown) {
  const { messages, agent_name, state } = parseRequest(aiSdkRequestSchema, body);
  const lastIndex = messages.length - 1;
  const last = messages[lastIndex];
  if (last.role !== "user") throw new RequestError(400, `'messages' must end with the user's message (the last one has role '${last.role}')`);
  const earlierMessages = messages.slice(0, lastIndex);
  const system = earlierMessages.findIndex((m) => m.role === "system");
  if (system !== -1) throw new RequestError(400, `messages[${system}]: system messages are not accepted; the agent's instructions are set on the server`);
  const { text, files } = userContent(last, lastIndex);
  return {
    text,
    files,
    agentName: agent_name,
    state: state ?? lastState(earlierMessages),
    earlier: earlierMessages.map((m): EarlierMessage => ({ role: m.role as EarlierMessage["role"], text: textOf(m) })),
  };
}

function userContent(message: UIMessage, index: number): { text: string; files: ClientFile[] } {
  const texts: string[] = [];
  const files: ClientFile[] = [];
  message.parts.forEach((p, j) => {
    const at = ["messages", index, "parts", j];
    if (p.type === "text") texts.push(parseRequest(textPart, p, at).text);
    else if (p.type === "file") {
      const file = parseRequest(filePart, p, at);
      if (dataUrlMime(file.url) === undefined) throw new RequestError(400, `messages[${index}].parts[${j}].url must be a data: URL (klisk does not fetch files)`);
      files.push({ mime_type: file.mediaType, data: file.url, name: file.filename ?? undefined });
    }
    // Other parts (an app's own data-* parts, sources) are the UI's; the model never saw them.
  });
  return { text: texts.join("\n"), files };
}

function textOf(message: UIMessage): string {
  return message.parts.flatMap((p) => (p.type === "text" && typeof p.text === "string" ? [p.text] : [])).join("\n");
}

/** The klisk state the newest answer carried, if any. */
function lastState(messages: readonly UIMessage[]): unknown {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role !== "assistant") continue;
    const statePart = messages[i].parts.findLast((p) => p.type === STATE_PART);
    if (statePart) return statePart.data;
  }
  return undefined;
}

/** Hosted tools run at the provider: their parts say `providerExecuted: true`. */
export function hostedToolNames(project: Project): ReadonlySet<string> {
  return new Set(project.agents.flatMap((agent) => agent.builtinTools));
}

/**
 * runChat's events as UI message chunks: one assistant message (`start`), a step per model call
 * (`start-step`/`finish-step`; tool results end one), text and reasoning as start/delta/end runs, each tool
 * call as `tool-input-available` then `tool-output-available` (or `tool-output-error` when the run fails
 * before it answered), `data-klisk-handoff`, then `data-klisk-state` and `finish`, or `error`.
 */
export function aiSdkEncoder(hostedTools: ReadonlySet<string>): SseEncoder {
  let started = false;
  let inStep = false;
  let toolsAnswered = false;
  let parts = 0;
  let textId: string | undefined;
  let textDelta: ((delta: string) => string) | undefined;
  let reasoningId: string | undefined;
  const pending = new Map<string, boolean>();
  const chunk = (value: object) => `data: ${JSON.stringify(value)}\n\n`;

  const closeRuns = (): string => {
    let out = "";
    if (textId !== undefined) out += chunk({ type: "text-end", id: textId });
    if (reasoningId !== undefined) out += chunk({ type: "reasoning-end", id: reasoningId });
    textId = reasoningId = undefined;
    return out;
  };
  const endStep = (): string => {
    if (!inStep) return "";
    inStep = false;
    return closeRuns() + chunk({ type: "finish-step" });
  };

  return {
    headers: { "x-vercel-ai-ui-message-stream": "v1" },
    event(event: ChatEvent): string {
      let out = "";
      if (!started) {
        started = true;
        out += chunk({ type: "start", messageId: newId("msg_") });
      }
      // Tool results (and a hand-off) close a step: what follows comes from the next model call.
      if (toolsAnswered && event.type !== "tool_result" && event.type !== "handoff") {
        toolsAnswered = false;
        out += endStep();
      }
      if (!inStep && event.type !== "error") {
        inStep = true;
        out += chunk({ type: "start-step" });
      }
      switch (event.type) {
        case "token":
          if (reasoningId !== undefined) out += closeRuns();
          if (textId === undefined) {
            const id = (textId = `text-${++parts}`);
            out += chunk({ type: "text-start", id });
            // Serialised around the text once per text part (see textFrames).
            textDelta = textFrames((delta) => ({ type: "text-delta", id, delta }));
          }
          return out + textDelta!(event.data);
        case "thinking":
          if (textId !== undefined) out += closeRuns();
          if (reasoningId === undefined) out += chunk({ type: "reasoning-start", id: (reasoningId = `reasoning-${++parts}`) });
          return out + chunk({ type: "reasoning-delta", id: reasoningId, delta: event.data });
        case "tool_call": {
          const { tool, call_id: toolCallId } = event.data;
          const providerExecuted = hostedTools.has(tool);
          pending.set(toolCallId, providerExecuted);
          const input = parseArguments(event.data.arguments);
          return out + closeRuns() + chunk({ type: "tool-input-available", toolCallId, toolName: tool, input, ...(providerExecuted ? { providerExecuted } : {}) });
        }
        case "tool_result": {
          const { call_id: toolCallId } = event.data;
          const providerExecuted = pending.get(toolCallId) === true;
          pending.delete(toolCallId);
          toolsAnswered = true;
          return out + chunk({ type: "tool-output-available", toolCallId, output: jsonOrText(event.data.output), ...(providerExecuted ? { providerExecuted } : {}) });
        }
        case "handoff":
          toolsAnswered = true;
          return out + chunk({ type: HANDOFF_PART, data: event.data });
        case "done":
          return out + endStep() + chunk({ type: STATE_PART, data: event.state }) + chunk({ type: "finish", finishReason: "stop" });
        case "error": {
          // Calls the run never answered failed with it (a tool that threw ends the run).
          for (const [toolCallId, providerExecuted] of pending) {
            out += chunk({ type: "tool-output-error", toolCallId, errorText: event.data, ...(providerExecuted ? { providerExecuted } : {}) });
          }
          pending.clear();
          return out + endStep() + chunk({ type: "error", errorText: event.data });
        }
      }
    },
    end: () => "data: [DONE]\n\n",
  };
}
