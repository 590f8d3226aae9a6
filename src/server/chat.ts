/** POST /api/chat: validate, then hand runChat's events to the SSE writer or collect them into one JSON answer. */
import type { ServerResponse } from "node:http";
import { AbortedError, RequestError } from "../errors";
import { codeOfError, type ChatEvent } from "../runner/events";
import { resolveAgent, runChat } from "../runner/run";
import { parseChatRequest } from "./chatRequest";
import type { ServerContext } from "./context";
import { sendJson, type Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { noteAgent, requestIdOf } from "./requestLog";
import { BUSY_MESSAGE, CLIENT_GONE_MESSAGE, SHUTTING_DOWN_MESSAGE } from "./runs";
import { writeSse } from "./sse";
import { statusOfCode } from "./statuses";

export function chatRoute({ project, limits, runs, signer }: ServerContext): Handler {
  const signState = signer?.sign;
  return async function chat(req, res) {
    const request = parseChatRequest(bodyOf(req), project, limits, signer);
    // Resolved once here and handed to the runner: the log line names the agent that answers.
    const agent = resolveAgent(project, request.agentName, request.state);
    noteAgent(res, agent.name);
    const controller = runs.start({ reqId: requestIdOf(res), agent: agent.name, transport: request.stream ? "sse" : "json" });
    if (!controller) {
      // Both are "come back later": 503 so load balancers retry on another instance.
      res.setHeader("Retry-After", runs.closing ? "5" : "1");
      throw new RequestError(503, runs.closing ? SHUTTING_DOWN_MESSAGE : BUSY_MESSAGE);
    }
    try {
      const events = runChat({
        project,
        agent,
        message: request.message,
        attachments: request.attachments,
        state: request.state,
        signal: controller.signal,
        signState,
        stream: request.stream,
      });
      if (request.stream) await writeSse(res, events, { controller, heartbeatMs: limits.sseHeartbeatMs, stallMs: limits.writeStallMs });
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
    sendJson(res, statusOfCode(codeOfError(last)), { error: last.data });
  } else {
    throw new Error("runChat ended without a done or error event");
  }
}
