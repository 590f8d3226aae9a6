/** Hand-offs: each agent named in `handoffs` becomes a transfer tool the model can call. */
import type { Agent } from "../sdk/agent";
import type { Project } from "../project/project";
import type { FunctionToolSpec } from "./models/model";

export function transferToolName(agentName: string): string {
  return `transfer_to_${agentName.toLowerCase().replace(/[^a-z0-9_-]+/g, "_")}`.slice(0, 64);
}

/** Transfer tool name → target agent, for the agent's hand-offs that exist in the project. */
export function handoffTargets(agent: Agent, project: Project): Map<string, Agent> {
  const targets = new Map<string, Agent>();
  for (const name of agent.handoffs) {
    const target = project.agents.find((a) => a.name === name);
    if (target && target !== agent) targets.set(transferToolName(target.name), target);
  }
  return targets;
}

export function handoffToolSpecs(targets: Map<string, Agent>): FunctionToolSpec[] {
  return [...targets].map(([name, target]) => ({
    name,
    description: `Hand off the conversation to the ${target.name} agent.${target.instructions ? ` It is instructed: ${target.instructions.slice(0, 200)}` : ""}`,
    parameters: { type: "object", properties: {}, additionalProperties: false },
  }));
}
