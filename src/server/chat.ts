/** POST /api/chat: validate, then hand runChat's events to the SSE writer or collect them into one JSON answer. */
import type { RequestHandler, Response } from "express";
import { RequestError } from "../errors";
import type { Project } from "../project/project";
import { statusOfError, type ChatEvent } from "../runner/events";
import { runChat } from "../runner/run";
import { parseChatRequest } from "./chatRequest";
import type { ServerLimits } from "./limits";
import { BUSY_MESSAGE, RunRegistry, SHUTTING_DOWN_MESSAGE } from "./runs";
import { writeSse } from "./sse";

export interface ChatRouteOptions {
  limits: ServerLimits;
  runs: RunRegistry;
  log: (message: string) => void;
}

export function chatRoute(project: Project, { limits, runs, log }: ChatRouteOptions): RequestHandler {
  return async function chat(req, res) {
    const request = parseChatRequest(req.body, project, limits);
    const controller = runs.start();
    if (!controller) {
      if (runs.closing) throw new RequestError(503, SHUTTING_DOWN_MESSAGE);
      res.set("Retry-After", "1");
      throw new RequestError(429, BUSY_MESSAGE);
    }
    try {
      const events = runChat({
        project,
        agentName: request.agentName,
        message: request.message,
        attachments: request.attachments,
        state: request.state,
        signal: controller.signal,
      });
      if (request.stream) await writeSse(res, events, { controller, log });
      else await answerJson(res, events, controller);
    } finally {
      runs.finish(controller);
    }
  };
}

async function answerJson(res: Response, events: AsyncIterable<ChatEvent>, controller: AbortController): Promise<void> {
  // The client hanging up mid-run should stop the model and tools, as in SSE mode.
  res.on("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  let last: ChatEvent | undefined;
  for await (const event of events) {
    if (event.type === "done" || event.type === "error") last = event;
  }
  if (res.destroyed) return;
  if (last?.type === "done") {
    res.json({ response: last.data, state: last.state, done: true });
  } else if (last?.type === "error") {
    res.status(statusOfError(last)).json({ error: last.data });
  } else {
    throw new Error("runChat ended without a done or error event");
  }
}

