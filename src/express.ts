/** `klisk/express`: klisk's API as an Express router for your own app (see docs/embedding.md). */
export { createKliskRouter } from "./server/embed";
export type { AttachOptions, KliskRouter, KliskRouterOptions } from "./server/embed";
export type { ConfigureServer } from "./sdk/server";
