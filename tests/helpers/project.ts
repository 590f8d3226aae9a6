/**
 * Test helpers for the server: hand-built projects, a real listening server on a free port, the fake
 * upstream wired through env, and small SSE / WebSocket clients.
 */
import path from "node:path";
import WebSocket from "ws";
import { loadConfig } from "../../src/project/config";
import type { Project } from "../../src/project/project";
import { defineAgent, resetRegistry, type AgentOptions } from "../../src/sdk/agent";
import { startServer, type RunningServer } from "../../src/server/listen";
import { fakeUpstreamEnv } from "./env";
import { startFakeOpenAI, type FakeOpenAI } from "./fakeOpenAI";
import { writeProjectDir } from "./tmp";

/** A project built in-process: agents via defineAgent (after resetRegistry), config from YAML text. */
export function makeProject(agents: AgentOptions[], configYaml = ""): Project {
  resetRegistry();
  const defined = agents.map((a) => defineAgent(a));
  const dir = writeProjectDir({ config: configYaml });
  const { config, warnings } = loadConfig(dir);
  return { name: config.name, dir, config, agents: defined, entryFile: path.join(dir, "src/main.ts"), warnings };
}

/** Starts the real server on a free loopback port (log output follows KLISK_LOG_LEVEL: silent under useFakeOpenAI). */
export function serve(project: Project): Promise<RunningServer> {
  return startServer(project, { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 500 });
}

const KEY_VARS = ["KLISK_API_KEY", "KLISK_CHAT_KEY", "KLISK_WIDGET_KEY"];

export interface FakeEnvOptions {
  /** Provider presets (e.g. "GROQ") pointed at the fake: <P>_BASE_URL = fake.url, <P>_API_KEY = "test". */
  presets?: string[];
  /** Variables set (or, when undefined, removed) after the defaults. */
  env?: Record<string, string | undefined>;
}

/**
 * Jest hooks: one fake upstream per test file, env pointing the SDK at it, no auth keys, quiet logs.
 * Returns a getter because the fake only exists once beforeAll has run.
 */
export function useFakeOpenAI(options: FakeEnvOptions = {}): () => FakeOpenAI {
  let fake: FakeOpenAI | undefined;
  const saved = { ...process.env };
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    Object.assign(process.env, fakeUpstreamEnv(fake.url), { KLISK_LOG_LEVEL: "silent" });
    for (const name of KEY_VARS) delete process.env[name];
    for (const preset of options.presets ?? []) {
      process.env[`${preset}_BASE_URL`] = fake.url;
      process.env[`${preset}_API_KEY`] = "test";
    }
    for (const [name, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  beforeEach(() => fake?.reset());
  afterAll(async () => {
    process.env = saved;
    await fake?.close();
  });
  return () => {
    if (!fake) throw new Error("useFakeOpenAI(): the fake starts in beforeAll");
    return fake;
  };
}

/** The `data:` payloads of an SSE body, JSON-parsed except the final "[DONE]". */
export function parseSse(body: string): any[] {
  return body
    .split("\n\n")
    .filter((frame) => frame.startsWith("data: "))
    .map((frame) => frame.slice("data: ".length))
    .map((data) => (data === "[DONE]" ? data : JSON.parse(data)));
}

export async function postChat(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/chat`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/**
 * Polls with JSON chats until one is accepted (a run slot is free again): a 503 busy means not yet. The
 * bound (about 10 s) is what fails a test, never a timing.
 */
export async function waitForFreeRunSlot(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await postChat(url, { message: "next", stream: false });
    if (res.status === 200) return;
    if (res.status !== 503) throw new Error(`expected 200 or 503 busy, got ${res.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the run slot was never freed");
}

/** A WebSocket client that queues incoming JSON frames so tests can await them one by one. */
export interface WsClient {
  ws: WebSocket;
  send(frame: unknown): void;
  /** The next frame (waits for it). */
  next(timeoutMs?: number): Promise<any>;
  /** Frames up to and including the first whose type is in `types`. */
  until(types: string | string[], timeoutMs?: number): Promise<any[]>;
  /** Resolves with the close code. */
  closed: Promise<number>;
  close(): void;
}

/**
 * Sends one bad frame on a fresh socket: the answer must be a single error frame matching `error`, and the
 * same socket must then complete a chat ("Echo: still here" from the fake). Closes the socket.
 */
export async function expectWsErrorFrameThenChat(url: string, frame: string | object, error: RegExp): Promise<void> {
  const client = await openWs(url);
  client.send(frame);
  expect(await client.next()).toEqual({ type: "error", data: expect.stringMatching(error) });
  client.send({ message: "still here" });
  expect((await client.until("done")).at(-1).data).toBe("Echo: still here");
  client.close();
}

export function openWs(url: string, options: { path?: string; headers?: Record<string, string> } = {}): Promise<WsClient> {
  const ws = new WebSocket(url.replace(/^http/, "ws") + (options.path ?? "/ws/chat"), { headers: options.headers });
  const frames: any[] = [];
  const waiters: Array<() => void> = [];
  ws.on("message", (data) => {
    frames.push(JSON.parse(data.toString()));
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => {
    resolve(code);
    waiters.splice(0).forEach((w) => w());
  }));
  const next = (timeoutMs = 5000): Promise<any> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (frames.length > 0) {
          clearTimeout(timer);
          return resolve(frames.shift());
        }
        if (ws.readyState === WebSocket.CLOSED) {
          clearTimeout(timer);
          return reject(new Error("WebSocket closed while waiting for a frame"));
        }
        waiters.push(check);
      };
      const timer = setTimeout(() => reject(new Error(`No WebSocket frame within ${timeoutMs} ms`)), timeoutMs);
      check();
    });
  const client: WsClient = {
    ws,
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    next,
    async until(types, timeoutMs) {
      const wanted = Array.isArray(types) ? types : [types];
      const out: any[] = [];
      for (;;) {
        const frame = await next(timeoutMs);
        out.push(frame);
        if (wanted.includes(frame.type)) return out;
      }
    },
    closed,
    close: () => ws.close(),
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(client));
    ws.once("error", reject);
  });
}

/** A fetch Response's JSON body, typed loosely for assertions. */
export async function json(res: Response): Promise<any> {
  return res.json();
}

/** A port that was free a moment ago (for tests that must name a port, e.g. via PORT or the config). */
export async function freePort(): Promise<number> {
  const net = await import("node:net");
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as import("node:net").AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
