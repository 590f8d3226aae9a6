/**
 * The Express app of `klisk serve`: the edge middleware, the project's own middleware and routes
 * (`configureServer(app)` exported from its entry), klisk's router, the JSON 404 and the error translator.
 */
import express, { type Express } from "express";
import type { ServerContext } from "./context";
import { errorHandler, notFound } from "./errorHandler";
import { trustProxy } from "./limits";
import { reloadableRouter } from "./reload";
import { edgeMiddleware, kliskRouter } from "./router";

export async function createApp(context: ServerContext): Promise<Express> {
  const app = express();
  app.disable("x-powered-by");
  // Chat answers are never cached; the pages set their own ETags (ui.ts).
  app.set("etag", false);
  // Which hop of X-Forwarded-For is the client (req.ip): server.trust_proxy, compiled by Express.
  app.set("trust proxy", trustProxy(context.project));
  // First, so a request the project's own middleware answers still gets its log line, id and CORS headers.
  app.use(edgeMiddleware(context));
  await context.project.configureServer?.(app);
  // Under `klisk dev` the router follows the project through reloads.
  app.use(context.reload ? reloadableRouter(context, context.reload) : kliskRouter(context, { edge: false }));
  app.use(notFound());
  app.use(errorHandler());
  return app;
}
