/** `.env` loading: the project's secrets file fills in what the shell has not already set. */
import fs from "node:fs";
import path from "node:path";
import dotenv from "dotenv";
import { ConfigError } from "../errors";

/**
 * Loads `<dir>/.env` into process.env without overriding variables that are already set (the shell, a
 * container or CI wins over the file). Returns the keys it set. A missing file is not an error.
 */
export function loadEnv(dir: string): string[] {
  const file = path.join(dir, ".env");
  if (!fs.existsSync(file)) return [];
  const before = new Set(Object.keys(process.env));
  // quiet: dotenv 17 otherwise prints an advert line on every load.
  const result = dotenv.config({ path: file, override: false, quiet: true });
  if (result.error) throw new ConfigError(`.env: cannot read ${file} (${result.error.message})`);
  return Object.keys(result.parsed ?? {}).filter((key) => !before.has(key));
}
