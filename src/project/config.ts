/**
 * `klisk.config.yaml`: parsed with `yaml`, validated and defaulted with zod, returned deeply frozen.
 * Keys stay snake_case, as users write them. The `deploy.chat` / `deploy.widget` / `deploy.api` blocks keep
 * the keys and defaults of the Python klisk (`klisk/core/config.py`) so existing configs load unchanged.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "../errors";
import { closest } from "../sdk/suggest";

export { editDistance } from "../sdk/suggest";

export const CONFIG_FILE = "klisk.config.yaml";

// Every leaf carries its own "must be ..." sentence, so an error names the accepted values.
const str = () => z.string({ error: "must be a string" });
const nonEmpty = () => z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" });
const bool = () => z.boolean({ error: "must be true or false" });

function int(min: number, max?: number) {
  const msg = max === undefined ? `must be an integer >= ${min}` : `must be an integer between ${min} and ${max}`;
  const schema = z.number({ error: msg }).int({ error: msg }).min(min, { error: msg });
  return max === undefined ? schema : schema.max(max, { error: msg });
}

function positive() {
  const msg = "must be a number greater than 0";
  return z.number({ error: msg }).positive({ error: msg });
}

const MAX_STARTERS = 6;
const MAX_STARTER_CHARS = 200;

/** One starter prompt: a button label and the message it sends. */
function starterPrompt() {
  const msg = `must be a non-empty string of at most ${MAX_STARTER_CHARS} characters`;
  return z
    .string({ error: msg })
    .refine((v) => v.trim() !== "" && v.length <= MAX_STARTER_CHARS, { error: msg });
}

/** A nested block: absent means "all defaults" (prefault runs `{}` through the schema to fill them in). */
function section<S extends z.ZodRawShape>(shape: S) {
  // Every key of a section is optional or defaulted, so `{}` is a valid input (TS cannot see that here).
  return z.object(shape, { error: "must be a mapping of keys" }).prefault({} as never);
}

const httpUrl = () =>
  nonEmpty().refine((v) => /^https?:\/\//i.test(v) && URL.canParse(v), {
    error: "must be an http(s) URL such as https://api.example.com/v1",
  });

const providerSchema = z.object(
  {
    base_url: httpUrl(),
    api_key_env: nonEmpty().optional(),
    api: z.enum(["chat", "responses"], { error: 'must be "chat" or "responses"' }).default("chat"),
    headers: z.record(z.string(), str(), { error: "must be a mapping of header names to strings" }).default({}),
  },
  { error: "must be a mapping with base_url, api_key_env, api and headers" },
);

// An MCP server: a child process over stdio, or a Streamable HTTP URL. Values may use ${ENV} (see mcp/substitute.ts).
const mcpStdioSchema = z.object(
  {
    command: nonEmpty(),
    args: z.array(str(), { error: "must be a list of strings" }).default([]),
    env: z.record(z.string(), str(), { error: "must be a mapping of variable names to strings" }).default({}),
    cwd: nonEmpty().optional(), // relative to the project directory
    optional: bool().default(false),
  },
  { error: "must be a mapping with command (and args, env, cwd) or url (and headers)" },
);
const mcpHttpSchema = z.object(
  {
    // A URL from a variable ("${MCP_URL}") is checked when the server starts.
    url: nonEmpty().refine((v) => /^(https?:\/\/|\$\{)/i.test(v), { error: "must be an http(s) URL such as https://mcp.example.com/mcp" }),
    headers: z.record(z.string(), str(), { error: "must be a mapping of header names to strings" }).default({}),
    optional: bool().default(false),
  },
  { error: "must be a mapping with command (and args, env, cwd) or url (and headers)" },
);
const mcpServerSchema = z.custom<unknown>().transform((value, ctx) => {
  // One message that names both shapes, rather than zod's union of every branch's issues.
  const isMapping = typeof value === "object" && value !== null && !Array.isArray(value);
  const hasCommand = isMapping && "command" in value;
  const hasUrl = isMapping && "url" in value;
  if (!isMapping || hasCommand === hasUrl) {
    ctx.addIssue({ code: "custom", message: "must be a mapping with either command (a stdio server) or url (a Streamable HTTP server), not both" });
    return z.NEVER;
  }
  const parsed = (hasCommand ? mcpStdioSchema : mcpHttpSchema).safeParse(value);
  if (parsed.success) return parsed.data as McpServerConfigShape;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: issue.path } as never);
  return z.NEVER;
});
type McpServerConfigShape = z.output<typeof mcpStdioSchema> | z.output<typeof mcpHttpSchema>;

