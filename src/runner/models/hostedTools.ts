/**
 * Hosted (OpenAI-run) tools on the Responses API: what to ask for in the request, and how their output
 * items become `hosted_tool` events. The original klisk dropped these silently; a UI wants to show what
 * was searched, which sources were used, what code ran and the generated image.
 */
import type { BuiltinToolConfig } from "../../sdk/agent";
import type { ModelEvent } from "./model";

/** Sources, hits and logs are only in the output items when the request asks for them. */
const INCLUDES: Record<string, string> = {
  web_search: "web_search_call.action.sources",
  file_search: "file_search_call.results",
  code_interpreter: "code_interpreter_call.outputs",
};

export function hostedToolIncludes(tools: readonly BuiltinToolConfig[]): string[] {
  return tools.flatMap((t) => (INCLUDES[t.type] ? [INCLUDES[t.type]] : []));
}

const ITEM_TOOLS: Record<string, string> = {
  web_search_call: "web_search",
  file_search_call: "file_search",
  code_interpreter_call: "code_interpreter",
  image_generation_call: "image_generation",
};

export function isHostedToolItem(item: { type?: unknown } | undefined): boolean {
  return typeof item?.type === "string" && Object.hasOwn(ITEM_TOOLS, item.type);
}

/**
 * One finished hosted-tool output item → a hosted_tool event. `arguments` says what the tool was asked
 * (JSON); `output` is JSON for search and code, and a data URL for a generated image (renderable as is).
 */
export function hostedToolEvent(item: any): Extract<ModelEvent, { type: "hosted_tool" }> {
  const name = ITEM_TOOLS[item.type];
  const event = (args: unknown, output: string) => ({
    type: "hosted_tool" as const,
    callId: String(item.id ?? ""),
    name,
    arguments: JSON.stringify(args ?? {}),
    output,
  });
  switch (item.type) {
    case "web_search_call": {
      const { sources, ...action } = item.action ?? {};
      return event(action, JSON.stringify({ status: item.status, sources: sources ?? [] }));
    }
    case "file_search_call": {
      const results = (item.results ?? []).map((r: any) => ({ file_id: r.file_id, filename: r.filename, score: r.score, text: r.text }));
      return event({ queries: item.queries ?? [] }, JSON.stringify({ status: item.status, results }));
    }
    case "code_interpreter_call": {
      const outputs: any[] = item.outputs ?? [];
      const logs = outputs.filter((o) => o.type === "logs").map((o) => o.logs).join("");
      const images = outputs.filter((o) => o.type === "image").map((o) => o.url);
      return event({ code: item.code ?? "" }, JSON.stringify({ status: item.status, logs, images }));
    }
    default: {
      // image_generation_call: `result` is the base64 image.
      const format = typeof item.output_format === "string" ? item.output_format : "png";
      const output = item.result ? `data:image/${format};base64,${item.result}` : JSON.stringify({ status: item.status });
      return event(item.revised_prompt ? { prompt: item.revised_prompt } : {}, output);
    }
  }
}
