/**
 * OpenAI-compatible Chat Completions: `GET /v1/models` lists the agents as models and
 * `POST /v1/chat/completions` runs the agent named by `model`, so any OpenAI client (the `openai` SDKs,
 * LangChain's ChatOpenAI, Open WebUI, LibreChat) talks to a klisk agent. The client keeps the transcript
 * and sends it whole; the agent's own tools run on the server and never appear as `tool_calls`, and a
 * hand-off is transparent. Errors keep /api/chat's statuses in OpenAI's shape.
 */
import { z } from "zod";
import { RequestError } from "../errors";
import type { Agent } from "../sdk/agent";
import { codeOfError, usageOf, type ChatEvent, type RunUsage } from "../runner/events";
import { collectRun, streamRun, withRun } from "./chat";
import { dataUrlMime, parseClientTurn, type ClientFile, type EarlierMessage } from "./clientTurn";
import type { ServerContext } from "./context";
import { sendJson, type ErrorShape, type Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { parseRequest } from "./requestSchemas";
import { textFrames, type SseEncoder } from "./sse";
import { statusOfCode } from "./statuses";
import { newId } from "./ids";

const CODES: Readonly<Record<number, string>> = {
  401: "invalid_api_key",
  403: "origin_not_allowed",
  404: "not_found",
  408: "request_timeout",
  413: "request_too_large",
  415: "unsupported_media_type",
  429: "rate_limit_exceeded",
  502: "upstream_error",
  503: "service_unavailable",
};

/** klisk's `{"error": "..."}` in OpenAI's shape, which the SDKs read into their error classes. */
export const openaiError: ErrorShape = (message, status) => ({
  error: { message, type: status >= 500 ? "server_error" : "invalid_request_error", param: null, code: CODES[status] ?? null },
});

const contentPart = z.looseObject({ type: z.string({ error: "must be a string" }) }, { error: "must be a content part" });
const chatMessage = z.looseObject(
  {
    role: z.string({ error: "must be a string" }),
    content: z.union([z.string(), z.array(contentPart)], { error: "must be a string or an array of content parts" }).nullish(),
    tool_calls: z.array(z.unknown()).nullish(),
  },
  { error: "must be a message {role, content}" },
);
/** The request body (also what GET /openapi.json describes). */
export const completionsRequestSchema = z.looseObject(
  {
    model: z.string({ error: "must be a string naming an agent (GET /v1/models lists them)" }),
    messages: z.array(chatMessage, { error: "must be an array of messages" }).min(1, { error: "must hold at least the user's message" }),
    stream: z.boolean({ error: "must be true or false" }).nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean({ error: "must be true or false" }).nullish() }).nullish(),
    tools: z.array(z.unknown(), { error: "must be an array" }).nullish(),
  },
  { error: 'Request body must be a JSON object such as {"model": "Assistant", "messages": [{"role": "user", "content": "Hello"}]}' },
);
const textPart = z.object({ type: z.literal("text"), text: z.string({ error: "must be a string" }) });
const imagePart = z.object({ type: z.literal("image_url"), image_url: z.object({ url: z.string({ error: "must be a data: URL" }) }, { error: "must be {url}" }) });
const filePart = z.object({
  type: z.literal("file"),
  file: z.object({ file_data: z.string({ error: "must be a data: URL" }), filename: z.string().nullish() }, { error: "must be {file_data, filename}" }),
});

type ChatMessage = z.output<typeof chatMessage>;

/** GET /v1/models: every agent, as a model. */
export function modelsRoute({ project }: ServerContext): Handler {
  const created = Math.floor(Date.now() / 1000);
  const list = { object: "list", data: project.agents.map((agent) => ({ id: agent.name, object: "model", created, owned_by: project.name })) };
  return function models(_req, res) {
    sendJson(res, 200, list);
  };
}

/** POST /v1/chat/completions. */
export function completionsRoute(context: ServerContext): Handler {
  const allowSystem = context.project.config.deploy.openai.allow_system_messages;
  return async function completions(req, res) {
    const body = parseRequest(completionsRequestSchema, bodyOf(req));
    const agent = modelAgent(context, body.model);
    const { extraInstructions, ...turn } = completionTurn(body.messages, allowSystem);
    if (body.tools && body.tools.length > 0) {
      throw new RequestError(400, "'tools' is not supported: the agent's own tools run on the server (client-side tools are not)");
    }
    const fields = parseClientTurn({ ...turn, agentName: agent.name }, context, { signedHistory: false });
    const stream = body.stream === true;
    const reply = { id: newId("chatcmpl-"), created: Math.floor(Date.now() / 1000), model: agent.name };
    await withRun(context, res, { ...fields, stream, extraInstructions }, stream ? "openai-sse" : "openai-json", async (run) => {
      if (stream) return streamRun(context, res, run, completionChunks(reply, body.stream_options?.include_usage === true));
      const last = await collectRun(res, run);
      if (last?.type === "done") sendJson(res, 200, completion(reply, last));
      else if (last?.type === "error") sendJson(res, statusOfCode(codeOfError(last)), { error: last.data });
    });
  };
}

function modelAgent({ project }: ServerContext, model: string): Agent {
  const agent = project.agents.find((a) => a.name === model);
  if (!agent) {
    throw new RequestError(404, `The model '${model}' does not exist. The models are this server's agents: ${project.agents.map((a) => a.name).join(", ")}`);
  }
  return agent;
}

