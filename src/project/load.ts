/**
 * `loadProject()`: .env + klisk.config.yaml + the entry file → a frozen `Project`.
 * The entry is imported with jiti, so .ts/.mts/.js/.mjs/.cjs in ESM or CJS syntax all work with no build
 * step, and `import ... from "klisk"` resolves to this package even when the project has no node_modules.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createJiti } from "jiti";
import { ConfigError } from "../errors";
import { CONFIG_FILE, loadConfig, type KliskConfig } from "./config";
import { loadEnv } from "./env";
import type { Project } from "./project";
import { isAgent, type Agent } from "../sdk/agent";
import { CONFIGURE_SERVER_EXPORT, type ConfigureServer } from "../sdk/server";
import { checkAgentModels } from "./modelCheck";
import { startMcpServers } from "./mcp/servers";

export const ENTRY_EXTENSIONS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"];

/** This package's public SDK: `src/index.ts` under ts-jest, `dist/index.js` once built. */
const SDK_ENTRY = require.resolve("../index");
const SDK_DIR = path.dirname(SDK_ENTRY);
const REGISTRY_MODULE = require.resolve("../sdk/agent");

export interface LoadProjectOptions {
  /** Overrides `entry` from klisk.config.yaml (relative to the project directory). */
  entry?: string;
}

export async function loadProject(dir: string, opts: LoadProjectOptions = {}): Promise<Project> {
  const projectDir = path.resolve(dir);
  loadEnv(projectDir);
  const { config, warnings } = loadConfig(projectDir);
  const entryFile = resolveEntry(projectDir, opts.entry ?? config.entry, opts.entry !== undefined);
  const entryName = path.relative(projectDir, entryFile);

  const { agents, optionWarnings, configureServer } = await importAgents(projectDir, entryFile);
  if (agents.length === 0) throw new ConfigError(`${entryName} defines no agents: call defineAgent({...}) in it`);
  checkHandoffs(agents, entryName);
  // Unknown provider prefixes and hosted tools on Chat models fail here; unsupported settings warn.
  const modelWarnings = checkAgentModels(agents, config.providers);
  // Last: nothing after it may throw and leave MCP child processes running.
  const mcp = await startMcpServers(config, agents, projectDir);

  return Object.freeze({
    name: config.name,
    dir: projectDir,
    config,
    agents: Object.freeze(agents),
    entryFile,
    configureServer,
    warnings: Object.freeze([...warnings, ...optionWarnings, ...modelWarnings, ...missingKeyWarnings(agents, config), ...(mcp?.warnings ?? [])]),
    optionWarnings: Object.freeze(optionWarnings),
    ...(mcp ? { mcp: mcp.servers } : {}),
  });
}

function resolveEntry(projectDir: string, entry: string, fromOption: boolean): string {
  const where = fromOption ? "check the entry option" : `set 'entry' in ${CONFIG_FILE}`;
  const file = path.resolve(projectDir, entry);
  const ext = path.extname(file);
  if (ext && !ENTRY_EXTENSIONS.includes(ext)) {
    throw new ConfigError(`Entry file ${entry} must be one of ${ENTRY_EXTENSIONS.join(", ")} (${where})`);
  }
  // "src/main" finds src/main.ts (or .js, ...) the way an import would.
  const candidates = ext ? [file] : ENTRY_EXTENSIONS.map((e) => file + e);
  const found = candidates.find((f) => fs.statSync(f, { throwIfNoEntry: false })?.isFile());
  if (!found) throw new ConfigError(`Entry file ${entry} not found in ${projectDir} (${where})`);
  return found;
}

/**
 * Imports the entry afresh and returns its agents (registered ones in definition order, then exported extras)
 * and the unknown options they were defined with.
 */
