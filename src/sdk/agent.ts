/**
 * `defineAgent()` and the registry it writes to. The registry lives on globalThis under a registered
 * symbol: a project's `import "klisk"` may be served by another module instance than the CLI's (jiti,
 * test runners), and both must see the same agents.
 */
import { UserError } from "../errors";
import { isTool, type Tool } from "./tool";
import { unknownOptionWarnings } from "./suggest";

export const BUILTIN_TOOL_NAMES = ["web_search", "file_search", "code_interpreter", "image_generation"] as const;
export type BuiltinToolName = (typeof BUILTIN_TOOL_NAMES)[number];
/**
 * A hosted tool with options, e.g. `{ type: "file_search", vector_store_ids: ["vs_..."] }`. Fields other
 * than `type` go to the Responses API as-is.
 */
export interface BuiltinToolConfig {
  type: BuiltinToolName;
  vector_store_ids?: string[];
  [option: string]: unknown;
}
/** OpenAI hosted tools (Responses API only): a name, or a config object for options. */
export type BuiltinTool = BuiltinToolName | BuiltinToolConfig;

export interface ModelSettings {
  temperature?: number;
  topP?: number;
  maxOutputTokens?: number;
  reasoningEffort?: "minimal" | "low" | "medium" | "high";
  reasoningSummary?: "auto" | "concise" | "detailed";
  parallelToolCalls?: boolean;
  /** Extra fields merged into the request body as-is. */
  extraBody?: Record<string, unknown>;
}

export interface AgentOptions {
  name: string;
  instructions?: string;
  model?: string;
  tools?: Tool[];
  builtinTools?: BuiltinTool[];
  /** Other agents this one can hand the conversation to, by name or object. */
  handoffs?: Array<string | Agent>;
  modelSettings?: ModelSettings;
  /** MCP servers (names from `mcp_servers` in klisk.config.yaml) whose tools this agent may call. */
  mcpServers?: string[];
  /** Only these MCP tools (by the server's tool name) are offered; unset = all of the servers' tools. */
  allowedTools?: string[];
}

export interface Agent {
  readonly kind: "agent";
  readonly name: string;
  readonly instructions: string;
  readonly model: string;
  readonly tools: readonly Tool[];
  /** Hosted tool names, for listings. */
  readonly builtinTools: readonly BuiltinToolName[];
  /** The same tools in request shape (defaults filled in), for the model adapter. */
  readonly builtinToolConfigs: readonly BuiltinToolConfig[];
  readonly handoffs: readonly string[];
  readonly modelSettings: Readonly<ModelSettings>;
  readonly mcpServers: readonly string[];
  /** undefined = every tool of the agent's MCP servers. */
  readonly allowedTools?: readonly string[];
}

export const DEFAULT_MODEL = "gpt-5.2";

const AGENT_OPTIONS: ReadonlyArray<keyof AgentOptions> = ["name", "instructions", "model", "tools", "builtinTools", "handoffs", "modelSettings", "mcpServers", "allowedTools"];

const REGISTRY_KEY = Symbol.for("klisk.agentRegistry");
const WARNINGS_KEY = Symbol.for("klisk.definitionWarnings");
type GlobalWithRegistry = typeof globalThis & { [REGISTRY_KEY]?: Agent[]; [WARNINGS_KEY]?: string[] };

/** Agents defined since the last reset, in definition order. */
export function registeredAgents(): Agent[] {
  const g = globalThis as GlobalWithRegistry;
  return (g[REGISTRY_KEY] ??= []);
}

/** Unknown options the defined agents and their tools were given, each once, for the loader to report. */
export function definitionWarnings(): string[] {
  const g = globalThis as GlobalWithRegistry;
  return (g[WARNINGS_KEY] ??= []);
}

/** Called by the loader before it imports an entry file. */
export function resetRegistry(): void {
  (globalThis as GlobalWithRegistry)[REGISTRY_KEY] = [];
  (globalThis as GlobalWithRegistry)[WARNINGS_KEY] = [];
}

export function isAgent(value: unknown): value is Agent {
  return typeof value === "object" && value !== null && (value as Agent).kind === "agent" && typeof (value as Agent).name === "string";
}