const configSchema = z.object(
  {
    name: nonEmpty().optional(),
    entry: nonEmpty().default("src/main.ts"),
    // Unset means "let the CLI decide" (flag, then $PORT, then its default).
    server: section({
      port: int(1, 65535).optional(),
      host: nonEmpty().optional(),
      // Express's `trust proxy`: true, a hop count, or addresses/subnets ("loopback", "10.0.0.0/8, 127.0.0.1").
      trust_proxy: z
        .union([bool(), int(0), nonEmpty()], { error: 'must be true/false, a number of hops, or addresses such as "loopback"' })
        .optional(), // unset = false: the client address is the socket's
    }),
    deploy: section({
      chat: section({
        enabled: bool().default(true),
        title: str().default(""), // "" = the project name
        welcome_message: str().default(""),
        attachments: bool().default(true),
        // The playground (agent picker, tool timings, usage, raw events, copy as curl) at `/?dev`. Always on
        // under `klisk dev`; off by default under `klisk serve`. It shows nothing GET /api/info does not.
        playground: bool().default(false),
        // Buttons under the welcome message while the conversation is empty; a click sends the prompt as is.
        starters: z
          .array(starterPrompt(), { error: `must be a list of at most ${MAX_STARTERS} prompts (strings)` })
          .max(MAX_STARTERS, { error: `must be a list of at most ${MAX_STARTERS} prompts` })
          .default([]),
      }),
      widget: section({
        enabled: bool().default(true),
        color: str().default("#2563eb"),
        position: str().default("bottom-right"),
        width: str().default("380px"),
        height: str().default("560px"),
        welcome_message: str().default(""),
        placeholder: str().default("Type a message..."),
        auto_open: bool().default(false),
        user_message_color: str().default("#2563eb"),
        header_color: str().default(""),
        bubble_icon: str().default("chat"),
      }),
      api: section({
        cors_origins: z.array(str(), { error: 'must be a list of origins, e.g. ["*"]' }).default(["*"]),
      }),
      // POST /v1/chat/completions: a client's system/developer messages are refused unless this is true
      // (then they are appended to the agent's instructions, never replace them).
      openai: section({
        allow_system_messages: bool().default(false),
      }),
      // /mcp: each agent as an MCP tool `ask_<agent>` (Streamable HTTP).
      mcp: section({
        enabled: bool().default(true),
      }),
      // /a2a and /.well-known/agent-card.json; a contextId's state is kept this long after its last turn.
      a2a: section({
        enabled: bool().default(true),
        context_ttl_s: int(1).default(3600),
      }),
      // GET /openapi.json (the OpenAPI 3.1 document of the routes served) and GET /docs (its reference page); no key needed, like /api/info.
      openapi: section({
        enabled: bool().default(true),
      }),
      // GET /metrics in Prometheus's text format (KLISK_METRICS=1 turns it on too); behind the API keys when set.
      metrics: section({
        enabled: bool().default(false),
        // `klisk serve` only: /metrics on this port alone (no key asked), not on the API's port.
        port: int(1, 65535).optional(),
      }),
    }),
    providers: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: "must use only letters, digits, '_', '.' or '-'" }),
        providerSchema,
        { error: "must be a mapping of provider names to { base_url, api_key_env, api }" },
      )
      .default({}),
    mcp_servers: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: "must use only letters, digits, '_', '.' or '-'" }),
        mcpServerSchema,
        { error: "must be a mapping of server names to { command, args, env, cwd } or { url, headers }" },
      )
      .default({}),
    limits: section({
      max_turns: int(1).default(10),
      run_timeout_s: positive().default(300),
      // One 20 MB attachment in base64 (26.7 MB) plus a long message and a full state; see README.
      max_body_mb: positive().default(32),
      // Bytes held by request bodies still being read, across the process (503 above): compressed or slow
      // bodies cannot pile up without bound.
      max_pending_body_mb: positive().default(128),
      body_timeout_s: positive().default(30),
      // A client that reads nothing for this long while a run writes to it loses the run (and its slot).
      write_stall_s: positive().default(30),
      max_attachment_mb: positive().default(20),
      max_attachments: int(0).default(10),
      max_concurrent_runs: int(0).default(0), // 0 = unlimited
      // Keep-alive connections per upstream origin, per process (per worker). Unset: max_concurrent_runs
      // when that is set (a run holds at most one model call), else 1024. A streaming answer holds its
      // connection until it ends, so calls beyond the bound wait for one.
      upstream_connections: int(1).optional(),
      max_state_kb: positive().default(1024),
      max_message_chars: int(1).default(100_000),
      ws_max_payload_mb: positive().optional(), // unset = max_body_mb
      sse_heartbeat_s: positive().default(15),
      // Opt-in, like the Python original (which has none): requests per window, per API key (per IP without auth).
      rate_limit: z
        .object({ window_s: positive(), max: int(1) }, { error: "must be a mapping with window_s and max" })
        .optional(),
    }),
  },
  { error: "must contain a mapping of keys" },
);

