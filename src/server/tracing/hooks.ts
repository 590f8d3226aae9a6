/**
 * What the server and the runner call when tracing is on (required by tracing.ts only then): the SERVER span
 * of each HTTP request, and a RunTrace per run under it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import * as api from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { pathOf } from "../handlers";
import { noteTraceId, requestIdOf } from "../requestLog";
import { runTrace } from "./runSpans";
import type { Sdk } from "./sdk";
import type { Tracing } from "./tracing";

const { version } = require("../../../package.json") as { version: string };

/** HTTP methods the convention names; any other is "_OTHER" (a client must not mint span names). */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

export function tracingHooks({ content, sdk }: { content: boolean; sdk?: Sdk }): Tracing {
  const tracer = api.trace.getTracer("klisk", version);
  // Each request's span context, for the runs it starts (explicit: a body read on stream events may lose
  // the async context that context.with set up).
  const requests = new WeakMap<ServerResponse, Context>();

  return {
    requestSpan: function requestSpan(req, res, next) {
      // W3C trace context (traceparent, tracestate) and baggage from the caller, when it sends them.
      const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
      const method = KNOWN_METHODS.has(req.method ?? "") ? req.method! : "_OTHER";
      const span = tracer.startSpan(
        method,
        {
          kind: api.SpanKind.SERVER,
          attributes: { "http.request.method": method, "url.path": pathOf(req), "klisk.request_id": requestIdOf(res) },
        },
        parent,
      );
      const context = api.trace.setSpan(parent, span);
      requests.set(res, context);
      noteTraceId(res, span.spanContext().traceId);
      res.once("close", () => {
        const route = matchedRoute(req);
        if (route) {
          span.setAttribute("http.route", route);
          span.updateName(`${method} ${route}`);
        }
        span.setAttribute("http.response.status_code", res.statusCode);
        // A server span fails on 5xx only: a 4xx is the client's mistake.
        if (res.statusCode >= 500) {
          span.setStatus({ code: api.SpanStatusCode.ERROR });
          span.setAttribute("error.type", String(res.statusCode));
        }
        // Closed before the response ended: the client hung up.
        if (!res.writableFinished) span.setAttribute("klisk.aborted", true);
        span.end();
      });
      // The project's own routes (configureServer) see the request's span as the active one.
      api.context.with(context, next);
    },
    run(from) {
      const parent = from instanceof Headers ? api.propagation.extract(api.context.active(), from, HEADERS_GETTER) : from && requests.get(from);
      return runTrace(api, tracer, parent ?? api.context.active(), content);
    },
    flush: () => sdk?.flush() ?? Promise.resolve(),
    shutdown: () => sdk?.shutdown() ?? Promise.resolve(),
  };
}

/** Reads trace-context headers from a fetch Headers object (the default getter reads plain objects). */
const HEADERS_GETTER: api.TextMapGetter<Headers> = {
  keys(headers) {
    const names: string[] = [];
    headers.forEach((_value, name) => names.push(name));
    return names;
  },
  get: (headers, key) => headers.get(key) ?? undefined,
};

/** The route pattern Express matched (bounded, unlike the path), or undefined (a 404, a static file). */
function matchedRoute(req: IncomingMessage): string | undefined {
  const { route, baseUrl } = req as IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };
  return typeof route?.path === "string" ? `${baseUrl ?? ""}${route.path}` : undefined;
}
