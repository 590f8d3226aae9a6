/**
 * A2A (Agent2Agent): `GET /.well-known/agent-card.json` describes the server (one skill per agent) and
 * `POST /a2a` takes JSON-RPC: SendMessage, SendStreamingMessage (SSE of the task, its status updates and
 * artifact updates carrying the text), GetTask and CancelTask, with the v0.3 names (message/send,
 * message/stream, tasks/get, tasks/cancel) as aliases. Replies follow the A2A-Version header (a2aWire.ts).
 * A contextId stands for a conversation: its klisk state is kept in memory (per process) for
 * deploy.a2a.context_ttl_s, so a client continues by sending the same contextId. `metadata.agent_name` (on
 * the message or the request) picks an agent; otherwise the conversation's or the first one answers.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Request } from "express";
import { AbortedError, RequestError } from "../errors";
import type { ChatEvent } from "../runner/events";
import { collectRun, streamRun, withRun } from "./chat";
import { parseClientTurn, type ClientFile } from "./clientTurn";
import type { ServerContext } from "./context";
import { sendJson, type ErrorShape, type Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { ROUTES } from "./paths";
import { isPlainObject } from "./requestSchemas";
import { CANCELLED_MESSAGE } from "./runs";
import { textFrames, type SseEncoder } from "./sse";
import { A2A_ERRORS, A2aMemory, isTerminal, versionOf, WIRES, type A2aTask, type A2aVersion, type A2aWire } from "./a2aWire";

type JsonRpcId = string | number | null;

/** A JSON-RPC error this route answers with (HTTP 200 unless `status` says otherwise). */
class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly status = 200,
  ) {
    super(message);
  }
}

/** klisk's `{"error": "..."}` (auth, rate limit, body limits) as a JSON-RPC error, which A2A clients read. */
export const a2aError: ErrorShape = (message, status) => ({
  jsonrpc: "2.0",
  error: { code: status >= 500 ? A2A_ERRORS.internal : A2A_ERRORS.invalidRequest, message },
  id: null,
});

const METHODS: Readonly<Record<string, "send" | "stream" | "get" | "cancel">> = {
  SendMessage: "send",
  "message/send": "send",
  SendStreamingMessage: "stream",
  "message/stream": "stream",
  GetTask: "get",
  "tasks/get": "get",
  CancelTask: "cancel",
  "tasks/cancel": "cancel",
};

/** GET /.well-known/agent-card.json: A2A v1.0's card, with the JSON-RPC endpoint for 1.0 and 0.3 clients. */
export function agentCardRoute({ project, keys }: ServerContext): Handler {
  return function agentCard(req, res) {
    const request = req as Request;
    const url = `${request.protocol}://${request.get("host") ?? "localhost"}${request.baseUrl}${ROUTES.a2a}`;
    sendJson(res, 200, {
      name: project.name,
      description: `klisk agents of '${project.name}': ${project.agents.map((a) => a.name).join(", ")}`,
      version: "1.0.0",
      supportedInterfaces: [
        { url, protocolBinding: "JSONRPC", protocolVersion: "1.0" },
        { url, protocolBinding: "JSONRPC", protocolVersion: "0.3" },
      ],
      capabilities: { streaming: true, pushNotifications: false },
      defaultInputModes: ["text/plain"],
      defaultOutputModes: ["text/plain"],
      skills: project.agents.map((agent) => ({
        id: agent.name,
        name: agent.name,
        description: `Talk to the agent '${agent.name}' (send metadata.agent_name: "${agent.name}" to pick it).`,
        tags: ["klisk-agent", ...agent.tools.map((t) => t.name)],
      })),
      ...(keys.required
        ? {
            securitySchemes: { bearer: { httpAuthSecurityScheme: { scheme: "Bearer", description: "The server's API key (KLISK_API_KEY)" } } },
            securityRequirements: [{ schemes: { bearer: { list: [] } } }],
          }
        : {}),
    });
  };
}

