/**
 * Model names → adapters (see providers.ts for the routing). SDK errors are translated here, once, into
 * ModelError / AbortedError with a message a user can act on.
 */
import type OpenAI from "openai";
import { AbortedError, KliskError, ModelError } from "../../errors";
import { log } from "../../log";
import type { Model, ModelEvent, ModelRequest } from "./model";
import { chatModel } from "./chat";
import { responsesModel } from "./responses";
import { DEFAULT_UPSTREAM_CONNECTIONS, upstreamFetch } from "./transport";
import { apiKeyFor, providerTarget, type ProviderTarget, type ProvidersConfig } from "../../project/providers";

export { providerTarget, knownProviders, type ProvidersConfig } from "../../project/providers";

const clients = new Map<string, OpenAI>();

function clientFor(target: ProviderTarget, connections: number): OpenAI {
  const found = apiKeyFor(target);
  if ("missing" in found) throw new ModelError(found.missing);
  const apiKey = found.key;
  const key = JSON.stringify([target.baseURL, apiKey, target.headers, process.env.KLISK_MAX_RETRIES, connections]);
  let client = clients.get(key);
  if (!client) {
    // Loaded on first use so start-up does not pay for the SDK.
    const { OpenAI: OpenAIClient } = require("openai") as typeof import("openai");
    // The SDK retries 429/5xx/connection errors with backoff; KLISK_MAX_RETRIES tunes it (tests use 0).
    const maxRetries = Number.parseInt(process.env.KLISK_MAX_RETRIES ?? "", 10);
    client = new OpenAIClient({
      apiKey,
      baseURL: target.baseURL,
      defaultHeaders: { ...target.headers },
      maxRetries: Number.isNaN(maxRetries) ? 2 : maxRetries,
      logger: sdkLogger,
      fetch: upstreamFetch(connections),
    });
    clients.set(key, client);
  }
  return client;
}

/** The SDK's own complaints (e.g. an unparsable stream line) go to our log, not to stdout. */
const sdkLogger = {
  error: (message: string) => log.warn({ source: "openai" }, message),
  warn: (message: string) => log.warn({ source: "openai" }, message),
  info: (message: string) => log.debug({ source: "openai" }, message),
  debug: (message: string) => log.debug({ source: "openai" }, message),
};

/** How upstream calls are made: `limits.upstream_connections` (connections per upstream origin). */
export interface UpstreamOptions {
  connections?: number;
}

/**
 * Resolves a model name to a Model whose stream throws only KliskErrors. `providers` is the project's
 * `config.providers`. An unknown provider throws ConfigError; a missing key throws ModelError.
 */
export function resolveModel(model: string, providers: ProvidersConfig = {}, upstream: UpstreamOptions = {}): Model {
  const target = providerTarget(model, providers);
  const client = clientFor(target, upstream.connections ?? DEFAULT_UPSTREAM_CONNECTIONS);
  const inner = target.api === "chat" ? chatModel(client, target.label, target.modelName) : responsesModel(client, target.label, target.modelName);
  return {
    provider: inner.provider,
    providerKey: target.provider,
    name: inner.name,
    api: inner.api,
    // A plain iterator rather than `yield*` in another async generator: one promise per event, not a
    // generator hop (each token passes through here).
    stream(request: ModelRequest): AsyncIterable<ModelEvent> {
      const translate = (err: unknown): never => {
        throw translateError(err, target, request.signal);
      };
      return {
        [Symbol.asyncIterator]: () => {
          const events = inner.stream(request)[Symbol.asyncIterator]();
          return {
            next: () => events.next().then(undefined, translate),
            return: (value?: unknown) => (events.return ? events.return(value).then(undefined, translate) : Promise.resolve({ done: true as const, value: undefined })),
          };
        },
      };
    },
  };
}

/** undici (and socket) error codes that mean the answer's body was cut off. */
const BODY_CUT_CODES = new Set(["UND_ERR_SOCKET", "UND_ERR_BODY_TIMEOUT", "UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "ECONNRESET", "EPIPE"]);

function translateError(err: unknown, target: ProviderTarget, signal: AbortSignal): KliskError {
  if (signal.aborted) return signal.reason instanceof KliskError ? signal.reason : new AbortedError();
  if (err instanceof KliskError) return err;
  // Already loaded by clientFor; the SDK's error classes all report name "Error", so match by class.
  const sdk = require("openai") as typeof import("openai");
  const e = err as { name?: string; message?: string; error?: { message?: string } };
  const detail = e.error?.message ?? e.message ?? String(err);
  const where = target.baseURL ? ` at ${target.baseURL}` : "";
  if (err instanceof sdk.APIUserAbortError) return new AbortedError();
  if (err instanceof sdk.APIConnectionTimeoutError) return new ModelError(`${target.label} did not answer in time: ${detail}`, undefined, "timeout");
  if (err instanceof sdk.APIConnectionError) {
    const cause = (err.cause as { cause?: { code?: string } } | undefined)?.cause?.code ?? (err.cause as { code?: string } | undefined)?.code;
    return new ModelError(`Could not reach ${target.label}${where}: ${detail}${cause ? ` (${cause})` : ""}`, undefined, "network");
  }
  // JSON.parse on a stream line: the upstream (or a proxy in between) sent something that is not SSE JSON.
  if (e.name === "SyntaxError") return new ModelError(`${target.label} sent malformed stream data: ${detail}`);
  // The socket closed (or went silent past undici's body timeout) while the body was still streaming: undici's
  // own errors, or fetch's TypeError "terminated" (a dispatcher from another realm). Matched by name and code.
  const code = (err as { code?: unknown }).code;
  if ((e.name === "TypeError" && /terminated|other side closed/i.test(detail)) || (typeof code === "string" && BODY_CUT_CODES.has(code))) {
    return new ModelError(`The connection to ${target.label} was cut mid-stream; try again`, undefined, "network");
  }
  if (err instanceof sdk.APIError && typeof err.status === "number") {
    if (err.status === 401 || err.status === 403) {
      const check = target.apiKeyVar ?? `the '${target.provider}' provider in klisk.config.yaml (api_key_env, headers)`;
      return new ModelError(`Authentication with ${target.label} failed: check ${check}`, err.status);
    }
    if (err.status === 429) return new ModelError(`${target.label} rate limit or quota exceeded (429): ${detail}`, 429);
    return new ModelError(`${target.label} API error (${err.status}): ${detail}`, err.status);
  }
  // An APIError without a status is an error object sent inside the stream.
  if (err instanceof sdk.APIError) return new ModelError(`${target.label} stream error: ${detail}`);
  return new ModelError(`${target.label} request failed: ${detail}`, undefined, "network");
}