/** Builds an agent from options and registers it. The first defined agent is the default. */
export function defineAgent(options: AgentOptions): Agent {
  const agent = createAgent(options);
  const agents = registeredAgents();
  if (agents.some((a) => a.name === agent.name)) {
    throw new UserError(`Duplicate agent name '${agent.name}': each agent needs a unique name.`);
  }
  agents.push(agent);
  const warnings = definitionWarnings();
  // modelSettings keys are checked with the model (project/modelCheck.ts).
  const found = [
    ...unknownOptionWarnings(`Agent '${agent.name}'`, options, AGENT_OPTIONS),
    ...agent.tools.flatMap((t) => t.optionWarnings ?? []),
  ];
  for (const warning of found) if (!warnings.includes(warning)) warnings.push(warning);
  return agent;
}

function createAgent(options: AgentOptions): Agent {
  if (!options || typeof options !== "object") throw new UserError("defineAgent() needs an options object with at least a name.");
  const { name } = options;
  if (typeof name !== "string" || name.trim() === "") throw new UserError("defineAgent(): 'name' must be a non-empty string.");
  if (options.instructions !== undefined && typeof options.instructions !== "string") {
    throw new UserError(`Agent '${name}': 'instructions' must be a string.`);
  }
  if (options.model !== undefined && (typeof options.model !== "string" || options.model.trim() === "")) {
    throw new UserError(`Agent '${name}': 'model' must be a non-empty string such as "gpt-5.2".`);
  }
  const tools = options.tools ?? [];
  if (!Array.isArray(tools)) throw new UserError(`Agent '${name}': 'tools' must be an array of tool(...) values.`);
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    if (!isTool(t)) throw new UserError(`Agent '${name}': tools[${i}] is not a tool; create it with tool({ name, parameters, execute }).`);
    if (seen.has(t.name)) throw new UserError(`Agent '${name}': two tools are named '${t.name}'.`);
    seen.add(t.name);
  });
  const handoffs = (options.handoffs ?? []).map((h, i) => {
    if (typeof h === "string") return h;
    if (isAgent(h)) return h.name;
    throw new UserError(`Agent '${name}': handoffs[${i}] must be an agent name or an agent object.`);
  });
  const mcpServers = stringList(name, "mcpServers", options.mcpServers, 'names of servers from mcp_servers in klisk.config.yaml, e.g. ["github"]') ?? [];
  const allowedTools = stringList(name, "allowedTools", options.allowedTools, 'MCP tool names, e.g. ["search_issues"]');
  const builtinToolConfigs = (options.builtinTools ?? []).map((t, i) => builtinToolConfig(name, t, i));
  return Object.freeze({
    kind: "agent" as const,
    name,
    instructions: options.instructions ?? "",
    model: options.model ?? DEFAULT_MODEL,
    tools: Object.freeze([...tools]),
    builtinTools: Object.freeze(builtinToolConfigs.map((t) => t.type)),
    builtinToolConfigs: Object.freeze(builtinToolConfigs),
    handoffs: Object.freeze(handoffs),
    modelSettings: Object.freeze({ ...(options.modelSettings ?? {}) }),
    mcpServers: Object.freeze(mcpServers),
    ...(allowedTools ? { allowedTools: Object.freeze(allowedTools) } : {}),
  });
}

function builtinToolConfig(agent: string, value: unknown, i: number): BuiltinToolConfig {
  const config = typeof value === "string" ? { type: value } : value;
  const type = (config as { type?: unknown } | null)?.type;
  if (typeof config !== "object" || config === null || !BUILTIN_TOOL_NAMES.includes(type as BuiltinToolName)) {
    throw new UserError(`Agent '${agent}': builtinTools[${i}] must be one of ${BUILTIN_TOOL_NAMES.join(", ")} (a name or { type, ...options }).`);
  }
  const tool = { ...(config as BuiltinToolConfig) };
  // The API rejects file_search without vector stores; say so at load time, not at the first chat.
  if (tool.type === "file_search" && (!Array.isArray(tool.vector_store_ids) || tool.vector_store_ids.length === 0)) {
    throw new UserError(`Agent '${agent}': file_search needs vector stores: { type: "file_search", vector_store_ids: ["vs_..."] }.`);
  }
  if (tool.type === "code_interpreter") tool.container ??= { type: "auto" };
  return Object.freeze(tool);
}

function stringList(agent: string, key: string, value: unknown, example: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v.trim() === "")) {
    throw new UserError(`Agent '${agent}': '${key}' must be a list of ${example}.`);
  }
  return [...new Set(value as string[])];
}
