/** `klisk check [dir]`: load the project the way `klisk serve` does and report what would stop it working. */
import path from "node:path";
import { KliskError } from "../errors";
import type { KliskConfig } from "../project/config";
import { loadProject } from "../project/load";
import type { Project } from "../project/project";
import type { Agent } from "../sdk/agent";
import { providerTarget } from "../runner/models/resolve";
import { agentTools } from "../project/mcp/servers";
import { exitWhenFlushed, styleFor, type Style } from "./output";

export interface CheckOptions {
  cwd: string;
  dir?: string;
  stdout?: NodeJS.WriteStream;
}

/** What `klisk check [dir]` runs (its arguments are declared in main.ts). */
export async function checkCommand(dir: string): Promise<void> {
  exitWhenFlushed(await check({ cwd: process.cwd(), dir }));
}

interface AgentRow {
  agent: Agent;
  provider: string;
  /** The environment variable holding the provider's key, when it needs one. */
  keyVar?: string;
  error?: string;
}

/** Returns the exit code: 1 when anything would make the project fail to serve or to answer. */
export async function check(options: CheckOptions): Promise<number> {
  const out = options.stdout ?? process.stdout;
  const style = styleFor(out);
  const dir = path.resolve(options.cwd, options.dir ?? ".");

  let project: Project;
  try {
    project = await loadProject(dir);
  } catch (err) {
    // A project that does not load has nothing to tabulate: the loader's message says what to fix.
    const message = err instanceof Error ? err.message : String(err);
    out.write(`${style.red("✖")} ${message}\n`);
    if (err instanceof KliskError && err.hint) out.write(`  ${style.dim(err.hint)}\n`);
    if (!(err instanceof KliskError) && err instanceof Error && err.stack) out.write(`${style.dim(err.stack)}\n`);
    out.write(`\n${style.red("Check failed")}: the project does not load.\n`);
    return 1;
  }
  // The servers answered tools/list while loading: the listing below needs nothing more from them.
  const mcpRows = mcpServerRows(project);
  const toolNames = new Set(project.agents.flatMap((a) => agentTools(project, a).map((t) => t.name)));
  await project.mcp?.close();

  const rows = project.agents.map((agent) => describeAgent(agent, project.config));
  // An unknown option in code is a warning when serving (the agent still works), an error here: a check is
  // where a typo such as 'instuctions' must be caught.
  const optionErrors = new Set(project.optionWarnings ?? []);
  const errors = [...rows.filter((r) => r.error).map((r) => r.error!), ...missingKeys(rows), ...optionErrors];
  // The loader warns about a missing OpenAI key too; here it is an error, reported once, by missingKeys.
  const reportedVars = new Set(rows.filter((r) => r.keyVar && !process.env[r.keyVar]).map((r) => r.keyVar));
  const warnings = project.warnings.filter((w) => !optionErrors.has(w) && ![...reportedVars].some((v) => w.startsWith(`${v} is not set`)));

  out.write(`${style.bold("Project")}  ${project.name}  ${style.dim(dir)}\n`);
  out.write(`${style.bold("Entry")}    ${path.relative(dir, project.entryFile)}\n\n`);
  out.write(table(rows, style));
  out.write(mcpTable(mcpRows, style));

  if (errors.length || warnings.length) out.write("\n");
  for (const error of errors) out.write(`${style.red("✖")} ${error}\n`);
  for (const warning of warnings) out.write(`${style.yellow("⚠")} ${warning}\n`);

  const agents = plural(rows.length, "agent");
  const tools = plural(toolNames.size, "tool");
  out.write("\n");
  if (errors.length) {
    out.write(`${style.red("Check failed")}: ${plural(errors.length, "error")}${warnings.length ? `, ${plural(warnings.length, "warning")}` : ""}.\n`);
    return 1;
  }
  const tail = warnings.length ? `, ${plural(warnings.length, "warning")}` : "";
  out.write(`${style.green("✔")} ${project.name}: ${agents}, ${tools}, ready to serve${tail}.\n`);
  return 0;
}

/** Which provider serves the agent's model (the same decision the runner makes) and which key it needs. */
function describeAgent(agent: Agent, config: KliskConfig): AgentRow {
  try {
    const target = providerTarget(agent.model, config.providers);
    return { agent, provider: target.label, keyVar: target.keyRequired ? target.apiKeyVar : undefined };
  } catch (err) {
    const hint = err instanceof KliskError && err.hint ? ` ${err.hint}` : "";
    return { agent, provider: "?", error: `Agent '${agent.name}': ${err instanceof Error ? err.message : String(err)}${hint}` };
  }
}

function missingKeys(rows: AgentRow[]): string[] {
  const users = new Map<string, string[]>();
  for (const row of rows) {
    if (!row.keyVar || process.env[row.keyVar]) continue;
    users.set(row.keyVar, [...(users.get(row.keyVar) ?? []), `'${row.agent.name}'`]);
  }
  return [...users].map(
    ([keyVar, names]) => `${keyVar} is not set (needed by ${names.join(", ")}): add it to .env or the environment`,
  );
}

function table(rows: AgentRow[], style: Style): string {
  const header = ["Agent", "Model", "Provider", "Tools", "Hand-offs"];
  const cells = rows.map((r, i) => [
    r.agent.name + (i === 0 ? " (default)" : ""),
    r.agent.model,
    r.provider,
    [...r.agent.tools.map((t) => t.name), ...r.agent.builtinTools, ...r.agent.mcpServers.map((s) => `mcp:${s}`)].join(", ") || "-",
    r.agent.handoffs.join(", ") || "-",
  ]);
  const widths = header.map((h, col) => Math.max(h.length, ...cells.map((c) => c[col].length)));
  const format = (cols: string[]) => `  ${cols.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()}\n`;
  return style.bold(format(header)) + cells.map((c, i) => (rows[i].error ? style.red(format(c)) : format(c))).join("");
}

interface McpRow {
  name: string;
  label: string;
  tools: string[];
  /** Why it is not connected (an optional server that did not start). */
  down?: string;
}

function mcpServerRows(project: Project): McpRow[] {
  return (project.mcp?.connections ?? []).map((c) => ({
    name: c.name,
    label: c.label,
    tools: c.tools.map((t) => t.name),
    down: c.status === "connected" ? undefined : c.lastError ?? c.status,
  }));
}

/** Each MCP server and the tools it offers (what `allowedTools` can pick from). */
function mcpTable(rows: McpRow[], style: Style): string {
  if (rows.length === 0) return "";
  const width = Math.max(...rows.map((r) => r.name.length));
  const lines = rows.map((r) => {
    const what = r.down ? style.yellow(`unavailable: ${r.down}`) : `${plural(r.tools.length, "tool")}: ${r.tools.join(", ") || "-"}`;
    return `  ${r.name.padEnd(width)}  ${style.dim(r.label)}\n  ${" ".repeat(width)}  ${what}\n`;
  });
  return `\n${style.bold("MCP servers")}\n${lines.join("")}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
