/**
 * Neutral conversation items (Responses input shape) → Chat Completions messages. Lenient on purpose:
 * the items may come from a client's `conversation_history`, in any of the Responses API's spellings.
 */
import type { InputItem } from "./model";

type Part = Record<string, any>;
export type ChatMessage = Record<string, unknown>;
type AssistantMessage = { role: "assistant"; content: string | null; tool_calls?: unknown[] };

export function toChatMessages(instructions: string, items: readonly InputItem[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (instructions) messages.push({ role: "system", content: instructions });
  // The assistant message the next function_call joins: Chat puts a turn's text and calls in one message.
  let openAssistant: AssistantMessage | undefined;
  for (const raw of items) {
    const item = raw as Record<string, any>;
    if (item.type === "function_call") {
      const call = { id: String(item.call_id), type: "function", function: { name: String(item.name), arguments: String(item.arguments ?? "") } };
      if (openAssistant) {
        (openAssistant.tool_calls ??= []).push(call);
      } else {
        openAssistant = { role: "assistant", content: null, tool_calls: [call] };
        messages.push(openAssistant);
      }
    } else if (item.type === "function_call_output") {
      openAssistant = undefined;
      messages.push({ role: "tool", tool_call_id: String(item.call_id), content: outputText(item.output) });
    } else if (item.role === "assistant") {
      openAssistant = { role: "assistant", content: assistantText(item.content) };
      messages.push(openAssistant);
    } else if (item.role === "user") {
      openAssistant = undefined;
      messages.push({ role: "user", content: userContent(item.content) });
    }
    // Reasoning items and anything unknown have no Chat Completions form: skipped.
  }
  return messages;
}

function outputText(output: unknown): string {
  if (typeof output === "string") return output;
  if (Array.isArray(output)) return output.map((p: Part) => p?.text ?? "").join("");
  return JSON.stringify(output ?? "");
}

function assistantText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p: Part) => (typeof p?.text === "string" ? p.text : typeof p?.refusal === "string" ? p.refusal : "")).join("");
}

/** Text-only content becomes a plain string: some OpenAI-compatible servers accept nothing else. */
function userContent(content: unknown): string | Part[] {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  const parts = content.flatMap((p: Part) => chatPart(p));
  return parts.every((p) => p.type === "text") ? parts.map((p) => p.text).join("\n") : parts;
}

function chatPart(part: Part): Part[] {
  switch (part?.type) {
    case "input_text":
    case "text":
      return [{ type: "text", text: String(part.text ?? "") }];
    case "input_image": {
      const url = typeof part.image_url === "string" ? part.image_url : part.image_url?.url;
      if (!url) return [];
      return [{ type: "image_url", image_url: { url, ...(part.detail ? { detail: part.detail } : {}) } }];
    }
    case "input_file":
      return [{ type: "file", file: { filename: part.filename ?? "file.pdf", file_data: part.file_data } }];
    default:
      return [];
  }
}
