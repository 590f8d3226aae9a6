/**
 * An MCP server's tools as klisk `Tool`s: the runner calls them like any tool(...). Their errors (an isError
 * result, a protocol error, a server that went away) go back to the model as the tool's output (onError
 * "return"), as MCP intends: a failing remote tool never ends the run.
 */
import { tool, type JsonSchema, type Tool, type ToolContext } from "../../sdk/tool";

/** What tools/list says about one tool (the fields klisk uses). */
export interface McpToolInfo {
  name: string;
  description?: string;
  inputSchema?: JsonSchema;
}

/** The parts of a tools/call result klisk turns into text. */
export interface McpCallResult {
  content?: Array<Record<string, unknown>>;
  structuredContent?: unknown;
  isError?: boolean;
}

export type McpCall = (tool: string, args: Record<string, unknown>, signal: AbortSignal) => Promise<McpCallResult>;

/** An isError result: its text is what the model sees, after "Tool 'x' raised: McpToolError: ". */
export class McpToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "McpToolError";
  }
}

const MODEL_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Model APIs accept 1-64 of [a-zA-Z0-9_-]; MCP names may hold dots or slashes. */
export function modelToolName(name: string): string {
  if (MODEL_TOOL_NAME.test(name)) return name;
  return (name.replace(/[^a-zA-Z0-9_-]/g, "_") || "tool").slice(0, 64);
}

export function mcpTool(server: string, info: McpToolInfo, call: McpCall): Tool<Record<string, unknown>> {
  return tool<Record<string, unknown>>({
    name: modelToolName(info.name),
    description: info.description ?? "",
    // Object schemas only (the spec says so); the server validates the arguments itself.
    parameters: { type: "object", properties: {}, ...(info.inputSchema ?? {}) },
    onError: "return",
    async execute(args, ctx: ToolContext) {
      const result = await call(info.name, args, ctx.signal);
      const text = resultText(result);
      if (result.isError) throw new McpToolError(text || `MCP server '${server}' reported an error`);
      return text;
    },
  });
}

/** Text parts as they are; other parts (images, audio, resources) as JSON without their bulky payloads. */
export function resultText(result: McpCallResult): string {
  const content = Array.isArray(result.content) ? result.content : [];
  if (content.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return content
    .map((part) => {
      if (part.type === "text" && typeof part.text === "string") return part.text;
      const { data, blob, ...rest } = part as Record<string, unknown> & { resource?: Record<string, unknown> };
      const shown: Record<string, unknown> = { ...rest };
      if (typeof data === "string") shown.data = `(${Math.floor((data.length * 3) / 4)} bytes of base64)`;
      if (typeof blob === "string") shown.blob = `(${Math.floor((blob.length * 3) / 4)} bytes of base64)`;
      const resource = rest.resource as Record<string, unknown> | undefined;
      if (resource && typeof resource.blob === "string") shown.resource = { ...resource, blob: `(${Math.floor((resource.blob.length * 3) / 4)} bytes of base64)` };
      return JSON.stringify(shown);
    })
    .join("\n");
}
