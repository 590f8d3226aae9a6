/**
 * Model names → adapters. `gpt-…`, `o…`, any name without "/" and `openai/<model>` go to the OpenAI
 * Responses API. SDK errors are translated here, once, into ModelError / AbortedError with a message a
 * user can act on.
 */
import type OpenAI from "openai";
import { AbortedError, ConfigError, KliskError, ModelError } from "../../errors";
import type { Model, ModelEvent, ModelRequest } from "./model";
import { responsesModel } from "./responses";

interface ProviderTarget {
  provider: string;
  label: string;
  modelName: string;
  apiKeyVar: string;
  baseURL?: string;
}

/** Which provider a model name goes to; throws ConfigError for one we do not know. */
export function parseModelName(model: string): ProviderTarget {
  const slash = model.indexOf("/");
  const provider = slash === -1 ? "openai" : model.slice(0, slash);
  const modelName = slash === -1 ? model : model.slice(slash + 1);
  if (provider !== "openai") {
    throw new ConfigError(`Unknown model provider '${provider}' in model '${model}'. Known providers: openai.`);
  }
  return { provider, label: "OpenAI", modelName, apiKeyVar: "OPENAI_API_KEY", baseURL: process.env.OPENAI_BASE_URL || undefined };
}

const clients = new Map<string, OpenAI>();

function clientFor(target: ProviderTarget): OpenAI {
  const apiKey = process.env[target.apiKeyVar];
  if (!apiKey) {
    throw new ModelError(`${target.apiKeyVar} is not set. Add it to the project's .env file or the environment.`);
  }
  const key = `${target.baseURL ?? ""}\n${apiKey}\n${process.env.KLISK_MAX_RETRIES ?? ""}`;
  let client = clients.get(key);
  if (!client) {
    // Loaded on first use so start-up does not pay for the SDK.
    const { OpenAI: OpenAIClient } = require("openai") as typeof import("openai");
    // The SDK retries 429/5xx/connection errors with backoff; KLISK_MAX_RETRIES tunes it (tests use 0).
    const maxRetries = Number.parseInt(process.env.KLISK_MAX_RETRIES ?? "", 10);
    client = new OpenAIClient({ apiKey, baseURL: target.baseURL, maxRetries: Number.isNaN(maxRetries) ? 2 : maxRetries });
    clients.set(key, client);
  }
  return client;
}

/** Resolves a model name to a Model whose stream throws only KliskErrors. */
export function resolveModel(model: string): Model {
  const target = parseModelName(model);
  const inner = responsesModel(clientFor(target), target.label, target.modelName);
  return {
    provider: inner.provider,
    name: inner.name,
    async *stream(request: ModelRequest): AsyncGenerator<ModelEvent> {
      try {
        yield* inner.stream(request);
      } catch (err) {
        throw translateError(err, target, request.signal);
      }
    },
  };
}

function translateError(err: unknown, target: ProviderTarget, signal: AbortSignal): KliskError {
  if (signal.aborted) return signal.reason instanceof KliskError ? signal.reason : new AbortedError();
  if (err instanceof KliskError) return err;
  const e = err as { name?: string; status?: number; message?: string; error?: { message?: string } };
  const detail = e.error?.message ?? e.message ?? String(err);
  if (e.name === "APIUserAbortError") return new AbortedError();
  if (e.name === "APIConnectionTimeoutError") return new ModelError(`${target.label} did not answer in time: ${detail}`);
  if (e.name === "APIConnectionError") {
    return new ModelError(`Could not reach ${target.label}${target.baseURL ? ` at ${target.baseURL}` : ""}: ${detail}`);
  }
  if (typeof e.status === "number") {
    if (e.status === 401 || e.status === 403) {
      return new ModelError(`Authentication with ${target.label} failed: check ${target.apiKeyVar}`, e.status);
    }
    if (e.status === 429) return new ModelError(`${target.label} rate limit or quota exceeded (429): ${detail}`, 429);
    return new ModelError(`${target.label} API error (${e.status}): ${detail}`, e.status);
  }
  return new ModelError(`${target.label} request failed: ${detail}`);
}
