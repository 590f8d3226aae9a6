/**
 * GET /openapi.json and GET /docs over real sockets: the document is valid OpenAPI 3.1, lists every route
 * the router serves (and only those the config turns on), and real answers of the server (JSON bodies,
 * errors, every event of a streamed turn) validate against it with ajv; request bodies the server refuses
 * the document refuses too. /docs is loaded in headless Chromium.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import express from "express";
import type { AddressInfo } from "node:net";
import type { Router } from "express";
import { tool, z } from "../../src/index";
import { loadApiKeys } from "../../src/server/auth";
import { createServerContext } from "../../src/server/context";
import { createFetchHandler } from "../../src/server/fetchHandler";
import type { RunningServer } from "../../src/server/listen";
import { startServer } from "../../src/server/listen";
import { ProjectHolder } from "../../src/server/reload";
import { kliskRouter } from "../../src/server/router";
import { newContext, screenshotPath, useBrowser } from "../helpers/browser";
import { json, makeProject, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
const browser = useBrowser();

const add = tool({ name: "add", description: "Add two numbers.", parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) });
const agents = () => [
  { name: "Assistant", tools: [add], handoffs: ["Billing"] },
  { name: "Billing", model: "gpt-4.1" },
];

let server: RunningServer;
let doc: any;

beforeAll(async () => {
  server = await serve(makeProject(agents(), "name: shop\nlimits:\n  max_message_chars: 50\n  max_attachments: 1\n"));
  const res = await fetch(`${server.url}/openapi.json`);
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(() => server.close());

/** @seriousme/openapi-schema-validator's verdict, from a child process (the validator is ES modules only). */
function validateDocument(document: unknown): { valid: boolean; version: string; errors: unknown } {
  const script = path.join(__dirname, "../helpers/validateOpenApi.mjs");
  return JSON.parse(execFileSync(process.execPath, [script], { input: JSON.stringify(document), encoding: "utf8" }));
}

/** Validates values against schemas inside the document, addressed by JSON pointer, as an OpenAPI tool would. */
function schemaChecker(document: any) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const base = "https://klisk.test/openapi.json";
  ajv.addSchema({ ...document, $id: base });
  return (at: string[]) => {
    const pointer = at.map((part) => part.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
    const validate = ajv.compile({ $ref: `${base}#/${pointer}` });
    return (value: unknown) => {
      const ok = validate(value) as boolean;
      return ok ? true : ajv.errorsText(validate.errors);
    };
  };
}

const response = (route: string, method: string, status: number, type = "application/json") => ["paths", route, method, "responses", String(status), "content", type, "schema"];
const requestBody = (route: string, method = "post") => ["paths", route, method, "requestBody", "content", "application/json", "schema"];

test("the document is valid OpenAPI 3.1", () => {
  expect(doc.openapi).toBe("3.1.0");
  const verdict = validateDocument(doc);
  expect(verdict.errors).toBeNull();
  expect(verdict).toMatchObject({ valid: true, version: "3.1" });
  expect(doc.servers).toEqual([{ url: "/" }]);
  expect(doc.info.title).toBe("shop (klisk)");
  // The stream's events are a tagged union a client generator can read.
  expect(doc.components.schemas.ChatEvent.discriminator).toEqual({ propertyName: "type", mapping: expect.objectContaining({ done: "#/components/schemas/DoneEvent" }) });
  expect(Object.keys(doc.components.schemas.ChatEvent.discriminator.mapping).sort()).toEqual(["done", "error", "handoff", "thinking", "token", "tool_call", "tool_result"]);
});