/** POST /a2a. */
export function a2aRoute(context: ServerContext): Handler {
  const memory = new A2aMemory(context.project.config.deploy.a2a.context_ttl_s * 1000);
  return async function a2a(req, res) {
    const body = bodyOf(req);
    const id: JsonRpcId = isPlainObject(body) && (typeof body.id === "string" || typeof body.id === "number") ? body.id : null;
    try {
      const version = versionOf(req.headers["a2a-version"]);
      if (!version) throw new RpcError(A2A_ERRORS.versionNotSupported, `A2A-Version '${req.headers["a2a-version"]}' is not supported: this server speaks 1.0 and 0.3`);
      res.setHeader("A2A-Version", version);
      if (!isPlainObject(body) || body.jsonrpc !== "2.0" || typeof body.method !== "string") {
        throw new RpcError(A2A_ERRORS.invalidRequest, 'Request body must be a JSON-RPC 2.0 request {"jsonrpc": "2.0", "id", "method", "params"}');
      }
      const method = METHODS[body.method];
      if (!method) throw new RpcError(A2A_ERRORS.methodNotFound, `Method '${body.method}' is not supported: ${Object.keys(METHODS).join(", ")}`);
      const params = isPlainObject(body.params) ? body.params : {};
      const wire = WIRES[version];
      if (method === "get") return sendJson(res, 200, result(id, wire.task(knownTask(memory, params))));
      if (method === "cancel") return sendJson(res, 200, result(id, wire.task(cancel(memory, params))));
      await send(context, memory, wire, version, params, id, method === "stream", res);
    } catch (err) {
      if (res.headersSent) throw err;
      if (err instanceof RpcError) return sendJson(res, err.status, { jsonrpc: "2.0", id, error: { code: err.code, message: err.message } });
      if (err instanceof RequestError) {
        const code = err.status === 400 || err.status === 413 || err.status === 415 ? A2A_ERRORS.invalidParams : A2A_ERRORS.internal;
        return sendJson(res, err.status === 400 ? 200 : err.status, { jsonrpc: "2.0", id, error: { code, message: err.message } });
      }
      throw err;
    }
  };
}

const result = (id: JsonRpcId, value: object) => ({ jsonrpc: "2.0", id, result: value });

function knownTask(memory: A2aMemory, params: Record<string, unknown>): A2aTask {
  const task = typeof params.id === "string" ? memory.task(params.id) : undefined;
  if (!task) throw new RpcError(A2A_ERRORS.taskNotFound, `Task '${String(params.id)}' not found (tasks are kept in memory for a while after they end)`);
  return task;
}

function cancel(memory: A2aMemory, params: Record<string, unknown>): A2aTask {
  const task = knownTask(memory, params);
  if (isTerminal(task)) throw new RpcError(A2A_ERRORS.taskNotCancelable, `Task '${task.id}' has already ended (${task.state})`);
  task.state = "canceled";
  memory.saveTask(task);
  task.controller?.abort(new AbortedError(CANCELLED_MESSAGE));
  return task;
}

/** SendMessage / SendStreamingMessage: one task, one run, in the context the message names (or a new one). */
async function send(
  context: ServerContext,
  memory: A2aMemory,
  wire: A2aWire,
  version: A2aVersion,
  params: Record<string, unknown>,
  id: JsonRpcId,
  stream: boolean,
  res: ServerResponse,
): Promise<void> {
  const message = params.message;
  if (!isPlainObject(message) || !Array.isArray(message.parts)) throw new RpcError(A2A_ERRORS.invalidParams, "params.message must be a message with parts");
  if (typeof message.taskId === "string" && message.taskId !== "") {
    const earlier = memory.task(message.taskId);
    if (!earlier) throw new RpcError(A2A_ERRORS.taskNotFound, `Task '${message.taskId}' not found`);
    throw new RpcError(A2A_ERRORS.unsupportedOperation, `Task '${earlier.id}' has ended (${earlier.state}); continue the conversation with its contextId instead`);
  }
  const { text, files } = messageContent(message.parts, version);
  const contextId = typeof message.contextId === "string" && message.contextId !== "" ? message.contextId : randomUUID();
  const agentName = metadataAgent(message.metadata) ?? metadataAgent(params.metadata);
  const turn = parseClientTurn({ text, files, agentName, state: memory.state(contextId) }, context);
  const task: A2aTask = {
    id: randomUUID(),
    contextId,
    userMessage: { messageId: typeof message.messageId === "string" ? message.messageId : randomUUID(), text },
    state: "submitted",
    text: "",
    timestamp: "",
  };
  memory.saveTask(task);
  await withRun(context, res, { ...turn, stream }, stream ? "a2a-sse" : "a2a-json", async (run) => {
    task.controller = run.controller;
    task.state = "working";
    try {
      if (stream) {
        // An empty token first, so the client gets the task (and its id, to cancel it) before the model answers.
        await streamRun(context, res, { ...run, events: startWith({ type: "token", data: "" }, run.events) }, taskEncoder(task, memory, wire, id));
        return;
      }
      const last = await collectRun(res, run);
      if (last) finish(task, memory, last);
      if (!res.destroyed) sendJson(res, 200, result(id, wire.sendResult(task)));
    } finally {
      task.controller = undefined;
      if (!isTerminal(task)) {
        task.state = "failed";
        task.error ??= "The run ended without an answer";
        memory.saveTask(task);
      }
    }
  });
}

