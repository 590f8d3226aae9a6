/** runChat: the one place that talks to models and runs tools. Every transport consumes its iterator. */
import { RequestError } from "../errors";
import type { Agent } from "../project/registry";
import type { Project } from "../project/project";
import type { Attachment, ChatEvent, ChatState } from "./events";

export interface RunChatOptions {
  project: Project;
  /** Explicit agent for this turn; otherwise state.current_agent_name, otherwise the first agent. */
  agentName?: string;
  message: string;
  attachments?: readonly Attachment[];
  state?: ChatState;
  /** Aborts the model request and signals the tools. */
  signal?: AbortSignal;
}

/**
 * Picks the agent for a turn. An unknown explicit `agentName` is a 400 listing the agents; a stale
 * `state.current_agent_name` (agent renamed since) falls back to the default agent.
 */
export function resolveAgent(project: Project, agentName?: string, state?: ChatState): Agent {
  if (agentName !== undefined) {
    const agent = project.agents.find((a) => a.name === agentName);
    if (!agent) {
      throw new RequestError(400, `Unknown agent '${agentName}'. Available agents: ${project.agents.map((a) => a.name).join(", ")}`);
    }
    return agent;
  }
  const current = state?.current_agent_name;
  return project.agents.find((a) => a.name === current) ?? project.agents[0];
}

/** Yields token/thinking/tool events and ends with exactly one `done` or `error`. Never throws. */
export async function* runChat(options: RunChatOptions): AsyncGenerator<ChatEvent, void, undefined> {
  throw new Error("not implemented yet");
}