/** The last user message as the turn, earlier user/assistant text as the history, system messages checked. */
function completionTurn(messages: readonly ChatMessage[], allowSystem: boolean) {
  const system: string[] = [];
  const earlier: EarlierMessage[] = [];
  const lastIndex = messages.length - 1;
  messages.forEach((message, i) => {
    if (message.role === "system" || message.role === "developer") {
      if (!allowSystem) {
        throw new RequestError(400, `messages[${i}]: ${message.role} messages are refused: the agent's instructions are set on the server. Set deploy.openai.allow_system_messages: true in klisk.config.yaml to append them to the instructions.`);
      }
      system.push(textOf(message, i));
    } else if (message.role === "tool" || message.role === "function" || (message.tool_calls?.length ?? 0) > 0) {
      throw new RequestError(400, `messages[${i}]: client-side tools are not supported; the agent's own tools run on the server`);
    } else if (message.role !== "user" && message.role !== "assistant") {
      throw new RequestError(400, `messages[${i}].role must be "user", "assistant", "system" or "developer"`);
    } else if (i < lastIndex) {
      earlier.push({ role: message.role, text: textOf(message, i) });
    }
  });
  const last = messages[lastIndex];
  if (last.role !== "user") throw new RequestError(400, `'messages' must end with a user message (the last one has role '${last.role}')`);
  const { text, files } = userContent(last, lastIndex);
  return { text, files, earlier, extraInstructions: system.length > 0 ? system.join("\n\n") : undefined };
}

function textOf(message: ChatMessage, i: number): string {
  const { content } = message;
  if (content === undefined || content === null || typeof content === "string") return content ?? "";
  return content
    .flatMap((p, j) => {
      if (p.type !== "text" && p.type !== "refusal") return [];
      const part = parseRequest(textLike, p, ["messages", i, "content", j]);
      return [part.type === "text" ? part.text : part.refusal];
    })
    .join("\n");
}
const textLike = z.union([textPart, z.object({ type: z.literal("refusal"), refusal: z.string({ error: "must be a string" }) })]);

function userContent(message: ChatMessage, i: number): { text: string; files: ClientFile[] } {
  const { content } = message;
  if (content === undefined || content === null || typeof content === "string") return { text: content ?? "", files: [] };
  const texts: string[] = [];
  const files: ClientFile[] = [];
  content.forEach((p, j) => {
    const at = ["messages", i, "content", j];
    const where = `messages[${i}].content[${j}]`;
    if (p.type === "text") texts.push(parseRequest(textPart, p, at).text);
    else if (p.type === "image_url") files.push(dataFile(parseRequest(imagePart, p, at).image_url.url, `${where}.image_url.url`));
    else if (p.type === "file") {
      const { file_data, filename } = parseRequest(filePart, p, at).file;
      files.push({ ...dataFile(file_data, `${where}.file.file_data`), name: filename ?? undefined });
    } else throw new RequestError(400, `${where}: unsupported content part '${p.type}' (text, image_url and file are)`);
  });
  return { text: texts.join("\n"), files };
}

function dataFile(url: string, where: string): ClientFile {
  const mime = dataUrlMime(url);
  if (mime === undefined) throw new RequestError(400, `${where} must be a data: URL (klisk does not fetch files)`);
  return { mime_type: mime, data: url };
}

interface Reply {
  id: string;
  created: number;
  model: string;
}

function usageBody(usage: RunUsage | undefined) {
  const prompt = usage?.inputTokens ?? 0;
  const completionTokens = usage?.outputTokens ?? 0;
  const body = { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens };
  // Where OpenAI puts them, when the model spent any.
  return usage?.reasoningTokens === undefined ? body : { ...body, completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } };
}

function completion(reply: Reply, done: Extract<ChatEvent, { type: "done" }>) {
  return {
    ...reply,
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content: done.data, refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: usageBody(usageOf(done)),
  };
}

/**
 * runChat's events as `chat.completion.chunk` frames: the role first, text as `delta.content`, thinking as
 * `delta.reasoning_content`, a last chunk with `finish_reason`, usage when asked for, then `data: [DONE]`.
 * Tool calls and hand-offs happen on the server and are not sent. A failed run is an `{"error": {...}}`
 * frame, which the SDKs raise as an APIError.
 */
function completionChunks(reply: Reply, includeUsage: boolean): SseEncoder {
  let started = false;
  const frame = (value: object) => `data: ${JSON.stringify(value)}\n\n`;
  const chunkOf = (delta: object, finishReason: string | null = null) => ({
    ...reply,
    object: "chat.completion.chunk",
    // No `logprobs: null`: optional in a chunk's choice (required only in a whole completion's), and it
    // would be 16 bytes of every token frame.
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  const chunk = (delta: object, finishReason: string | null = null) => frame(chunkOf(delta, finishReason));
  // The frames repeated per token are serialised around the text once (see textFrames).
  const content = textFrames((text) => chunkOf({ content: text }));
  const reasoning = textFrames((text) => chunkOf({ reasoning_content: text }));
  return {
    event(event: ChatEvent): string {
      let out = "";
      if (!started) {
        started = true;
        out = chunk({ role: "assistant", content: "" });
      }
      switch (event.type) {
        case "token":
          return out + content(event.data);
        case "thinking":
          return out + reasoning(event.data);
        case "done":
          out += chunk({}, "stop");
          if (includeUsage) out += frame({ ...reply, object: "chat.completion.chunk", choices: [], usage: usageBody(usageOf(event)) });
          return out;
        case "error":
          return out + frame(openaiError(event.data, statusOfCode(codeOfError(event))) as object);
        default:
          return out;
      }
    },
    end: () => "data: [DONE]\n\n",
  };
}
