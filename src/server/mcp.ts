/**
 * /mcp: the project's agents served over MCP (Streamable HTTP, the official SDK's server transport), so an
 * MCP client (Claude Desktop, Cursor, another agent framework) can call a klisk agent as a tool. Each agent
 * is a tool `ask_<agent>` taking `message` and an optional `state` (klisk's state from the previous
 * answer), answering with the agent's final text and, as structured content, the new state. With a
 * progressToken in the call, progress notifications carry the streamed text as it comes.
 *
 * The SDK is loaded on the first request, so a server nobody reaches over MCP starts no slower. Sessions are
 * kept in memory (per process): a cancellation (notifications/cancelled) arrives as a request of its own and
 * must reach the session running the call. Auth, rate limit, body limits and run slots are the router's and
 * withRun's, as for every route.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { AbortedError, RequestError } from "../errors";
import type { Agent } from "../sdk/agent";
import { withRun } from "./chat";
import { parseClientTurn } from "./clientTurn";
import type { ServerContext } from "./context";
import { sendJson, type ErrorShape, type Handler } from "./handlers";
import { bodyOf } from "./jsonBody";
import { CANCELLED_MESSAGE } from "./runs";

type ServerModule = typeof import("@modelcontextprotocol/sdk/server/index.js");
type TransportModule = typeof import("@modelcontextprotocol/sdk/server/streamableHttp.js");
type TypesModule = typeof import("@modelcontextprotocol/sdk/types.js");
type McpSdk = ServerModule & TransportModule & TypesModule;
type Transport = InstanceType<TransportModule["StreamableHTTPServerTransport"]>;
type CallResult = { content: { type: "text"; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean };

/** Sessions idle this long are closed; at most this many are kept (the oldest idle one goes first). */
const SESSION_IDLE_MS = 30 * 60_000;
const MAX_SESSIONS = 1000;

/** klisk's `{"error": "..."}` as a JSON-RPC error, which MCP clients read. */
export const mcpError: ErrorShape = (message) => ({ jsonrpc: "2.0", error: { code: -32000, message }, id: null });

/** The tool name of each agent: `ask_<name>` with characters outside MCP's tool-name set as `_`, made unique. */
export function mcpToolNames(agents: readonly Agent[]): Map<string, Agent> {
  const tools = new Map<string, Agent>();
  for (const agent of agents) {
    const base = `ask_${agent.name.replace(/[^A-Za-z0-9_.-]/g, "_")}`.slice(0, 120);
    let name = base;
    for (let i = 2; tools.has(name); i++) name = `${base}_${i}`;
    tools.set(name, agent);
  }
  return tools;
}

interface Session {
  transport: Transport;
  lastSeen: number;
}

export function mcpRoute(context: ServerContext): Handler {
  let sdk: Promise<McpSdk> | undefined;
  const sessions = new Map<string, Session>();
  const tools = mcpToolNames(context.project.agents);

  const prune = (now: number) => {
    for (const [id, session] of sessions) {
      if (now - session.lastSeen > SESSION_IDLE_MS || sessions.size > MAX_SESSIONS) {
        sessions.delete(id);
        void session.transport.close();
      }
    }
  };

  return async function mcp(req, res) {
    const loaded = await (sdk ??= loadSdk());
    const id = req.headers["mcp-session-id"];
    const now = Date.now();
    let session = typeof id === "string" ? sessions.get(id) : undefined;
    if (id !== undefined && !session) {
      // Expired or from another process: the client starts a new session on 404.
      return sendJson(res, 404, { jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null });
    }
    if (!session) {
      prune(now);
      session = { transport: newSession(loaded, context, tools, sessions), lastSeen: now };
    }
    session.lastSeen = now;
    await session.transport.handleRequest(req as IncomingMessage, res as ServerResponse, req.method === "POST" ? bodyOf(req) : undefined);
  };
}

