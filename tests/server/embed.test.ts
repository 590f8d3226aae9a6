/**
 * klisk inside a user's own Express app (klisk/express) and a project's configureServer(app) hook under
 * `klisk serve`: mounted under a prefix, next to the host's own routes, over real sockets.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import WebSocket from "ws";
import { createKliskRouter, type KliskRouter } from "../../src/express";
import { ConfigError } from "../../src/errors";
import { loadProject } from "../../src/project/load";
import { startServer } from "../../src/server/listen";
import { json, makeProject, openWs, parseSse, postChat, useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";

useFakeOpenAI();

interface Host {
  url: string;
  agent: KliskRouter;
  close(): Promise<void>;
}

/** The user's app: its own routes before and after klisk's router, mounted at /agent, WebSocket attached. */
async function startHost(options: { keys?: string } = {}): Promise<Host> {
  const project = makeProject([{ name: "Assistant" }], "deploy:\n  api:\n    cors_origins: [\"https://shop.example\"]\n");
  const agent = await createKliskRouter(project, options.keys ? { keys: (await import("../../src/server/auth")).loadApiKeys({ KLISK_API_KEY: options.keys }) } : {});
  const app = express();
  app.get("/hello", (_req, res) => void res.send("host says hi"));
  app.use("/agent", agent);
  app.use((_req, res) => void res.status(404).send("host 404"));
  const server = http.createServer(app);
  agent.attachWebSocket(server, { prefix: "/agent" });
  // The host's own upgrade listener for its own path: klisk must leave it alone.
  const own = new WebSocket.Server({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    if (req.url === "/host-socket") own.handleUpgrade(req, socket, head, (ws) => ws.send("host socket"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    agent,
    async close() {
      await agent.close(500);
      own.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("createKliskRouter mounted under /agent in the host's app", () => {
  let host: Host;
  beforeAll(async () => {
    host = await startHost();
  });
  afterAll(() => host.close());

  test("serves health, info, JSON and SSE chat under the prefix", async () => {
    expect(await json(await fetch(`${host.url}/agent/health`))).toEqual({ status: "ok" });
    expect((await json(await fetch(`${host.url}/agent/api/info`))).agent).toBe("Assistant");
    const answer = await postChat(`${host.url}/agent`, { message: "hi", stream: false });
    expect(answer.status).toBe(200);
    const first = await json(answer);
    expect(first.response).toBe("Echo: hi");
    const events = parseSse(await (await postChat(`${host.url}/agent`, { message: "again", state: first.state })).text());
    expect(events.at(-2)).toMatchObject({ type: "done", data: "Echo: again" });
    expect(events.at(-1)).toBe("[DONE]");
  });

  test("the chat page is served at the mount's root", async () => {
    const page = await fetch(`${host.url}/agent/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
  });

  test("errors are klisk's JSON; unknown paths fall through to the host", async () => {
    const bad = await postChat(`${host.url}/agent`, { stream: false });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toEqual({ error: "'message' is required" });
    const unknown = await fetch(`${host.url}/agent/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe("host 404");
  });

  test("the host's own routes are untouched by klisk's edge middleware (no request id, no CORS refusal)", async () => {
    const res = await fetch(`${host.url}/hello`, { headers: { Origin: "https://elsewhere.example" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("host says hi");
    expect(res.headers.get("x-request-id")).toBeNull();
    const refused = await postChat(`${host.url}/agent`, { message: "hi", stream: false }, { Origin: "https://elsewhere.example" });
    expect(refused.status).toBe(403);
  });

  test("WebSocket at <prefix>/ws/chat; the host's other upgrade paths still reach its own listener", async () => {
    const client = await openWs(`${host.url}/agent`);
    client.send({ message: "over ws" });
    expect((await client.until("done")).at(-1).data).toBe("Echo: over ws");
    client.close();
    const hostSocket = new WebSocket(`${host.url.replace("http", "ws")}/host-socket`);
    expect(await new Promise((resolve) => hostSocket.once("message", (data) => resolve(String(data))))).toBe("host socket");
    hostSocket.close();
  });

  test("close() drains: new chats get 503 shutting down", async () => {
    const other = await startHost();
    await other.agent.close(500);
    const res = await postChat(`${other.url}/agent`, { message: "late", stream: false });
    expect(res.status).toBe(503);
    expect(await json(res)).toEqual({ error: "Server shutting down" });
    await other.close();
  });
});

test("a router with keys asks for them, over REST and WebSocket", async () => {
  const host = await startHost({ keys: "sk-embed" });
  try {
    expect((await postChat(`${host.url}/agent`, { message: "hi", stream: false })).status).toBe(401);
    expect((await postChat(`${host.url}/agent`, { message: "hi", stream: false }, { Authorization: "Bearer sk-embed" })).status).toBe(200);
    const client = await openWs(`${host.url}/agent`);
    expect(await client.next()).toEqual({ type: "auth_error", data: "Invalid API key" });
    expect(await client.closed).toBe(4001);
  } finally {
    await host.close();
  }
});

test("createKliskRouter loads a project directory as klisk serve does", async () => {
  const dir = writeProjectDir({ config: "name: from-dir\n", entry: 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Dir" });\n' });
  const agent = await createKliskRouter(dir, { ui: false });
  const app = express().use("/x", agent);
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    expect(await json(await fetch(`${url}/api/info`))).toMatchObject({ name: "from-dir", agent: "Dir" });
    // ui: false leaves / to the host: Express's own 404 page here, not the chat page.
    const root = await fetch(`${url}/`);
    expect(root.status).toBe(404);
    expect(await root.text()).toMatch(/Cannot GET \/x\//);
  } finally {
    await agent.close(100);
    await new Promise((resolve) => server.close(resolve));
  }
});

describe("configureServer(app) exported from the entry", () => {
  const entry = `import { defineAgent } from "klisk";
import type { Express } from "express";
defineAgent({ name: "Hooked" });
export function configureServer(app: Express) {
  app.use((req, res, next) => {
    res.setHeader("X-Project-Middleware", "yes");
    if (req.path === "/api/chat" && req.headers["x-tenant"] === undefined) {
      res.status(401).json({ error: "tenant header required" });
      return;
    }
    next();
  });
  app.post("/webhook", (_req, res) => { res.json({ received: true }); });
}
`;

  test("its middleware runs before klisk's routes and its routes are served, under klisk serve's edge", async () => {
    const project = await loadProject(writeProjectDir({ entry }));
    const server = await startServer(project, { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 200 });
    try {
      const hook = await fetch(`${server.url}/webhook`, { method: "POST" });
      expect(await json(hook)).toEqual({ received: true });
      expect(hook.headers.get("x-project-middleware")).toBe("yes");
      expect(hook.headers.get("x-request-id")).toMatch(/.+/);

      const refused = await postChat(server.url, { message: "hi", stream: false });
      expect(refused.status).toBe(401);
      expect(await json(refused)).toEqual({ error: "tenant header required" });
      const allowed = await postChat(server.url, { message: "hi", stream: false }, { "X-Tenant": "acme" });
      expect(allowed.status).toBe(200);
      expect((await json(allowed)).response).toBe("Echo: hi");
      expect(allowed.headers.get("x-project-middleware")).toBe("yes");
      expect((await fetch(`${server.url}/nothing-here`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  test("a configureServer that is not a function is a config error naming the entry", async () => {
    const dir = writeProjectDir({ entry: 'import { defineAgent } from "klisk";\ndefineAgent({ name: "A" });\nexport const configureServer = 42;\n' });
    await expect(loadProject(dir)).rejects.toBeInstanceOf(ConfigError);
    await expect(loadProject(dir)).rejects.toThrow("src/main.ts: 'configureServer' must be a function (app) => void, got number");
  });
});
