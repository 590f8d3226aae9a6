/** POST /api/chat: validate, then hand runChat's events to the SSE writer or collect them into one JSON answer. */
import type { ServerResponse } from "node:http";
import { AbortedError, RequestError } from "../errors";
import { codeOfError, type ChatEvent } from "../runner/events";
import { resolveAgent, runChat } from "../runner/run";
import type { Agent } from "../sdk/agent";
import { parseChatRequest, type TurnFields } from "./chatRequest";
import type { ServerContext } from "./context";
import { sendJson, type Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { noteAgent, noteUsage, requestIdOf } from "./requestLog";
import { BUSY_MESSAGE, CLIENT_GONE_MESSAGE, SHUTTING_DOWN_MESSAGE } from "./runs";
import { writeSse, type SseEncoder } from "./sse";
import { statusOfCode } from "./statuses";
import { usageField } from "./usage";

export function chatRoute(context: ServerContext): Handler {
  const { project, limits, signer } = context;
  return async function chat(req, res) {
    const request = parseChatRequest(bodyOf(req), project, limits, signer);
    await withRun(context, res, request, request.stream ? "sse" : "json", async (run) => {
      if (request.stream) await streamRun(context, res, run);
      else await answerJson(res, run);
    });
  };
}

/** A run in progress: its events, and the controller that aborts it. */
export interface StartedRun {
  events: AsyncIterable<ChatEvent>;
  controller: AbortController;
}

/**
 * Runs one validated turn for an HTTP route (klisk's own and every protocol adapter's): resolves the agent
 * (named in the log line), takes a run slot (503 with Retry-After when busy or shutting down), hands the
 * events to `answer`, and frees the slot however it ends. `res` is undefined for a turn that is not one
 * HTTP response of its own (an MCP tool call inside a session): the 503 is then only thrown.
 */
export async function withRun(
  context: ServerContext,
  res: ServerResponse | undefined,
  turn: TurnFields & { stream: boolean; extraInstructions?: string },
  transport: string,
  answer: (run: StartedRun) => Promise<void>,
): Promise<void> {
  const { project, runs } = context;
  // Resolved once here and handed to the runner: the log line names the agent that answers.
  const resolved = resolveAgent(project, turn.agentName, turn.state);
  // Added to the agent's own instructions for this run only (OpenAI clients' system messages, when allowed).
  const agent = turn.extraInstructions ? { ...resolved, instructions: `${resolved.instructions}\n\n${turn.extraInstructions}` } : resolved;
  if (res) noteAgent(res, agent.name);
  const controller = runs.start({ reqId: res && requestIdOf(res), agent: agent.name, transport });
  if (!controller) {
    // Both are "come back later": 503 so load balancers retry on another instance.
    res?.setHeader("Retry-After", runs.closing ? "5" : "1");
    throw new RequestError(503, runs.closing ? SHUTTING_DOWN_MESSAGE : BUSY_MESSAGE);
  }
  try {
    await answer({ events: runTurn(context, agent, turn, controller.signal, res), controller });
  } finally {
    runs.finish(controller);
  }
}

/**
 * runChat for one turn of this server (HTTP or WebSocket): its project, state signer, metrics observer and
 * tracing, under the run slot's signal. `res`: the HTTP request the turn answers, whose log line gets the
 * run's usage and whose span the run's spans go under (a WebSocket turn has none: its spans start a trace).
 */
export function runTurn(
  { project, signer, metrics, tracing }: ServerContext,
  agent: Agent,
  turn: TurnFields & { stream?: boolean },
  signal: AbortSignal,
  res?: ServerResponse,
): AsyncIterable<ChatEvent> {
  return runChat({
    project,
    agent,
    message: turn.message,
    attachments: turn.attachments,
    state: turn.state,
    signal,
    signState: signer?.sign,
    stream: turn.stream,
    observer: metrics.runObserver,
    trace: tracing?.run(res),
    onUsage: res && ((usage) => noteUsage(res, usage)),
  });
}

/** Streams a run over SSE in klisk's frames, or a protocol's (`encoder`), under the server's write limits. */
export function streamRun({ limits }: ServerContext, res: ServerResponse, run: StartedRun, encoder?: SseEncoder): Promise<void> {
  return writeSse(res, run.events, { controller: run.controller, heartbeatMs: limits.sseHeartbeatMs, stallMs: limits.writeStallMs, encoder });
}

/**
 * Runs to the end for a one-piece answer: the final `done` or `error` event, or undefined when the client
 * has gone (nothing to answer). A client hanging up mid-run stops the model and tools, as in SSE mode.
 */
export async function collectRun(res: ServerResponse, { events, controller }: StartedRun): Promise<Extract<ChatEvent, { type: "done" | "error" }> | undefined> {
  res.on("close", () => {
    if (!res.writableFinished) controller.abort(new AbortedError(CLIENT_GONE_MESSAGE));
  });
  let last: Extract<ChatEvent, { type: "done" | "error" }> | undefined;
  for await (const event of events) {
    if (event.type === "done" || event.type === "error") last = event;
  }
  if (res.destroyed) return undefined;
  if (!last) throw new Error("runChat ended without a done or error event");
  return last;
}

async function answerJson(res: ServerResponse, run: StartedRun): Promise<void> {
  const last = await collectRun(res, run);
  if (last?.type === "done") {
    sendJson(res, 200, { response: last.data, state: last.state, done: true, ...usageField(last) });
  } else if (last?.type === "error") {
    sendJson(res, statusOfCode(codeOfError(last)), { error: last.data });
  }
}