async function* startWith(first: ChatEvent, events: AsyncIterable<ChatEvent>): AsyncGenerator<ChatEvent> {
  yield first;
  yield* events;
}

/** The run's end as the task's: completed (its state kept for the context), canceled or failed. */
function finish(task: A2aTask, memory: A2aMemory, last: Extract<ChatEvent, { type: "done" | "error" }>): void {
  if (task.state !== "canceled") {
    if (last.type === "done") {
      task.text = last.data;
      task.state = "completed";
      memory.saveState(task.contextId, last.state);
    } else {
      task.state = "failed";
      task.error = last.data;
    }
  }
  memory.saveTask(task);
}

/** runChat's events as JSON-RPC results on SSE: the task, then text as artifact chunks, then the final status. */
function taskEncoder(task: A2aTask, memory: A2aMemory, wire: A2aWire, id: JsonRpcId): SseEncoder {
  const frame = (value: object) => `data: ${JSON.stringify(result(id, value))}\n\n`;
  const firstChunk = textFrames((text) => result(id, wire.artifactUpdate(task, text, false, false)));
  const nextChunk = textFrames((text) => result(id, wire.artifactUpdate(task, text, true, false)));
  let started = false;
  let streamed = "";
  return {
    event(event: ChatEvent): string {
      let out = "";
      if (!started) {
        started = true;
        out += frame(wire.streamTask({ ...task, state: "submitted" })) + frame(wire.statusUpdate(task));
      }
      switch (event.type) {
        case "token":
          if (event.data === "") return out;
          out += (streamed === "" ? firstChunk : nextChunk)(event.data);
          streamed += event.data;
          task.text = streamed;
          return out;
        case "done":
        case "error":
          finish(task, memory, event);
          if (task.state === "completed") {
            const rest = event.type === "done" && streamed === "" ? event.data : "";
            out += frame(wire.artifactUpdate(task, rest, streamed !== "", true));
          }
          return out + frame(wire.statusUpdate(task));
        default:
          return out;
      }
    },
    end: () => "",
  };
}

function metadataAgent(metadata: unknown): unknown {
  return isPlainObject(metadata) ? metadata.agent_name : undefined;
}

/** The text and files of a message's parts, in either version's spelling. */
function messageContent(parts: unknown[], version: A2aVersion): { text: string; files: ClientFile[] } {
  const texts: string[] = [];
  const files: ClientFile[] = [];
  parts.forEach((part, i) => {
    if (!isPlainObject(part)) throw new RpcError(A2A_ERRORS.invalidParams, `params.message.parts[${i}] must be a part`);
    const file = isPlainObject(part.file) ? part.file : undefined;
    if (typeof part.text === "string") texts.push(part.text);
    else if (typeof part.raw === "string") files.push({ mime_type: String(part.mediaType ?? ""), data: part.raw, name: typeof part.filename === "string" ? part.filename : undefined });
    else if (file && typeof file.bytes === "string") files.push({ mime_type: String(file.mimeType ?? ""), data: file.bytes, name: typeof file.name === "string" ? file.name : undefined });
    else if (part.data !== undefined) texts.push(JSON.stringify(part.data));
    else if (typeof part.url === "string" || (file && typeof file.uri === "string")) {
      throw new RpcError(A2A_ERRORS.invalidParams, `params.message.parts[${i}]: files by URL are not fetched; send the bytes (${version === "1.0" ? "raw" : "file.bytes"})`);
    } else throw new RpcError(A2A_ERRORS.invalidParams, `params.message.parts[${i}]: unsupported part (text, file bytes and data are)`);
  });
  return { text: texts.join("\n"), files };
}