async function importAgents(projectDir: string, entryFile: string): Promise<{ agents: Agent[]; optionWarnings: string[]; configureServer?: ConfigureServer }> {
  // A fresh jiti without module cache re-executes the entry on every load (a second load gets fresh agents);
  // its filesystem cache (on by default) keeps the transpiled files, so start-up stays cheap.
  const jiti = createJiti(__filename, { alias: sdkAliases(projectDir), moduleCache: false, fsCache: true });
  // jiti evaluates code in the main realm. Under a test runner (jest's vm sandbox) that realm's globalThis is
  // not ours, so reset and read the registry through jiti too: then it is the one the entry's defineAgent fills.
  // Synchronous jiti(): for our built .js file it is a plain native require, where jiti.import() would go
  // through Node's ESM loader (several ms of start-up) for the same module.
  const registry = jiti(REGISTRY_MODULE) as typeof import("../sdk/agent");
  registry.resetRegistry();
  let mod: unknown;
  try {
    mod = await jiti.import(entryFile);
  } catch (err) {
    throw loadError(err, projectDir, entryFile);
  }

  const agents = [...registry.registeredAgents()];
  for (const value of exportedValues(mod)) {
    if (!isAgent(value) || agents.includes(value)) continue;
    if (agents.some((a) => a.name === value.name)) {
      throw new ConfigError(`${path.relative(projectDir, entryFile)}: duplicate agent name '${value.name}': each agent needs a unique name.`);
    }
    agents.push(value);
  }
  return { agents, optionWarnings: [...registry.definitionWarnings()], configureServer: configureServerOf(mod, projectDir, entryFile) };
}

/** The entry's `configureServer` export, when it has one; anything but a function there is a mistake to report. */
function configureServerOf(mod: unknown, projectDir: string, entryFile: string): ConfigureServer | undefined {
  const value = (mod as Record<string, unknown> | undefined)?.[CONFIGURE_SERVER_EXPORT];
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new ConfigError(`${path.relative(projectDir, entryFile)}: '${CONFIGURE_SERVER_EXPORT}' must be a function (app) => void, got ${typeof value}`);
  }
  return value as ConfigureServer;
}

/** "klisk" and its subpath entries ("klisk/express", "klisk/fetch"), resolved to this very copy of klisk. */
const KLISK_ALIASES = {
  klisk: SDK_ENTRY,
  "klisk/express": path.join(SDK_DIR, "express"),
  "klisk/fetch": path.join(SDK_DIR, "fetch"),
};

function sdkAliases(projectDir: string): Record<string, string> {
  // Let `import { z } from "zod"` work without npm install too, but never shadow the project's own zod.
  if (resolvableFrom(projectDir, "zod")) return { ...KLISK_ALIASES };
  return { ...KLISK_ALIASES, ...zodAliases() };
}

let zodAliasCache: Record<string, string> | undefined;

/**
 * "zod" and its subpaths ("zod/v4", ...) mapped to the exact CommonJS files our own require() uses: jiti then
 * loads them natively, sharing one zod with the CLI, instead of transpiling and re-running zod on every load.
 */
function zodAliases(): Record<string, string> {
  if (zodAliasCache) return zodAliasCache;
  const subpaths = Object.keys((require("zod/package.json") as { exports?: object }).exports ?? { ".": "" });
  const aliases: Record<string, string> = {};
  for (const subpath of subpaths) {
    if (subpath.includes("*") || subpath.endsWith(".json")) continue;
    const id = subpath === "." ? "zod" : `zod/${subpath.slice(2)}`;
    try {
      aliases[id] = require.resolve(id);
    } catch {
      // an export without a CommonJS build: leave it to normal resolution
    }
  }
  return (zodAliasCache = aliases);
}

function resolvableFrom(dir: string, id: string): boolean {
  try {
    require.resolve(id, { paths: [dir] });
    return true;
  } catch {
    return false;
  }
}

function exportedValues(mod: unknown): unknown[] {
  if (typeof mod !== "object" || mod === null) return [];
  const exports = mod as Record<string, unknown>;
  // jiti hands back a proxy that merges `default` into the exports (so `module.exports = defineAgent(...)`
  // reads like an agent but is not one by identity): take `default` itself plus the named exports.
  return [exports.default, ...Object.keys(exports).map((key) => exports[key])];
}

