/** createApp: the Express app. All middleware is wired here, in order; each piece lives in its own file. */
import express, { type Express } from "express";
import { log } from "../log";
import type { Project } from "../project/project";
import { auth, loadApiKeys, type ApiKeys } from "./auth";
import { availability } from "./availability";
import { chatRoute } from "./chat";
import { cors } from "./cors";
import { errorHandler, notFound } from "./errorHandler";
import { jsonBody } from "./jsonBody";
import { corsOrigins, resolveServerLimits, type ServerLimits } from "./limits";
import { RunRegistry } from "./runs";
import { uiInfo, uiRoutes } from "./ui";

export type Logger = (message: string) => void;

export interface AppOptions {
  /** Defaults to the KLISK_*_KEY variables as they are now (after the project's .env was loaded). */
  keys?: ApiKeys;
  limits?: ServerLimits;
  /** Shared with the WebSocket server so both count toward the same limit and stop together. */
  runs?: RunRegistry;
  log?: Logger;
}

export const defaultLogger: Logger = (message) => log.error({}, message);

export function createApp(project: Project, options: AppOptions = {}): Express {
  const keys = options.keys ?? loadApiKeys();
  const limits = options.limits ?? resolveServerLimits(project);
  const runs = options.runs ?? new RunRegistry(limits.maxConcurrentRuns);
  const log = options.log ?? defaultLogger;

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use(cors(corsOrigins(project)));
  app.use(availability(runs));

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/api/info", (_req, res) => {
    res.json({ ...projectInfo(project, keys), ...uiInfo(project) });
  });
  // Auth before body parsing: an unauthenticated client must not make us read a 30 MB body.
  app.post("/api/chat", auth(keys), jsonBody(limits.maxBodyBytes), chatRoute(project, { limits, runs, log }));

  // The chat page at /, its files under /ui/, and /widget.js (each can be disabled in deploy.*).
  app.use(uiRoutes(project));
  app.use(notFound());
  app.use(errorHandler(log));
  return app;
}

export function projectInfo(project: Project, keys: ApiKeys) {
  return {
    name: project.name,
    agent: project.agents[0]?.name,
    auth_required: keys.required,
    agents: project.agents.map((agent) => ({
      name: agent.name,
      model: agent.model,
      tools: [...agent.tools.map((t) => t.name), ...agent.builtinTools],
      handoffs: [...agent.handoffs],
    })),
  };
}
