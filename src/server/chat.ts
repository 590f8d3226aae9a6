/** POST /api/chat: validate, then hand runChat's events to the SSE writer or collect them into one JSON answer. */
import type { ServerResponse } from "node:http";
import { AbortedError, RequestError } from "../errors";
import type { Project } from "../project/project";
import { statusOfError, type ChatEvent } from "../runner/events";
import { resolveAgent, runChat } from "../runner/run";
import type { StateSigner } from "./stateSigning";
import { parseChatRequest } from "./chatRequest";
import type { ServerLimits } from "./limits";
import { sendJson, type Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { noteAgent, requestIdOf } from "./requestLog";
import { BUSY_MESSAGE, CLIENT_GONE_MESSAGE, RunRegistry, SHUTTING_DOWN_MESSAGE } from "./runs";
import { writeSse } from "./sse";

export interface ChatRouteOptions {
  limits: ServerLimits;
  runs: RunRegistry;
  log: (message: string) => void;
  signer?: StateSigner;
}

export function chatRoute(project: Project, { limits, runs, log, signer }: ChatRouteOptions): Handler {
  const signState = signer?.sign;
  return async function chat(req, res) {
    const request = parseChatRequest(bodyOf(req), project, limits, signer);
    const agent = resolveAgent(project, request.agentName, request.state).name;
    noteAgent(res, agent);
    const controller = runs.start({ reqId: requestIdOf(res), agent, transport: request.stream ? "sse" : "json" });
    if (!controller) {
      // Both are "come back later": 503 so load balancers retry on another instance.
      res.setHeader("Retry-After", runs.closing ? "5" : "1");
      throw new RequestError(503, runs.closing ? SHUTTING_DOWN_MESSAGE : BUSY_MESSAGE);
    }
    try {
      const events = runChat({
        project,
        agentName: request.agentName,
        message: request.message,
        attachments: request.attachments,
        state: request.state,
        signal: controller.signal,
        signState,
        stream: request.stream,
      });
      if (request.stream) await writeSse(res, events, { controller, log, heartbeatMs: limits.sseHeartbeatMs, stallMs: limits.writeStallMs });
      else await answerJson(res, events, controller);
    } finally {
      runs.finish(controller);
    }
  };
}

async function answerJson(res: ServerResponse, events: AsyncIterable<ChatEvent>, controller: AbortController): Promise<void> {
  // The client hanging up mid-run should stop the model and tools, as in SSE mode.
  res.on("close", () => {
    if (!res.writableFinished) controller.abort(new AbortedError(CLIENT_GONE_MESSAGE));
  });
  let last: ChatEvent | undefined;
  for await (const event of events) {
    if (event.type === "done" || event.type === "error") last = event;
  }
  if (res.destroyed) return;
  if (last?.type === "done") {
    sendJson(res, 200, { response: last.data, state: last.state, done: true });
  } else if (last?.type === "error") {
    sendJson(res, statusOfError(last), { error: last.data });
  } else {
    throw new Error("runChat ended without a done or error event");
  }
}
