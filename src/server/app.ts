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
import { stateSigner, type StateSigner } from "../runner/stateSigning";
import { corsOrigins, resolveServerLimits, trustProxy, type ServerLimits } from "./limits";
import { createRateLimiter, type RateLimiter } from "./rateLimit";
import { requestLog } from "./requestLog";
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
  /** Signs returned states and checks returned ones. Defaults to KLISK_STATE_SECRET; null turns signing off. */
  signer?: StateSigner | null;
  /** Shared with the WebSocket server (one budget per client). Defaults to limits.rateLimit; null turns it off. */
  rateLimiter?: RateLimiter | null;
}

export const defaultLogger: Logger = (message) => log.error({}, message);

export function createApp(project: Project, options: AppOptions = {}): Express {
  const keys = options.keys ?? loadApiKeys();
  const limits = options.limits ?? resolveServerLimits(project);
  const runs = options.runs ?? new RunRegistry(limits.maxConcurrentRuns);
  const log = options.log ?? defaultLogger;
  const signer = options.signer === undefined ? stateSigner() : options.signer ?? undefined;
  const rateLimiter = options.rateLimiter === undefined ? defaultRateLimiter(limits, keys) : options.rateLimiter ?? undefined;

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("trust proxy", trustProxy(project));

  app.use(requestLog());
  app.use(cors(corsOrigins(project)));
  app.use(availability(runs));

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/api/info", (_req, res) => {
    res.json({ ...projectInfo(project, keys), ...uiInfo(project) });
  });
  // Rate limit, then auth, before body parsing: an unauthenticated client must not make us read a 30 MB body.
  const chat = [auth(keys), jsonBody(limits.maxBodyBytes), chatRoute(project, { limits, runs, log, signer })];
  app.post("/api/chat", ...(rateLimiter ? [rateLimiter.middleware, ...chat] : chat));

  // The chat page at /, its files under /ui/, and /widget.js (each can be disabled in deploy.*).
  app.use(uiRoutes(project));
  app.use(notFound());
  app.use(errorHandler(log));
  return app;
}

export function defaultRateLimiter(limits: ServerLimits, keys: ApiKeys): RateLimiter | undefined {
  return limits.rateLimit ? createRateLimiter(limits.rateLimit, keys) : undefined;
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
