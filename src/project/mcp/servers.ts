/**
 * The project's MCP servers: started together when the project loads, their tools offered to the agents that
 * name them (`defineAgent({ mcpServers, allowedTools })`), stopped together on shutdown.
 */
import { ConfigError } from "../../errors";
import { log } from "../../log";
import type { Agent } from "../../sdk/agent";
import type { Tool } from "../../sdk/tool";
import { CONFIG_FILE, type KliskConfig } from "../config";
import { McpConnection } from "./connection";

export interface McpServers {
  /** In config order. */
  readonly connections: readonly McpConnection[];
  /** The MCP tools the agent may call right now (its own tools win a name clash; then the first server listed). */
  toolsFor(agent: Agent): Tool[];
  /** Stops every child process and ends every session. Safe to call more than once. */
  close(): Promise<void>;
}

export interface StartedMcpServers {
  servers: McpServers;
  /** Optional servers that did not start, servers no agent uses, ... */
  warnings: string[];
}

/**
 * Checks the agents' server names against mcp_servers, then connects every configured server at once.
 * A server that does not start is a ConfigError naming it (the others are stopped first), or a warning when
 * it is `optional: true` (klisk then keeps trying to reach it in the background).
 */
export async function startMcpServers(config: KliskConfig, agents: readonly Agent[], dir: string): Promise<StartedMcpServers | undefined> {
  const names = Object.keys(config.mcp_servers);
  const warnings = checkAgentServers(agents, names);
  if (names.length === 0) return undefined;

  const callTimeoutMs = config.limits.run_timeout_s * 1000;
  const connections = names.map((name) => new McpConnection(name, config.mcp_servers[name], { dir, callTimeoutMs }));
  const results = await Promise.allSettled(connections.map((c) => c.start()));
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ connection: connections[i], err: r.reason as unknown }] : []));
  const fatal = failed.filter((f) => !f.connection.config.optional);
  if (fatal.length > 0) {
    await Promise.all(connections.map((c) => c.close()));
    const { connection, err } = fatal[0];
    if (err instanceof ConfigError) throw err; // an unset ${VAR}: the message names the key already
    throw new ConfigError(
      `MCP server '${connection.name}' (${connection.label}) could not start: ${connection.reason(err)}`,
      `Fix mcp_servers.${connection.name} in ${CONFIG_FILE}, or set 'optional: true' on it to serve without it.`,
    );
  }
  for (const { connection, err } of failed) {
    warnings.push(`MCP server '${connection.name}' (${connection.label}) is unavailable and optional: ${connection.reason(err)}; klisk keeps trying to reach it`);
    connection.scheduleReconnect();
  }
  const used = new Set(agents.flatMap((a) => a.mcpServers));
  for (const name of names) {
    if (!used.has(name)) warnings.push(`MCP server '${name}' is not used by any agent: add mcpServers: ["${name}"] to defineAgent`);
  }
  warnings.push(...allowedToolWarnings(agents, connections));
  return { servers: mcpServers(connections), warnings };
}

function mcpServers(connections: McpConnection[]): McpServers {
  const byName = new Map(connections.map((c) => [c.name, c]));
  let closing: Promise<void> | undefined;
  return {
    connections,
    toolsFor(agent) {
      if (agent.mcpServers.length === 0) return [];
      const taken = new Set(agent.tools.map((t) => t.name));
      const allowed = agent.allowedTools ? new Set(agent.allowedTools) : undefined;
      const tools: Tool[] = [];
      for (const server of agent.mcpServers) {
        for (const tool of byName.get(server)?.tools ?? []) {
          if (allowed && !allowed.has(tool.name) && !allowed.has(`${server}.${tool.name}`)) continue;
          if (taken.has(tool.name)) continue;
          taken.add(tool.name);
          tools.push(tool);
        }
      }
      return tools;
    },
    close: () =>
      (closing ??= Promise.all(connections.map((c) => c.close())).then(() => {
        log.debug({ servers: connections.length }, "MCP servers stopped");
      })),
  };
}

function checkAgentServers(agents: readonly Agent[], names: readonly string[]): string[] {
  const warnings: string[] = [];
  for (const agent of agents) {
    for (const server of agent.mcpServers) {
      if (names.includes(server)) continue;
      const known = names.length ? `Known servers: ${names.join(", ")}` : `${CONFIG_FILE} has no mcp_servers`;
      throw new ConfigError(`Agent '${agent.name}' uses MCP server '${server}', which is not in mcp_servers. ${known}`);
    }
    if (agent.allowedTools && agent.mcpServers.length === 0) {
      warnings.push(`Agent '${agent.name}': allowedTools has no effect without mcpServers`);
    }
  }
  return warnings;
}

/** An allowedTools entry that none of the agent's (connected) servers offers is probably a typo. */
function allowedToolWarnings(agents: readonly Agent[], connections: readonly McpConnection[]): string[] {
  const warnings: string[] = [];
  for (const agent of agents) {
    if (!agent.allowedTools) continue;
    const servers = connections.filter((c) => agent.mcpServers.includes(c.name));
    if (servers.some((c) => c.status !== "connected")) continue; // cannot tell yet
    const offered = new Set(servers.flatMap((c) => c.tools.flatMap((t) => [t.name, `${c.name}.${t.name}`])));
    const missing = agent.allowedTools.filter((t) => !offered.has(t));
    if (missing.length) warnings.push(`Agent '${agent.name}': allowedTools names ${missing.map((t) => `'${t}'`).join(", ")}, which its MCP servers do not offer`);
  }
  return warnings;
}

/** The tools the runner offers an agent: its own, then those of its MCP servers. */
export function agentTools(project: { mcp?: McpServers }, agent: Agent): readonly Tool[] {
  if (!project.mcp || agent.mcpServers.length === 0) return agent.tools;
  return [...agent.tools, ...project.mcp.toolsFor(agent)];
}