function loadSdk(): Promise<McpSdk> {
  return Promise.all([
    import("@modelcontextprotocol/sdk/server/index.js"),
    import("@modelcontextprotocol/sdk/server/streamableHttp.js"),
    import("@modelcontextprotocol/sdk/types.js"),
  ]).then(([server, transport, types]) => ({ ...server, ...transport, ...types }));
}

/** A server and its transport for one client; kept once the client's initialize gives it a session id. */
function newSession(sdk: McpSdk, context: ServerContext, tools: Map<string, Agent>, sessions: Map<string, Session>): Transport {
  const transport: Transport = new sdk.StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => void sessions.set(id, { transport, lastSeen: Date.now() }),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  const server = new sdk.Server({ name: context.project.name, version: "1.0.0" }, { capabilities: { tools: {} } });
  const list = [...tools].map(([name, agent]) => toolSpec(name, agent));
  server.setRequestHandler(sdk.ListToolsRequestSchema, () => ({ tools: list }));
  server.setRequestHandler(sdk.CallToolRequestSchema, async (request, extra) => {
    const agent = tools.get(request.params.name);
    if (!agent) throw new sdk.McpError(sdk.ErrorCode.InvalidParams, `Unknown tool '${request.params.name}'. The tools are: ${[...tools.keys()].join(", ")}`);
    const progressToken = request.params._meta?.progressToken;
    const progress = progressToken === undefined ? undefined : (step: number, text: string) =>
      extra.sendNotification({ method: "notifications/progress", params: { progressToken, progress: step, message: text } });
    return askAgent(context, agent, request.params.arguments ?? {}, extra.signal, progress);
  });
  void server.connect(transport);
  return transport;
}

function toolSpec(name: string, agent: Agent) {
  return {
    name,
    title: agent.name,
    // Not the instructions: they are the server's, and tool lists are shown to whoever connects.
    description: `Ask the agent '${agent.name}'. Pass the returned state back to continue the conversation.`,
    inputSchema: {
      type: "object" as const,
      properties: {
        message: { type: "string", description: "The user message for the agent." },
        state: { type: "object", description: "The state from the previous answer, to continue that conversation." },
      },
      required: ["message"],
    },
    outputSchema: {
      type: "object" as const,
      properties: {
        response: { type: "string", description: "The agent's final answer." },
        state: { type: "object", description: "Pass back as `state` to continue the conversation." },
      },
      required: ["response", "state"],
    },
  };
}

/**
 * One tool call: one run (same checks, limits and run slot as /api/chat). Problems with the input or the run
 * are tool errors (`isError`), which the calling model can read; a cancelled call aborts the run.
 */
async function askAgent(
  context: ServerContext,
  agent: Agent,
  args: Record<string, unknown>,
  signal: AbortSignal,
  progress?: (step: number, text: string) => Promise<void>,
): Promise<CallResult> {
  const failed = (text: string): CallResult => ({ content: [{ type: "text", text }], isError: true });
  if (typeof args.message !== "string") return failed("'message' must be a string");
  let outcome: CallResult | undefined;
  try {
    const turn = parseClientTurn({ text: args.message, agentName: agent.name, state: args.state }, context);
    await withRun(context, undefined, { ...turn, stream: progress !== undefined }, "mcp", async ({ events, controller }) => {
      const cancel = () => controller.abort(new AbortedError(CANCELLED_MESSAGE));
      signal.addEventListener("abort", cancel, { once: true });
      if (signal.aborted) cancel();
      let step = 0;
      try {
        for await (const event of events) {
          if (event.type === "token" && progress && event.data !== "") await progress(++step, event.data);
          else if (event.type === "done") outcome = { content: [{ type: "text", text: event.data }], structuredContent: { response: event.data, state: event.state } };
          else if (event.type === "error") outcome = failed(event.data);
        }
      } finally {
        signal.removeEventListener("abort", cancel);
      }
    });
  } catch (err) {
    if (err instanceof RequestError) return failed(err.message);
    throw err;
  }
  return outcome ?? failed("The run ended without an answer");
}
