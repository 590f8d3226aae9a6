/** Runner-level tests: in-memory projects and the events of one run (pair with useFakeOpenAI). */
import { resolveConfig } from "../../src/project/config";
import { defineAgent } from "../../src/index";
import { resetRegistry, type Agent, type AgentOptions } from "../../src/sdk/agent";
import type { Project } from "../../src/project/project";
import { runChat, type RunChatOptions } from "../../src/runner/run";
import type { ChatEvent } from "../../src/runner/events";

/** Fresh agents, defined in order (the registry is reset first). */
export function defineAgents(...defs: AgentOptions[]): Agent[] {
  resetRegistry();
  return defs.map((d) => defineAgent(d));
}

/** A project without files: only what runChat reads (agents, limits, providers). */
export function memoryProject(agents: Agent[], config: { limits?: Record<string, number>; providers?: Record<string, unknown> } = {}): Project {
  return { name: "t", dir: "/tmp", config: resolveConfig(config, "t"), agents, entryFile: "/tmp/main.ts", warnings: [] };
}

export async function collectEvents(options: RunChatOptions): Promise<ChatEvent[]> {
  const events: ChatEvent[] = [];
  for await (const e of runChat(options)) events.push(e);
  return events;
}

export function doneOf(events: ChatEvent[]): Extract<ChatEvent, { type: "done" }> {
  const last = events.at(-1)!;
  if (last.type !== "done") throw new Error(`run ended with ${JSON.stringify(last)}`);
  return last;
}
