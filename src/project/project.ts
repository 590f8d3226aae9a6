/** What the CLI hands to the server and the runner: a loaded, validated project. */
import type { Agent } from "../sdk/agent";
import type { ConfigureServer } from "../sdk/server";
import type { KliskConfig } from "./config";
import type { McpServers } from "./mcp/servers";

export interface Project {
  /** `name` from klisk.config.yaml, or the directory name. */
  readonly name: string;
  /** Absolute project directory. */
  readonly dir: string;
  readonly config: KliskConfig;
  /** In definition order; the first is the default agent. Never empty. */
  readonly agents: readonly Agent[];
  /** Absolute path of the loaded entry file. */
  readonly entryFile: string;
  /** The entry's `configureServer` export: its own middleware and routes for `klisk serve`'s app. */
  readonly configureServer?: ConfigureServer;
  /** Non-fatal problems found while loading (unknown config keys, missing keys...), for the CLI to print. */
  readonly warnings: readonly string[];
  /** The part of `warnings` about unknown options in code (defineAgent, tool): `klisk check` fails on them. */
  readonly optionWarnings?: readonly string[];
  /** The connected `mcp_servers` (when the config has any): whoever loaded the project closes them. */
  readonly mcp?: McpServers;
}
