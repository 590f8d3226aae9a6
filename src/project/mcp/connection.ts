/**
 * One MCP server: its client (stdio child process or Streamable HTTP), its cached tool list, and what keeps
 * it usable: the list is refreshed on the server's list-changed notification, and a server that goes away
 * (a crashed child, an HTTP server that restarted or stopped answering) is reconnected with back-off.
 * The SDK is required here, when the first server starts: projects without MCP servers never load it.
 */
import fs from "node:fs";
import path from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { log } from "../../log";
import type { Tool } from "../../sdk/tool";
import type { McpServerConfig } from "../config";
import { substituteAll, substituteEnv } from "./substitute";
import { mcpTool, type McpCallResult, type McpToolInfo } from "./tools";

/** Back-off between reconnection attempts: 0.5 s, 1 s, 2 s, ... up to 30 s. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 30_000;
/** Lines of a stdio server's stderr kept to explain why it stopped. */
const STDERR_LINES = 20;

export type McpStatus = "connecting" | "connected" | "reconnecting" | "closed";

export interface McpConnectionOptions {
  /** The project directory: a stdio server's default cwd, and what a relative cwd is resolved against. */
  dir: string;
  /** A call's own bound (the run timeout): the SDK's default of 60 s would cut long tools short. */
  callTimeoutMs: number;
  /** How long connecting (spawn + initialize + tools/list) may take. */
  connectTimeoutMs?: number;
}

export class McpConnection {
  status: McpStatus = "connecting";
  /** Why the last connection attempt failed or the connection dropped, for errors and `klisk check`. */
  lastError?: string;
  /** The server's tools as klisk tools, as of the last tools/list. */
  tools: readonly Tool[] = [];
  /** Called after the tool list changed (a refresh or a reconnect). */
  onToolsChanged?: () => void;

  private client?: Client;
  private transport?: Transport;
  private connecting?: Promise<Client>;
  private retryTimer?: NodeJS.Timeout;
  private attempts = 0;
  private stderrTail: string[] = [];

  constructor(readonly name: string, readonly config: McpServerConfig, private readonly options: McpConnectionOptions) {}

  /** "stdio: node server.js" or "http: https://…" (the URL as written, so a ${SECRET} stays hidden). */
  get label(): string {
    const c = this.config;
    return "command" in c ? `stdio: ${[c.command, ...c.args].join(" ")}` : `http: ${c.url}`;
  }

  /** The stdio child's process id while it runs. */
  get pid(): number | undefined {
    return (this.transport as { pid?: number | null } | undefined)?.pid ?? undefined;
  }

  /** The first connection. Throws (with the reason) when the server cannot be reached or does not start. */
  async start(): Promise<void> {
    await this.connect();
  }