/** Keys the Python klisk understood that mean nothing here: accepted with a warning, never an error. */
const PYTHON_ONLY_KEYS: Record<string, string> = {
  studio: "klisk for TypeScript has no studio",
  api: "set the port with 'server.port'",
};

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type ParsedConfig = z.output<typeof configSchema>;
/** The resolved, read-only config. `name` is always set (the directory name when the file has none). */
export type KliskConfig = DeepReadonly<Omit<ParsedConfig, "name"> & { name: string }>;
export type ProviderConfig = KliskConfig["providers"][string];
export type LimitsConfig = KliskConfig["limits"];
export type ChatUiConfig = KliskConfig["deploy"]["chat"];
export type WidgetConfig = KliskConfig["deploy"]["widget"];
export type McpServerConfig = KliskConfig["mcp_servers"][string];

export interface LoadedConfig {
  config: KliskConfig;
  /** Absolute path of the file read, or null when there is none (all defaults). */
  file: string | null;
  /** Unknown or ignored keys, one message each. */
  warnings: string[];
}

export function loadConfig(dir: string): LoadedConfig {
  const absDir = path.resolve(dir);
  const file = path.join(absDir, CONFIG_FILE);
  const defaultName = path.basename(absDir);
  if (!fs.existsSync(file)) return { config: resolveConfig({}, defaultName), file: null, warnings: [] };

  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${CONFIG_FILE}: cannot read ${file} (${(err as Error).message})`);
  }
  const raw = dropNulls(parseYaml(text)) ?? {};
  const warnings: string[] = [];
  if (isPlainObject(raw)) {
    for (const key of Object.keys(PYTHON_ONLY_KEYS)) {
      if (!Object.hasOwn(raw, key)) continue;
      warnings.push(`${CONFIG_FILE}: '${key}' is a Python klisk setting and is ignored (${PYTHON_ONLY_KEYS[key]})`);
      delete raw[key];
    }
    collectUnknownKeys(raw, configSchema, [], warnings);
    collectUnknownMcpKeys(raw.mcp_servers, warnings);
  }
  const config = resolveConfig(raw, defaultName);
  // widget.js opens the chat page in an iframe, so it cannot outlive it; say so rather than serve a 404 silently.
  if (!config.deploy.chat.enabled && config.deploy.widget.enabled) {
    warnings.push(`${CONFIG_FILE}: deploy.chat.enabled is false, so /widget.js is off too (the widget embeds the chat page). Set deploy.widget.enabled: false to say so and silence this warning.`);
  }
  return { config, file, warnings };
}

function parseYaml(text: string): unknown {
  const YAML = require("yaml") as typeof import("yaml");
  const doc = YAML.parseDocument(text);
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    const where = pos ? `:${pos.line}:${pos.col}` : "";
    // yaml's message repeats the position and appends a source excerpt; keep the sentence only.
    const reason = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError(`${CONFIG_FILE}${where}: Invalid YAML: ${reason}`);
  }
  try {
    return doc.toJS();
  } catch (err) {
    // Aliases are expanded here, and yaml stops a "billion laughs" (aliases of aliases of ...) by throwing a
    // ReferenceError: a mistake in the file like any other, not a crash with yaml's stack.
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`${CONFIG_FILE}: Invalid YAML: ${/alias count/i.test(reason) ? `too many aliases (${reason})` : reason}`);
  }
}

/**
 * A resolved config from raw values (what the YAML held): validated, every default filled in, frozen. The
 * one source of defaults: the loader uses it, and so do tests and embedders that build a Project by hand.
 */
export function resolveConfig(raw: unknown, defaultName: string): KliskConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => describeIssue(issue, raw)).join("\n"));
  }
  const { name, ...rest } = parsed.data;
  return deepFreeze({ name: name ?? defaultName, ...rest });
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const got = valueAt(raw, issue.path);
  const gotText = got === undefined ? "" : ` (got ${describeValue(got)})`;
  if (issue.path.length === 0) return `${CONFIG_FILE} ${issue.message}${gotText}`;
  // A bad record key (a provider name) is reported as the key itself.
  if (issue.code === "invalid_key") {
    const name = JSON.stringify(issue.path[issue.path.length - 1]);
    return `${CONFIG_FILE}: ${formatPath(issue.path.slice(0, -1))}: the name ${name} ${issue.issues[0]?.message ?? "is invalid"}`;
  }
  const keyPath = formatPath(issue.path);
  return `${CONFIG_FILE}: ${keyPath} ${issue.message}${gotText}`;
}

function formatPath(keys: readonly PropertyKey[]): string {
  return keys.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join("");
}

function valueAt(value: unknown, keys: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of keys) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (isPlainObject(value)) return "a mapping";
  return JSON.stringify(value) ?? String(value);
}

/** Warns (never throws) about keys the schema does not know, suggesting the closest known one. */
function collectUnknownKeys(value: unknown, schema: z.ZodType, keyPath: string[], warnings: string[]): void {
  const def = unwrap(schema).def as { type: string; shape?: Record<string, z.ZodType>; valueType?: z.ZodType };
  if (!isPlainObject(value)) return;
  if (def.type === "record" && def.valueType) {
    for (const [key, child] of Object.entries(value)) collectUnknownKeys(child, def.valueType, [...keyPath, key], warnings);
    return;
  }
  if (def.type !== "object" || !def.shape) return;
  const known = Object.keys(def.shape);
  for (const [key, child] of Object.entries(value)) {
    if (Object.hasOwn(def.shape, key)) {
      collectUnknownKeys(child, def.shape[key], [...keyPath, key], warnings);
      continue;
    }
    const full = [...keyPath, key].join(".");
    const guess = closest(key, known);
    const hint = guess ? `did you mean '${[...keyPath, guess].join(".")}'?` : `known keys: ${known.join(", ")}`;
    warnings.push(`${CONFIG_FILE}: unknown key '${full}' (${hint})`);
  }
}

/** A server entry is one of two shapes (picked by command or url), which the generic walk cannot see into. */
function collectUnknownMcpKeys(servers: unknown, warnings: string[]): void {
  if (!isPlainObject(servers)) return;
  for (const [name, server] of Object.entries(servers)) {
    if (!isPlainObject(server)) continue;
    const schema = "command" in server ? mcpStdioSchema : "url" in server ? mcpHttpSchema : undefined;
    if (schema) collectUnknownKeys(server, schema, ["mcp_servers", name], warnings);
  }
}

/** Sees through optional/default wrappers to the object or record underneath. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = current.def as { type: string; innerType?: z.ZodType };
    if (!def.innerType || !["optional", "default", "prefault", "nullable"].includes(def.type)) return current;
    current = def.innerType;
  }
}

/** `key:` with nothing after it is YAML null; treat it as "not set" so the default applies. */
function dropNulls(value: unknown): any {
  if (value === null) return undefined;
  if (Array.isArray(value)) return value;
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) if (child !== null) out[key] = dropNulls(child);
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