/** Every (method, path) an Express router answers, walking into the routers it mounts without a path. */
function routesOf(router: Router): string[] {
  const found: string[] = [];
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) if (method !== "_all") found.push(`${method} ${layer.route.path}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((router as any).stack);
  return found;
}

test("every route the router serves is in the document (static files of the pages aside), and nothing more", () => {
  const project = makeProject(agents(), "deploy:\n  metrics:\n    enabled: true\n");
  const router = kliskRouter(createServerContext(project, { keys: loadApiKeys({}) }));
  const served = routesOf(router).filter((route) => !/ \/(ui|docs)\/./.test(route));
  expect(served).toEqual(expect.arrayContaining(["post /api/chat", "get /health", "get /metrics", "get /openapi.json", "get /docs", "post /mcp"]));
  const documented = Object.entries(doc.paths).flatMap(([route, ops]) => Object.keys(ops as object).map((method) => `${method} ${route}`));
  // The shared server has metrics off; everything else is the same config.
  expect(new Set(served)).toEqual(new Set([...documented, "get /metrics"]));
});

test("real answers validate against the document: /health, /api/info, /v1/models, a JSON chat, an error", async () => {
  const check = schemaChecker(doc);
  const health = await fetch(`${server.url}/health`);
  expect(check(response("/health", "get", 200))(await health.json())).toBe(true);
  const info = await json(await fetch(`${server.url}/api/info`));
  expect(info.endpoints).toMatchObject({ openapi: "/openapi.json", docs: "/docs" });
  expect(check(response("/api/info", "get", 200))(info)).toBe(true);
  const models = await json(await fetch(`${server.url}/v1/models`));
  expect(check(response("/v1/models", "get", 200))(models)).toBe(true);

  fake().enqueue({ toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] }, { text: "It is 5." });
  const chat = await postChat(server.url, { message: "2+3?", stream: false });
  expect(chat.status).toBe(200);
  const answer = await json(chat);
  expect(answer.usage).toBeDefined();
  expect(check(response("/api/chat", "post", 200))(answer)).toBe(true);
  // The document's shape is not a rubber stamp: a wrong answer fails it.
  expect(check(response("/api/chat", "post", 200))({ ...answer, done: "yes" })).not.toBe(true);

  fake().enqueue({ httpError: { status: 500, message: "upstream down" } }, { httpError: { status: 500 } }, { httpError: { status: 500 } });
  fake().onRequest = () => ({ httpError: { status: 500 } });
  const failed = await postChat(server.url, { message: "fail", stream: false });
  expect(failed.status).toBe(502);
  expect(check(response("/api/chat", "post", 502))(await json(failed))).toBe(true);
  fake().reset();

  const bad = await postChat(server.url, { message: 5 });
  expect(bad.status).toBe(400);
  expect(check(response("/api/chat", "post", 400))(await json(bad))).toBe(true);

  const completion = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ model: "Assistant", messages: [{ role: "user", content: "hi" }] }) });
  expect(completion.status).toBe(200);
  expect(check(response("/v1/chat/completions", "post", 200))(await json(completion))).toBe(true);
  const unknownModel = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ model: "Nobody", messages: [{ role: "user", content: "hi" }] }) });
  expect(unknownModel.status).toBe(404);
  expect(check(response("/v1/chat/completions", "post", 404))(await json(unknownModel))).toBe(true);
});

test("every event of a streamed turn (thinking, tool call and result, hand-off, tokens, done) validates against the described events", async () => {
  const check = schemaChecker(doc)(response("/api/chat", "post", 200, "text/event-stream"));
  fake().enqueue(
    { reasoning: "Adding.", toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }] },
    { toolCalls: [{ name: "transfer_to_billing", arguments: {} }] },
    { text: "Billing here: 3." },
  );
  const res = await postChat(server.url, { message: "1+2, then billing" });
  expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
  const events = parseSse(await res.text());
  expect(events.at(-1)).toBe("[DONE]");
  const types = new Set(events.slice(0, -1).map((e) => e.type));
  expect([...types].sort()).toEqual(["done", "handoff", "thinking", "token", "tool_call", "tool_result"]);
  for (const event of events.slice(0, -1)) expect([event.type, check(event)]).toEqual([event.type, true]);

  fake().enqueue({ fail: "upstream broke" });
  const failed = parseSse(await (await postChat(server.url, { message: "fail" })).text());
  expect(failed.at(-2).type).toBe("error");
  expect(check(failed.at(-2))).toBe(true);
  // An event of an unknown type, or a known one misshapen, is refused.
  expect(check({ type: "tool_call", data: { tool: "add" } })).not.toBe(true);
  expect(check({ type: "mystery", data: "" })).not.toBe(true);
});

test("the other protocols' stream events and the agent card validate against the document", async () => {
  const checker = schemaChecker(doc);
  const aiSdk = await fetch(`${server.url}/api/ai-sdk`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ id: "1", role: "user", parts: [{ type: "text", text: "hi" }] }] }),
  });
  const chunks = parseSse(await aiSdk.text()).slice(0, -1);
  expect(chunks.length).toBeGreaterThan(3);
  for (const chunk of chunks) expect(checker(response("/api/ai-sdk", "post", 200, "text/event-stream"))(chunk)).toBe(true);

  const agUi = await fetch(`${server.url}/api/ag-ui`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "1", role: "user", content: "hi" }], state: {}, tools: [], context: [], forwardedProps: {} }),
  });
  const events = parseSse(await agUi.text());
  expect(events.length).toBeGreaterThan(3);
  for (const event of events) expect(checker(response("/api/ag-ui", "post", 200, "text/event-stream"))(event)).toBe(true);

  const completion = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "Assistant", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }] }),
  });
  const frames = parseSse(await completion.text());
  expect(frames.at(-1)).toBe("[DONE]");
  for (const chunk of frames.slice(0, -1)) expect(checker(response("/v1/chat/completions", "post", 200, "text/event-stream"))(chunk)).toBe(true);

  const card = await json(await fetch(`${server.url}/.well-known/agent-card.json`));
  expect(checker(response("/.well-known/agent-card.json", "get", 200))(card)).toBe(true);
});

test("a body the server refuses, the document's request schema refuses too; a good one both accept", async () => {
  const checker = schemaChecker(doc);
  const check = checker(requestBody("/api/chat"));
  const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
  const attachment = { mime_type: "image/png", data: png, name: "dot.png" };
  const refused: Array<[unknown, number]> = [
    [{}, 400], // no message
    [{ message: 5 }, 400],
    [{ message: "hi", stream: "yes" }, 400],
    [{ message: "hi", attachments: "none" }, 400],
    [{ message: "hi", attachments: [{ mime_type: "image/png" }] }, 400],
    [{ message: "hi", agent_name: "Nobody" }, 400],
    [{ message: "hi", agent_name: 7 }, 400],
    [{ message: "hi", state: "abc" }, 400],
    [{ message: "x".repeat(51) }, 413], // limits.max_message_chars: 50
    [{ message: "hi", attachments: [attachment, attachment] }, 413], // limits.max_attachments: 1
  ];
  for (const [body, status] of refused) {
    const res = await postChat(server.url, body);
    expect([body, res.status]).toEqual([body, status]);
    expect([body, check(body)]).toEqual([body, expect.any(String)]);
    // The refusal itself is an answer the document describes, under its status.
    expect(checker(response("/api/chat", "post", status))(await res.json())).toBe(true);
  }
  const good = { message: "hi", stream: false, agent_name: "Billing", state: null, attachments: [attachment] };
  expect(check(good)).toBe(true);
  const res = await postChat(server.url, good);
  expect(res.status).toBe(200);
  expect(check({ message: "hi", agent_name: null, attachments: null, extra: "ignored" })).toBe(true);
});

test("the document follows the config: keys, rate limit, metrics, switched-off routes, the mount prefix", async () => {
  const project = makeProject(
    agents(),
    "deploy:\n  chat:\n    enabled: false\n  mcp:\n    enabled: false\n  metrics:\n    enabled: true\nlimits:\n  rate_limit:\n    window_s: 60\n    max: 100\n",
  );
  const app = express();
  app.use("/agent", kliskRouter(createServerContext(project, { keys: loadApiKeys({ KLISK_API_KEY: "secret" }) })));
  const http = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => http.once("listening", resolve));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/agent`;
  try {
    // Public, like /api/info: no key needed to read how to use the keys.
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    const secured = await res.json();
    expect(validateDocument(secured).valid).toBe(true);
    expect(secured.servers).toEqual([{ url: "/agent" }]);
    expect(Object.keys(secured.components.securitySchemes)).toEqual(["bearer", "apiKey"]);
    expect(secured.paths["/api/chat"].post.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    expect(secured.paths["/health"].get.security).toEqual([]);
    expect(Object.keys(secured.paths["/api/chat"].post.responses)).toEqual(expect.arrayContaining(["401", "429"]));
    expect(secured.paths["/metrics"]).toBeDefined();
    expect(secured.paths["/mcp"]).toBeUndefined();
    expect(secured.paths["/"]).toBeUndefined();
    expect(secured.paths["/widget.js"]).toBeUndefined();

    const refused = await fetch(`${base}/api/chat`, { method: "POST", body: JSON.stringify({ message: "hi" }) });
    expect(refused.status).toBe(401);
    expect(schemaChecker(secured)(response("/api/chat", "post", 401))(await refused.json())).toBe(true);
    const models = await fetch(`${base}/v1/models`);
    expect(models.status).toBe(401);
    expect(schemaChecker(secured)(response("/v1/models", "get", 401))(await models.json())).toBe(true);
  } finally {
    await new Promise((resolve) => http.close(resolve));
  }
});