  /** tools/call on this server. Rejects with an Error whose message says which server failed and why. */
  async call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<McpCallResult> {
    const client = await this.ready();
    try {
      return await this.callOn(client, tool, args, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      // An HTTP server that restarted forgot our session (404): the call never ran, so connect afresh and retry once.
      if (isSessionGone(err) && this.client === client) {
        this.dropClient(client);
        const fresh = await this.connect().catch((e) => {
          this.scheduleReconnect();
          throw this.unavailable(e);
        });
        return await this.callOn(fresh, tool, args, signal);
      }
      if (isUnreachable(err) && this.client === client) {
        this.dropClient(client);
        this.scheduleReconnect();
      }
      throw this.failure(err);
    }
  }

  /** Stops the child process (stdio) or ends the session (HTTP); no reconnection afterwards. */
  async close(): Promise<void> {
    this.status = "closed";
    clearTimeout(this.retryTimer);
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await closeQuietly(client, this.transport);
  }

  private async callOn(client: Client, tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<McpCallResult> {
    // The SDK sends notifications/cancelled to the server when the signal aborts.
    return (await client.callTool({ name: tool, arguments: args }, undefined, { signal, timeout: this.options.callTimeoutMs })) as McpCallResult;
  }

  private async ready(): Promise<Client> {
    if (this.client) return this.client;
    if (this.status === "closed") throw new Error(`MCP server '${this.name}' is shut down`);
    if (this.connecting) return this.connecting.catch((err) => Promise.reject(this.unavailable(err)));
    throw new Error(`MCP server '${this.name}' is unavailable (${this.lastError ?? "not connected"}); klisk keeps trying to reconnect`);
  }

  /** One connection attempt, shared by everyone who asks while it runs. */
  private connect(): Promise<Client> {
    this.connecting ??= this.open().then(
      (client) => {
        this.connecting = undefined;
        this.attempts = 0;
        this.lastError = undefined;
        this.status = "connected";
        this.client = client;
        return client;
      },
      (err) => {
        this.connecting = undefined;
        this.lastError = this.reason(err);
        throw err;
      },
    );
    return this.connecting;
  }

  private async open(): Promise<Client> {
    const { Client } = require("@modelcontextprotocol/sdk/client/index.js") as typeof import("@modelcontextprotocol/sdk/client/index.js");
    const transport = this.createTransport();
    const client = new Client(
      { name: "klisk", version: KLISK_VERSION },
      { listChanged: { tools: { autoRefresh: false, debounceMs: 50, onChanged: () => void this.refresh(client) } } },
    );
    client.onclose = () => {
      if (this.client !== client) return;
      log.warn({ mcpServer: this.name, reason: this.stderrSummary() }, `MCP server '${this.name}' closed the connection; reconnecting`);
      this.lastError = `the connection closed${this.stderrSummary() ? ` (${this.stderrSummary()})` : ""}`;
      this.dropClient(client);
      this.scheduleReconnect();
    };
    // Transport hiccups (an HTTP notification stream that broke) are retried by the SDK; calls report real failures.
    client.onerror = (err) => log.debug({ mcpServer: this.name, err: String(err) }, "MCP transport error");
    this.transport = transport;
    const timeout = this.options.connectTimeoutMs ?? 30_000;
    try {
      await client.connect(transport, { timeout });
      this.tools = await this.listTools(client, timeout);
    } catch (err) {
      await closeQuietly(client, transport);
      throw err;
    }
    return client;
  }

  private createTransport(): Transport {
    const where = `mcp_servers.${this.name}`;
    const c = this.config;
    if ("command" in c) {
      const { StdioClientTransport, getDefaultEnvironment } = require("@modelcontextprotocol/sdk/client/stdio.js") as typeof import("@modelcontextprotocol/sdk/client/stdio.js");
      const cwd = path.resolve(this.options.dir, c.cwd !== undefined ? substituteEnv(c.cwd, `${where}.cwd`) : ".");
      if (!fs.statSync(cwd, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`its cwd ${cwd} is not a directory`);
      // The SDK's safe default environment (PATH, HOME, ...) plus what the config gives: no other secret of ours leaks.
      const env = { ...getDefaultEnvironment(), ...substituteAll(c.env, `${where}.env`) };
      const transport = new StdioClientTransport({
        command: substituteEnv(c.command, `${where}.command`),
        args: c.args.map((a, i) => substituteEnv(a, `${where}.args[${i}]`)),
        env,
        cwd,
        stderr: "pipe",
      });
      this.stderrTail = [];
      transport.stderr?.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) {
          if (!line.trim()) continue;
          this.stderrTail.push(line.trimEnd());
          log.debug({ mcpServer: this.name }, line.trimEnd());
        }
        this.stderrTail.splice(0, Math.max(0, this.stderrTail.length - STDERR_LINES));
      });
      return transport;
    }
    const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js") as typeof import("@modelcontextprotocol/sdk/client/streamableHttp.js");
    const url = substituteEnv(c.url, `${where}.url`);
    if (!URL.canParse(url)) throw new Error(`its url ${JSON.stringify(c.url)} is not a valid URL`);
    return new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: substituteAll(c.headers, `${where}.headers`) } });
  }

  private async listTools(client: Client, timeout: number): Promise<Tool[]> {
    const infos: McpToolInfo[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout });
      infos.push(...(page.tools as McpToolInfo[]));
      cursor = page.nextCursor;
    } while (cursor);
    return infos.map((info) => mcpTool(this.name, info, (tool, args, signal) => this.call(tool, args, signal)));
  }

  /** On notifications/tools/list_changed: the cached list is replaced once the new one is in. */
  private async refresh(client: Client): Promise<void> {
    if (this.client !== client) return;
    try {
      const tools = await this.listTools(client, this.options.connectTimeoutMs ?? 30_000);
      if (this.client !== client) return;
      this.tools = tools;
      log.info({ mcpServer: this.name, tools: tools.length }, `MCP server '${this.name}': tool list changed`);
      this.onToolsChanged?.();
    } catch (err) {
      log.warn({ mcpServer: this.name, err: String(err) }, `MCP server '${this.name}': cannot refresh its tool list`);
    }
  }

  private dropClient(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.status = "reconnecting";
    void closeQuietly(client, undefined);
  }

  /** Reconnects in the background, waiting longer after each failure; the tools stay listed meanwhile. */
  scheduleReconnect(): void {
    if (this.status === "closed" || this.retryTimer || this.connecting || this.client) return;
    this.status = "reconnecting";
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.attempts++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.status === "closed") return;
      this.connect().then(
        () => {
          log.info({ mcpServer: this.name }, `MCP server '${this.name}' reconnected`);
          this.onToolsChanged?.();
        },
        (err) => {
          log.warn({ mcpServer: this.name, err: this.reason(err), retryInMs: Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.attempts) }, `MCP server '${this.name}' is still unavailable`);
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.retryTimer.unref(); // never what keeps a process alive
  }

  private unavailable(err: unknown): Error {
    return new Error(`MCP server '${this.name}' is unavailable: ${this.reason(err)}`);
  }

  private failure(err: unknown): Error {
    return new Error(`MCP server '${this.name}': ${this.reason(err)}`);
  }

  /** A short reason: the error's message, with the stdio server's last stderr lines when it died. */
  reason(err: unknown): string {
    const code = causeCode(err);
    // A server's McpError reaches us prefixed twice ("MCP error -32603: MCP error -32603: ..."): once is enough.
    const text = (err instanceof Error ? err.message : String(err)).replace(/(MCP error -?\d+: )\1+/g, "$1");
    const message = code && !text.includes(code) ? `${text} (${code})` : text;
    const stderr = this.stderrSummary();
    return stderr && /closed|EPIPE|ENOENT|spawn/i.test(message) ? `${message} (stderr: ${stderr})` : message;
  }

  private stderrSummary(): string {
    return this.stderrTail.slice(-3).join(" | ").slice(0, 500);
  }
}

const KLISK_VERSION = (() => {
  try {
    // src/project/mcp and dist/project/mcp are both three levels below the package root.
    return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "..", "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
})();

async function closeQuietly(client: Client | undefined, transport: Transport | undefined): Promise<void> {
  try {
    if (client) await client.close();
    else await transport?.close();
  } catch {
    // already gone
  }
}

/** The system error code (ECONNREFUSED, ...) somewhere down an error's cause chain: "fetch failed" alone says little. */
function causeCode(err: unknown): string | undefined {
  let current = err as { cause?: unknown; code?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === "string" && /^E[A-Z]+$/.test(current.code)) return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}

/** The HTTP server answered 404 to our session id: it restarted and lost the session. */
function isSessionGone(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 404;
}

/** Nothing answered (refused, reset, DNS) or the connection closed under the request. */
function isUnreachable(err: unknown): boolean {
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown } };
  return (
    (e instanceof TypeError && /fetch failed/i.test(String(e.message))) ||
    /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH/.test(causeCode(err) ?? "") ||
    e?.code === -32000 // ConnectionClosed
  );
}
