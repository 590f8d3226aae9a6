/**
 * A Streamable HTTP MCP server written with the SDK's own server classes (low-level `Server` +
 * `StreamableHTTPServerTransport`, stateful sessions) on a loopback port, for tests of klisk's MCP client.
 * Its tools: `whoami` (the Authorization header it got), `wait` (until cancelled), `fail` (a JSON-RPC
 * error, not an isError result), `oops` (an isError result); `addTool` adds one and notifies list-changed.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

export interface McpHttpServer {
  url: string;
  port: number;
  /** Authorization headers of the requests received, in order. */
  authorizations: Array<string | undefined>;
  /** Resolves when a `wait` call was cancelled by the client (its request's signal aborted), with the reason. */
  cancelled: Promise<unknown>;
  /** Resolves when a `wait` call has started. */
  waiting: Promise<void>;
  /** Adds a tool answering "<name> ran" and sends notifications/tools/list_changed to every session. */
  addTool(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startMcpHttpServer(port = 0): Promise<McpHttpServer> {
  const tools = [
    { name: "whoami", description: "The Authorization header the server got.", inputSchema: { type: "object" as const, properties: {} } },
    { name: "wait", description: "Waits until cancelled.", inputSchema: { type: "object" as const, properties: {} } },
    { name: "fail", description: "Fails with a protocol error.", inputSchema: { type: "object" as const, properties: {} } },
    { name: "oops", description: "Fails with an isError result.", inputSchema: { type: "object" as const, properties: {} } },
  ];
  const sessions = new Map<string, { server: Server; transport: StreamableHTTPServerTransport }>();
  const authorizations: Array<string | undefined> = [];
  let onCancelled!: (reason: unknown) => void;
  const cancelled = new Promise<unknown>((resolve) => (onCancelled = resolve));
  let onWaiting!: () => void;
  const waiting = new Promise<void>((resolve) => (onWaiting = resolve));

  function newSession(): StreamableHTTPServerTransport {
    const server = new Server({ name: "test-http", version: "1.0.0" }, { capabilities: { tools: { listChanged: true } } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const name = request.params.name;
      if (name === "whoami") return { content: [{ type: "text", text: String(extra.requestInfo?.headers.authorization ?? "none") }] };
      if (name === "oops") return { content: [{ type: "text", text: "the database is down" }], isError: true };
      if (name === "fail") throw new McpError(ErrorCode.InternalError, "the handler broke");
      if (name === "wait") {
        onWaiting();
        return new Promise((_, reject) => {
          extra.signal.addEventListener("abort", () => {
            onCancelled(extra.signal.reason);
            reject(new Error("cancelled"));
          });
        });
      }
      if (tools.some((t) => t.name === name)) return { content: [{ type: "text", text: `${name} ran` }] };
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool ${name}`);
    });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, { server, transport }),
    });
    void server.connect(transport);
    return transport;
  }

  const httpServer = http.createServer(async (req, res) => {
    authorizations.push(req.headers.authorization);
    let body: unknown;
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    }
    const id = req.headers["mcp-session-id"];
    const session = typeof id === "string" ? sessions.get(id) : undefined;
    if (session) return session.transport.handleRequest(req, res, body);
    if (id === undefined && req.method === "POST" && isInitializeRequest(body)) return newSession().handleRequest(req, res, body);
    res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }));
  });
  const sockets = new Set<Socket>();
  httpServer.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => httpServer.listen(port, "127.0.0.1", resolve));
  const actual = (httpServer.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${actual}/mcp`,
    port: actual,
    authorizations,
    cancelled,
    waiting,
    async addTool(name) {
      tools.push({ name, description: `Added: ${name}`, inputSchema: { type: "object", properties: {} } });
      await Promise.all([...sessions.values()].map((s) => s.server.sendToolListChanged()));
    },
    async close() {
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => {})));
      sessions.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}
