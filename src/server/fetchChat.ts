/**
 * POST /api/chat for the fetch handler, in the router's order (cheap refusals before reading a body): rate
 * limit, auth, body, validation, a run slot; then the run's events as one JSON answer or an SSE stream.
 * The same checks and messages as rateLimit.ts, auth.ts, jsonBody.ts and chat.ts, over a web Request.
 */
import { AbortedError, RequestError } from "../errors";
import { codeOfError, type ChatEvent } from "../runner/events";
import { resolveAgent, runChat } from "../runner/run";
import { INVALID_KEY_MESSAGE, keyFromHeaders } from "./auth";
import { parseChatRequest } from "./chatRequest";
import type { ServerContext } from "./context";
import { readJsonBody } from "./fetchBody";
import type { FetchExchange, FetchHandlerOptions } from "./fetchHandler";
import { SSE_HEADERS, sseStream } from "./fetchSse";
import { rateLimitHeaders } from "./rateLimit";
import { BUSY_MESSAGE, CLIENT_GONE_MESSAGE, SHUTTING_DOWN_MESSAGE } from "./runs";
import { statusOfCode } from "./statuses";
import { usageField } from "./usage";

/** The rate budget of clients whose address the host does not tell us (no clientAddress option). */
export const UNKNOWN_ADDRESS = "unknown";

export function fetchChatRoute(context: ServerContext, clientAddress: FetchHandlerOptions["clientAddress"]): (ex: FetchExchange) => Promise<Response> {
  const { project, keys, limits, runs, signer, rateLimiter, pendingBodies } = context;
  const bodyLimits = { maxBytes: limits.maxBodyBytes, timeoutMs: limits.bodyTimeoutMs, pending: pendingBodies };
  const signState = signer?.sign;

  return async function chat(ex) {
    const { request } = ex;
    const key = keyFromHeaders({ authorization: request.headers.get("authorization") ?? undefined, "x-api-key": request.headers.get("x-api-key") ?? undefined });
    // Rate limit first: guessing keys draws on the budget too.
    if (rateLimiter) {
      const verdict = await rateLimiter.take(rateLimiter.budgetFor(key, clientAddress?.(request) ?? UNKNOWN_ADDRESS));
      for (const [name, value] of rateLimitHeaders(verdict)) ex.headers.set(name, value);
      if (verdict.error !== null) return ex.json(429, { error: verdict.error });
    }
    if (keys.required && !keys.matches(key)) {
      ex.headers.set("WWW-Authenticate", "Bearer");
      return ex.json(401, { error: INVALID_KEY_MESSAGE });
    }

    const body = await readJsonBody(request, bodyLimits).catch((err: unknown) => {
      if (err instanceof RequestError && err.status === 503) ex.headers.set("Retry-After", "1");
      throw err;
    });
    const chatRequest = parseChatRequest(body, project, limits, signer);
    // Resolved once here and handed to the runner: the log line names the agent that answers.
    const agent = resolveAgent(project, chatRequest.agentName, chatRequest.state);
    ex.agent = agent.name;
    const controller = runs.start({ reqId: ex.reqId, agent: agent.name, transport: chatRequest.stream ? "sse" : "json" });
    if (!controller) {
      // Both are "come back later": 503 so load balancers retry on another instance.
      ex.headers.set("Retry-After", runs.closing ? "5" : "1");
      throw new RequestError(503, runs.closing ? SHUTTING_DOWN_MESSAGE : BUSY_MESSAGE);
    }

    // The client going away stops the model and the tools, in both modes.
    const clientGone = () => controller.abort(new AbortedError(CLIENT_GONE_MESSAGE));
    request.signal.addEventListener("abort", clientGone, { once: true });
    if (request.signal.aborted) clientGone();
    const release = () => {
      request.signal.removeEventListener("abort", clientGone);
      runs.finish(controller);
    };
    const events = runChat({
      project,
      agent,
      message: chatRequest.message,
      attachments: chatRequest.attachments,
      state: chatRequest.state,
      signal: controller.signal,
      signState,
      stream: chatRequest.stream,
      // Tracing on: the run's spans continue the caller's trace (its traceparent), as the routes' do.
      trace: context.tracing?.run(request.headers),
    });

    if (!chatRequest.stream) {
      try {
        return await answerJson(ex, events);
      } finally {
        release();
      }
    }
    const logLine = ex.logAtEnd();
    const stream = sseStream(events, {
      controller,
      heartbeatMs: limits.sseHeartbeatMs,
      stallMs: limits.writeStallMs,
      onEnd(cut) {
        const aborted = cut || request.signal.aborted;
        release();
        logLine(aborted);
      },
    });
    for (const [name, value] of Object.entries(SSE_HEADERS)) ex.headers.set(name, value);
    return new Response(stream, { status: 200, headers: ex.headers });
  };
}

async function answerJson(ex: FetchExchange, events: AsyncIterable<ChatEvent>): Promise<Response> {
  let last: ChatEvent | undefined;
  for await (const event of events) {
    if (event.type === "done" || event.type === "error") last = event;
  }
  if (last?.type === "done") return ex.json(200, { response: last.data, state: last.state, done: true, ...usageField(last) });
  if (last?.type === "error") return ex.json(statusOfCode(codeOfError(last)), { error: last.data });
  throw new Error("runChat ended without a done or error event");
}
