/** The public SDK: what a project's entry file imports from "klisk". */
export { z } from "zod";
export { defineAgent } from "./project/registry";
export type { Agent, AgentOptions, ModelSettings, BuiltinTool } from "./project/registry";
export { tool } from "./runner/tools";
export type { Tool, ToolOptions, ToolContext } from "./runner/tools";
export type { ChatEvent, ChatState, Attachment } from "./runner/events";
