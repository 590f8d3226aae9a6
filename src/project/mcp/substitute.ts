/**
 * `${NAME}` in mcp_servers values (commands, args, env, urls, headers): secrets stay in .env or the
 * environment, never in klisk.config.yaml. `${NAME:-fallback}` uses the fallback when NAME is unset or empty;
 * `$${` writes a literal `${`. Done when a server starts, so the resolved config never holds a secret.
 */
import { ConfigError } from "../../errors";
import { CONFIG_FILE } from "../config";

const REFERENCE = /\$(\$)?\{([^}]*)\}/g;

/** `value` with every `${NAME}` replaced; an unset NAME without a fallback is a ConfigError naming `where`. */
export function substituteEnv(value: string, where: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(REFERENCE, (whole, escaped: string | undefined, body: string) => {
    if (escaped) return whole.slice(1);
    const [, name, fallback] = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body) ?? [];
    if (!name) {
      throw new ConfigError(`${CONFIG_FILE}: ${where}: '${whole}' is not a variable reference; write \${NAME} or \${NAME:-default}`);
    }
    const found = env[name];
    if (found !== undefined && found !== "") return found;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${CONFIG_FILE}: ${where} uses \${${name}}, which is not set`, `Add ${name} to .env or the environment.`);
  });
}

/** Every value of a string mapping substituted (keys stay as written). */
export function substituteAll(values: Readonly<Record<string, string>>, where: string, env?: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) out[key] = substituteEnv(value, `${where}.${key}`, env);
  return out;
}
