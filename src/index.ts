/** The public SDK: what a project's entry file imports from "klisk". */
export { z } from "zod";
export { defineAgent } from "./sdk/agent";
export type { Agent, AgentOptions, ModelSettings, BuiltinTool } from "./sdk/agent";
export { tool } from "./sdk/tool";
export type { Tool, ToolOptions, ToolContext } from "./sdk/tool";
export type { ConfigureServer } from "./sdk/server";
export type { ChatEvent, ChatState, Attachment } from "./runner/events";
export { KliskError, ConfigError, UserError, ModelError, ToolError, RequestError, UnknownAgentError, AbortedError } from "./errors";
