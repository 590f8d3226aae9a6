/**
 * Load-time checks of each agent's model against the providers we know, so a typo or a setting the API
 * cannot honour shows up at `klisk serve` / `klisk check`, not at the first chat.
 */
import { ConfigError } from "../errors";
import type { Agent, ModelSettings } from "../sdk/agent";
import { providerTarget, type ProvidersConfig } from "./providers";

const KNOWN_SETTINGS: ReadonlyArray<keyof ModelSettings> = [
  "temperature", "topP", "maxOutputTokens", "reasoningEffort", "reasoningSummary", "parallelToolCalls", "extraBody",
];

/** What each API cannot send; the adapter leaves these out, and the user hears about it here. */
const UNSUPPORTED: Record<"chat" | "responses", ReadonlyArray<keyof ModelSettings>> = {
  chat: ["reasoningSummary"],
  responses: [],
};

/**
 * Throws ConfigError for an unknown provider prefix (listing the known ones) and for hosted tools on a
 * Chat Completions model. Returns warnings for modelSettings that are unknown or unsupported by the API.
 */
export function checkAgentModels(agents: readonly Agent[], providers: ProvidersConfig = {}): string[] {
  const warnings: string[] = [];
  for (const agent of agents) {
    let api: "chat" | "responses";
    try {
      api = providerTarget(agent.model, providers).api;
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`Agent '${agent.name}': ${err.message}`, err.hint);
      throw err;
    }
    if (api === "chat" && agent.builtinTools.length > 0) {
      throw new ConfigError(
        `Agent '${agent.name}': builtinTools (${agent.builtinTools.join(", ")}) need an OpenAI Responses model, but '${agent.model}' uses Chat Completions.`,
        "Remove builtinTools from this agent, or give it an OpenAI model (or a custom provider with api: responses).",
      );
    }
    for (const key of Object.keys(agent.modelSettings)) {
      if (!KNOWN_SETTINGS.includes(key as keyof ModelSettings)) {
        warnings.push(`Agent '${agent.name}': unknown modelSettings key '${key}' is ignored (known: ${KNOWN_SETTINGS.join(", ")})`);
      } else if (UNSUPPORTED[api].includes(key as keyof ModelSettings)) {
        warnings.push(`Agent '${agent.name}': modelSettings.${key} is not supported by the ${api === "chat" ? "Chat Completions" : "Responses"} API of '${agent.model}' and is ignored`);
      }
    }
  }
  return warnings;
}
