/**
 * klisk's routes, and the matching rule the WebSocket upgrade shares with Express's router (its defaults:
 * case-insensitive, one trailing slash ignored), so /WS/CHAT/ reaches the same endpoint /API/CHAT/ would.
 */
export const ROUTES = {
  health: "/health",
  info: "/api/info",
  chat: "/api/chat",
  ws: "/ws/chat",
  aiSdk: "/api/ai-sdk",
  agUi: "/api/ag-ui",
  openaiChat: "/v1/chat/completions",
  openaiModels: "/v1/models",
  mcp: "/mcp",
  a2a: "/a2a",
  agentCard: "/.well-known/agent-card.json",
  openapi: "/openapi.json",
  docs: "/docs",
} as const;

/** True when a request path (no query string) matches a route path as Express's router would match it. */
export function samePath(requestPath: string, routePath: string): boolean {
  const path = requestPath.length > 1 && requestPath.endsWith("/") ? requestPath.slice(0, -1) : requestPath;
  return path.length === routePath.length && path.toLowerCase() === routePath.toLowerCase();
}

/** A mount prefix ("/agent", "/agent/", "") joined to a route path. */
export function underPrefix(prefix: string, routePath: string): string {
  const trimmed = prefix.replace(/\/+$/, "");
  return trimmed === "" ? routePath : `${trimmed.startsWith("/") ? "" : "/"}${trimmed}${routePath}`;
}