test("under klisk dev the document follows reloads: built once per project, with the dev status route", async () => {
  const holder = new ProjectHolder(makeProject([{ name: "First" }]));
  const dev = await startServer(holder.project, { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 200, reload: holder });
  const agentNames = async () => {
    const document = await json(await fetch(`${dev.url}/openapi.json`));
    expect(document.paths["/api/dev/status"]).toBeDefined();
    return document.paths["/api/chat"].post.requestBody.content["application/json"].schema.properties.agent_name;
  };
  try {
    expect(await agentNames()).toMatchObject({ anyOf: [{ type: "string", enum: ["First"] }, { type: "null" }] });
    holder.swap(makeProject([{ name: "Second" }, { name: "Third" }]));
    expect(await agentNames()).toMatchObject({ anyOf: [{ type: "string", enum: ["Second", "Third"] }, { type: "null" }] });
  } finally {
    holder.close();
    await dev.close();
  }
});

test("klisk/fetch serves the document of its own routes, under its prefix", async () => {
  const handler = await createFetchHandler(makeProject(agents()), { prefix: "/agent", keys: loadApiKeys({}) });
  try {
    const res = await handler(new Request("http://localhost/agent/openapi.json"));
    expect(res.status).toBe(200);
    const document = await res.json();
    expect(validateDocument(document).valid).toBe(true);
    expect(document.servers).toEqual([{ url: "/agent" }]);
    expect(Object.keys(document.paths).sort()).toEqual(["/api/chat", "/api/info", "/health", "/openapi.json"]);
    const answer = await handler(new Request("http://localhost/agent/api/chat", { method: "POST", body: JSON.stringify({ message: "hi", stream: false }) }));
    expect(schemaChecker(document)(response("/api/chat", "post", 200))(await answer.json())).toBe(true);
  } finally {
    await handler.close();
  }
});

