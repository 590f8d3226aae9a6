/**
 * Where a model name goes (config knowledge: the project loader checks it, runner/models/ connects by it): `gpt-…`, `o…`, any name without "/" and `openai/<model>` → OpenAI Responses;
 * `<provider>/<model>` → a built-in preset or a custom provider from `klisk.config.yaml`. Everything here
 * is plain data, so the load-time check and the resolver agree on every decision.
 */
import { ConfigError } from "../errors";
import type { ProviderConfig } from "./config";

/** The two wire APIs a model is reached through (the adapters live in runner/models/). */
export type ModelApi = "responses" | "chat";

/** `providers:` from klisk.config.yaml (custom names win over presets of the same name). */
export type ProvidersConfig = Readonly<Record<string, ProviderConfig>>;

interface Preset {
  label: string;
  baseURL: string;
  /** Local servers run without a key; `<NAME>_API_KEY` is still used when set (e.g. vLLM --api-key). */
  local?: boolean;
}

/** OpenAI-compatible Chat Completions endpoints. `<NAME>_BASE_URL` overrides the URL (proxies, tests). */
export const PRESETS: Readonly<Record<string, Preset>> = {
  anthropic: { label: "Anthropic", baseURL: "https://api.anthropic.com/v1/" },
  gemini: { label: "Google Gemini", baseURL: "https://generativelanguage.googleapis.com/v1beta/openai/" },
  mistral: { label: "Mistral", baseURL: "https://api.mistral.ai/v1" },
  groq: { label: "Groq", baseURL: "https://api.groq.com/openai/v1" },
  deepseek: { label: "DeepSeek", baseURL: "https://api.deepseek.com/v1" },
  openrouter: { label: "OpenRouter", baseURL: "https://openrouter.ai/api/v1" },
  xai: { label: "xAI", baseURL: "https://api.x.ai/v1" },
  together: { label: "Together AI", baseURL: "https://api.together.xyz/v1" },
  fireworks: { label: "Fireworks AI", baseURL: "https://api.fireworks.ai/inference/v1" },
  ollama: { label: "Ollama", baseURL: "http://localhost:11434/v1", local: true },
  lmstudio: { label: "LM Studio", baseURL: "http://localhost:1234/v1", local: true },
  vllm: { label: "vLLM", baseURL: "http://localhost:8000/v1", local: true },
};

/** Everything the resolver needs to build a client for one model. */
export interface ProviderTarget {
  /** The prefix as written ("openai", "groq", a custom name). */
  provider: string;
  /** For messages: "OpenAI", "Groq", or the custom provider's name. */
  label: string;
  api: ModelApi;
  modelName: string;
  /** The variable holding the key; undefined when the provider needs none. */
  apiKeyVar?: string;
  /** Whether a missing key is an error (false for local servers and custom providers without api_key_env). */
  keyRequired: boolean;
  baseURL?: string;
  headers: Readonly<Record<string, string>>;
}

export function knownProviders(custom: ProvidersConfig = {}): string[] {
  return [...new Set(["openai", ...Object.keys(PRESETS), ...Object.keys(custom)])];
}

/** Splits `provider/model` at the first "/" (OpenRouter models carry their own slash). */
export function splitModelName(model: string): { provider: string; modelName: string } {
  const slash = model.indexOf("/");
  return slash === -1 ? { provider: "openai", modelName: model } : { provider: model.slice(0, slash), modelName: model.slice(slash + 1) };
}

/** Which provider a model name goes to; throws ConfigError (listing the known ones) for an unknown prefix. */
export function providerTarget(model: string, custom: ProvidersConfig = {}, env: NodeJS.ProcessEnv = process.env): ProviderTarget {
  const { provider, modelName } = splitModelName(model);
  const own = Object.hasOwn(custom, provider) ? custom[provider] : undefined;
  if (own) {
    return {
      provider,
      label: provider,
      api: own.api,
      modelName,
      apiKeyVar: own.api_key_env,
      keyRequired: own.api_key_env !== undefined,
      baseURL: own.base_url,
      headers: own.headers ?? {},
    };
  }
  if (provider === "openai") {
    return { provider, label: "OpenAI", api: "responses", modelName, apiKeyVar: "OPENAI_API_KEY", keyRequired: true, baseURL: env.OPENAI_BASE_URL || undefined, headers: {} };
  }
  const preset = Object.hasOwn(PRESETS, provider) ? PRESETS[provider] : undefined;
  if (!preset) {
    throw new ConfigError(
      `Unknown model provider '${provider}' in model '${model}'. Known providers: ${knownProviders(custom).join(", ")}.`,
      "Use one of them, or add it under 'providers:' in klisk.config.yaml with a base_url.",
    );
  }
  const envName = provider.toUpperCase();
  return {
    provider,
    label: preset.label,
    api: "chat",
    modelName,
    apiKeyVar: `${envName}_API_KEY`,
    keyRequired: !preset.local,
    baseURL: env[`${envName}_BASE_URL`] || preset.baseURL,
    headers: {},
  };
}

/** The key to send, or an error message when a required one is missing. */
export function apiKeyFor(target: ProviderTarget, env: NodeJS.ProcessEnv = process.env): { key: string } | { missing: string } {
  const key = target.apiKeyVar ? env[target.apiKeyVar] : undefined;
  if (key) return { key };
  if (target.keyRequired) {
    return { missing: `${target.apiKeyVar} is not set. Add it to the project's .env file or the environment.` };
  }
  // The SDK insists on some key; keyless servers ignore the header.
  return { key: "klisk-no-key" };
}
