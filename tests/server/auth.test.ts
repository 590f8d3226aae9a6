/** API keys from each env variable, header forms, open endpoints, and CORS (preflight and SSE). */
import request from "supertest";
import type { Project } from "../../src/project/project";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";

useFakeOpenAI();
let project: Project;
const KEY_VARS = ["KLISK_API_KEY", "KLISK_CHAT_KEY", "KLISK_WIDGET_KEY"] as const;

beforeAll(() => {
  project = makeProject([{ name: "Assistant" }]);
});

/** Keys are read when the server starts, so each case sets env first and restores it after. */
async function withKeys(env: Partial<Record<(typeof KEY_VARS)[number], string>>, fn: (server: RunningServer) => Promise<void>, served = project) {
  const saved = KEY_VARS.map((name) => [name, process.env[name]] as const);
  for (const name of KEY_VARS) delete process.env[name];
  Object.assign(process.env, env);
  const server = await serve(served);
  try {
    await fn(server);
  } finally {
    await server.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

const chat = { message: "hi", stream: false };

test("auth off: no key needed, /api/info says so", () =>
  withKeys({}, async (server) => {
    expect((await postChat(server.url, chat)).status).toBe(200);
    expect((await request(server.url).get("/api/info")).body.auth_required).toBe(false);
  }));

test.each(KEY_VARS)("%s turns auth on", (name) =>
  withKeys({ [name]: "sk-secret" }, async (server) => {
    const missing = await postChat(server.url, chat);
    expect(missing.status).toBe(401);
    expect(await json(missing)).toEqual({ error: "Invalid API key" });
    const wrong = await postChat(server.url, chat, { Authorization: "Bearer sk-wrong" });
    expect(wrong.status).toBe(401);
    expect((await postChat(server.url, chat, { Authorization: "Bearer sk-secret" })).status).toBe(200);
    expect((await request(server.url).get("/api/info")).body.auth_required).toBe(true);
  }));

test("comma-separated lists: every key works, blanks and spaces are ignored", () =>
  withKeys({ KLISK_API_KEY: " sk-1 , sk-2,,", KLISK_CHAT_KEY: "sk-chat" }, async (server) => {
    for (const key of ["sk-1", "sk-2", "sk-chat"]) {
      expect((await postChat(server.url, chat, { Authorization: `Bearer ${key}` })).status).toBe(200);
    }
    expect((await postChat(server.url, chat, { Authorization: "Bearer " })).status).toBe(401);
    expect((await postChat(server.url, chat, { Authorization: "Bearer sk-1,sk-2" })).status).toBe(401);
  }));

test("the chat and widget keys reach the agent's routes, never the operator's /metrics (a widget key is public)", () =>
  withKeys(
    { KLISK_API_KEY: "sk-operator", KLISK_CHAT_KEY: "sk-chat", KLISK_WIDGET_KEY: "sk-widget" },
    async (server) => {
      for (const key of ["sk-operator", "sk-chat", "sk-widget"]) {
        const bearer = { Authorization: `Bearer ${key}` };
        expect((await postChat(server.url, chat, bearer)).status).toBe(200);
        expect((await fetch(`${server.url}/v1/models`, { headers: bearer })).status).toBe(200);
        const metrics = await fetch(`${server.url}/metrics`, { headers: bearer });
        expect([key, metrics.status]).toEqual([key, key === "sk-operator" ? 200 : 401]);
        if (key !== "sk-operator") expect(await metrics.json()).toEqual({ error: "Invalid API key" });
      }
    },
    makeProject([{ name: "Assistant" }], "deploy:\n  metrics:\n    enabled: true\n"),
  ));

test("X-API-Key header is accepted", () =>
  withKeys({ KLISK_API_KEY: "sk-secret" }, async (server) => {
    expect((await postChat(server.url, chat, { "X-API-Key": "sk-secret" })).status).toBe(200);
    expect((await postChat(server.url, chat, { "X-API-Key": "nope" })).status).toBe(401);
  }));

test("/health and /api/info stay open with auth on", () =>
  withKeys({ KLISK_API_KEY: "sk-secret" }, async (server) => {
    expect((await request(server.url).get("/health")).status).toBe(200);
    expect((await request(server.url).get("/api/info")).status).toBe(200);
  }));

test("auth is checked before the body: a bad key with malformed JSON is a 401", () =>
  withKeys({ KLISK_API_KEY: "sk-secret" }, async (server) => {
    expect((await postChat(server.url, "{oops")).status).toBe(401);
  }));

test("a CORS preflight asking for Authorization is allowed, even with auth on", () =>
  withKeys({ KLISK_API_KEY: "sk-secret" }, async (server) => {
    const res = await request(server.url)
      .options("/api/chat")
      .set("Origin", "https://app.example.com")
      .set("Access-Control-Request-Method", "POST")
      .set("Access-Control-Request-Headers", "authorization, content-type");
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("*");
    expect(res.headers["access-control-allow-methods"]).toMatch(/POST/);
    expect(res.headers["access-control-allow-headers"]).toMatch(/authorization/i);
    expect(res.headers["access-control-allow-headers"]).toMatch(/content-type/i);
  }));

test("CORS headers are on SSE responses and on 401s", () =>
  withKeys({ KLISK_API_KEY: "sk-secret" }, async (server) => {
    const res = await postChat(server.url, { message: "hi" }, { Origin: "https://app.example.com", Authorization: "Bearer sk-secret" });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(parseSse(await res.text()).at(-1)).toBe("[DONE]");
    const denied = await postChat(server.url, chat, { Origin: "https://app.example.com" });
    expect(denied.headers.get("access-control-allow-origin")).toBe("*");
  }));

test("deploy.api.cors_origins restricts origins", async () => {
  const restricted = makeProject([{ name: "Assistant" }], "deploy:\n  api:\n    cors_origins: [\"https://good.example\"]\n");
  const server = await serve(restricted);
  try {
    const good = await request(server.url).get("/health").set("Origin", "https://good.example");
    expect(good.headers["access-control-allow-origin"]).toBe("https://good.example");
    const bad = await request(server.url).get("/health").set("Origin", "https://evil.example");
    expect(bad.headers["access-control-allow-origin"]).toBeUndefined();
  } finally {
    await server.close();
  }
});
