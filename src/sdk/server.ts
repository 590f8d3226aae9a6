/**
 * The project's hook into `klisk serve`'s Express app: export `configureServer` from the entry file to add
 * middleware and routes (helmet, your own auth, a webhook). It runs once at start-up, after klisk's request
 * log and CORS and before klisk's routes, so what it adds sees every request first.
 */
import type { Express } from "express";

export type ConfigureServer = (app: Express) => void | Promise<void>;

export const CONFIGURE_SERVER_EXPORT = "configureServer";