/** Turns anything the entry threw into a ConfigError naming the user's file and line, not our internals. */
function loadError(err: unknown, projectDir: string, entryFile: string): ConfigError {
  const rel = (file: string) => path.relative(projectDir, file);
  const e = (typeof err === "object" && err !== null ? err : {}) as { name?: string; message?: string; code?: string; stack?: string; hint?: string };
  const message = typeof e.message === "string" ? e.message : String(err);

  // jiti reports a transform (babel) failure as "<Code>: <reason> \n <file>:<line>:<column0>".
  const parse = /^\S*: (.*?)\s*\n (.+):(\d+):(\d+)$/s.exec(message);
  if (parse) {
    const [, reason, file, line, column] = parse;
    return withCause(new ConfigError(`${rel(file)}:${line}:${Number(column) + 1}: Syntax error: ${reason}`), err);
  }
  // A file Node compiled itself reports a syntax error as a first stack line "<file>:<line>" (a runtime
  // SyntaxError such as JSON.parse's has none and is handled below like any other throw).
  const compiled = e.name === "SyntaxError" ? /^(.+):(\d+)\n/.exec(e.stack ?? "") : null;
  if (compiled) return withCause(new ConfigError(`${rel(toPath(compiled[1]))}:${compiled[2]}: Syntax error: ${message}`), err);

  const frame = userFrame(e.stack, projectDir);
  const where = frame ? `${rel(frame.file)}:${frame.line}` : rel(entryFile);
  // UserError from defineAgent()/tool(): the SDK instance jiti loaded has its own class, so match the code.
  if (e.code === "user_error") return withCause(new ConfigError(`${where}: ${message}`, e.hint), err);
  const name = typeof e.name === "string" ? `${e.name}: ` : "";
  return withCause(new ConfigError(`${where}: Error while loading: ${name}${message}`), err);
}

/** The first stack frame in the project's own files (not node_modules, not this package). */
function userFrame(stack: string | undefined, projectDir: string): { file: string; line: number } | undefined {
  for (const text of (stack ?? "").split("\n")) {
    const m = /^\s*at (?:.*\()?(.+?):(\d+):\d+\)?$/.exec(text);
    if (!m) continue;
    const file = toPath(m[1]);
    const inProject = file.startsWith(projectDir + path.sep) && !file.includes(`${path.sep}node_modules${path.sep}`);
    if (inProject && !file.startsWith(SDK_DIR + path.sep)) return { file, line: Number(m[2]) };
  }
  return undefined;
}

function toPath(location: string): string {
  return location.startsWith("file://") ? fileURLToPath(location) : location;
}

function withCause(error: ConfigError, cause: unknown): ConfigError {
  error.cause = cause; // kept for debugging (e.g. a --verbose flag); the message never needs it
  return error;
}

function checkHandoffs(agents: readonly Agent[], entryName: string): void {
  const names = agents.map((a) => a.name);
  for (const agent of agents) {
    for (const target of agent.handoffs) {
      if (!names.includes(target)) {
        throw new ConfigError(
          `${entryName}: agent '${agent.name}' hands off to '${target}', which is not defined. Known agents: ${names.join(", ")}`,
        );
      }
    }
  }
}

/** OpenAI models need OPENAI_API_KEY: say so at start-up rather than at the first chat. */
function missingKeyWarnings(agents: readonly Agent[], config: KliskConfig): string[] {
  if (process.env.OPENAI_API_KEY) return [];
  const usesOpenAI = (model: string) =>
    !model.includes("/") || (model.startsWith("openai/") && !Object.hasOwn(config.providers, "openai"));
  const names = agents.filter((a) => usesOpenAI(a.model)).map((a) => `'${a.name}'`);
  if (names.length === 0) return [];
  const who = names.length === 1 ? `agent ${names[0]} uses an OpenAI model` : `agents ${names.join(", ")} use OpenAI models`;
  return [`OPENAI_API_KEY is not set: ${who}; set it in .env or the environment`];
}
