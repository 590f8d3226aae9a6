/**
 * Ids the protocol adapters mint for messages and completions. 96 random bits in 16 base64url characters:
 * as unique as a UUID needs to be here, and AG-UI and OpenAI repeat the id in every token frame, so 20
 * bytes less per token on the wire.
 */
import { randomBytes } from "node:crypto";

export function newId(prefix: string): string {
  return prefix + randomBytes(12).toString("base64url");
}
