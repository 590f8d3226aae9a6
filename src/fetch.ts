/** `klisk/fetch`: klisk's API as a `(request: Request) => Promise<Response>` handler (see docs/embedding.md). */
export { createFetchHandler } from "./server/fetchHandler";
export type { FetchHandler, FetchHandlerOptions } from "./server/fetchHandler";