test("deploy.openapi.enabled: false removes /openapi.json and /docs", async () => {
  const off = await startServer(makeProject(agents(), "deploy:\n  openapi:\n    enabled: false\n"), { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 200 });
  try {
    expect((await fetch(`${off.url}/openapi.json`)).status).toBe(404);
    expect((await fetch(`${off.url}/docs`)).status).toBe(404);
    expect((await json(await fetch(`${off.url}/api/info`))).endpoints.openapi).toBeUndefined();
  } finally {
    await off.close();
  }
});

test("/docs serves the viewer from node_modules with a strict CSP; its files are cached and gzipped", async () => {
  const page = await fetch(`${server.url}/docs`);
  expect(page.status).toBe(200);
  expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
  const html = await page.text();
  expect(html).toContain('src="docs/swagger-ui-bundle.js"');
  expect(html).not.toMatch(/https?:\/\//);
  const bundle = await fetch(`${server.url}/docs/swagger-ui-bundle.js`, { headers: { "Accept-Encoding": "gzip" } });
  expect(bundle.status).toBe(200);
  expect(bundle.headers.get("content-type")).toMatch(/javascript/);
  const etag = bundle.headers.get("etag") ?? "";
  expect((await fetch(`${server.url}/docs/swagger-ui-bundle.js`, { headers: { "If-None-Match": etag } })).status).toBe(304);
  // One level deeper, the links still reach the same files.
  expect(await (await fetch(`${server.url}/docs/`)).text()).toContain('src="swagger-ui-bundle.js"');
  expect((await fetch(`${server.url}/docs/nothing.js`)).status).toBe(404);
});

test("/docs shows the routes in headless Chromium, with no CSP violation or failed request", async () => {
  const context = await newContext(browser());
  try {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("requestfailed", (request) => problems.push(`failed: ${request.url()}`));
    page.on("response", (res) => {
      if (res.status() >= 400) problems.push(`${res.status()}: ${res.url()}`);
    });
    await page.goto(`${server.url}/docs`);
    await page.locator(".opblock-summary-path", { hasText: "/api/chat" }).first().waitFor();
    const routes = await page.locator(".opblock-summary-path").allTextContents();
    expect(routes.map((route) => route.replace(/\u200b/g, ""))).toEqual(expect.arrayContaining(["/health", "/api/info", "/api/chat", "/v1/chat/completions", "/mcp", "/a2a"]));
    // Open POST /api/chat: its request body and the stream's event schema are shown.
    await page.locator(".opblock-summary-path", { hasText: "/api/chat" }).first().click();
    await page.locator(".opblock-body").first().waitFor();
    await page.screenshot({ path: screenshotPath("openapi-docs.png"), fullPage: false });
    expect(problems).toEqual([]);
  } finally {
    await context.close();
  }
});
