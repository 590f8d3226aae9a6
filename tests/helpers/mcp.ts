/**
 * Projects with MCP servers for tests: the reference "everything" server from npm (a devDependency, run over
 * stdio with this very node), configs in YAML as users write them. Servers a test file started are stopped
 * when it ends (this module registers the afterAll itself).
 */
import path from "node:path";
import type { McpServers } from "../../src/project/mcp/servers";
import { startMcpServers } from "../../src/project/mcp/servers";
import type { Project } from "../../src/project/project";
import type { AgentOptions } from "../../src/sdk/agent";
import { REPO_ROOT } from "./cli";
import { makeProject } from "./project";

/** The reference MCP server's entry (package @modelcontextprotocol/server-everything). */
export const EVERYTHING_SERVER = path.join(REPO_ROOT, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");

/** A `mcp_servers` entry running the everything server over stdio, with extra YAML lines indented under it. */
export function everythingServerYaml(name = "everything", extra: string[] = []): string {
  return [`  ${name}:`, `    command: ${JSON.stringify(process.execPath)}`, `    args: [${JSON.stringify(EVERYTHING_SERVER)}, "stdio"]`, ...extra.map((l) => `    ${l}`)].join("\n");
}

const started: McpServers[] = [];

if (typeof afterAll === "function") afterAll(() => Promise.all(started.splice(0).map((s) => s.close())));

/** makeProject, then its MCP servers started as `klisk serve` starts them. */
export async function mcpProject(agents: AgentOptions[], configYaml: string): Promise<Project & { mcp: McpServers; mcpWarnings: string[] }> {
  const project = makeProject(agents, configYaml);
  const mcp = await startMcpServers(project.config, project.agents, project.dir);
  if (!mcp) throw new Error("mcpProject(): the config has no mcp_servers");
  started.push(mcp.servers);
  return { ...project, mcp: mcp.servers, mcpWarnings: mcp.warnings };
}

/** Whether a process (an MCP server's child, say) is still alive. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
