/**
 * Browser tests: headless Debian chromium driven by playwright-core, the real klisk server with the chat
 * UI, and a "host page" server on another origin for the widget. Chromium must be installed
 * (`apt-get install -y chromium`, done by .ci/run); a missing browser fails the tests, never skips them.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Frame, type Page } from "playwright-core";
import type { Project } from "../../src/project/project";
import { loadApiKeys, type ApiKeys } from "../../src/server/auth";
import { startServer } from "../../src/server/listen";

const OUTPUT_DIR = path.resolve(__dirname, "../../test-output");

/** $CHROMIUM_PATH, else Debian's /usr/bin/chromium, else `chromium` on the PATH (what .ci/run checks). */
function findChromium(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const dirs = ["/usr/bin", ...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean)];
  const found = dirs.map((dir) => path.join(dir, "chromium")).find((file) => fs.existsSync(file));
  if (!found) throw new Error("Chromium not found: install it with 'apt-get install -y chromium' (or set CHROMIUM_PATH)");
  return found;
}

async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** One headless Chromium for a test file: launched before its tests, closed after them. */
export function useBrowser(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error("useBrowser(): the browser is launched in beforeAll; call it from a test or hook");
    return browser;
  };
}

/** A fresh context per test (its own localStorage). Waits give up after 10 s, well inside jest's 30 s. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  context.setDefaultTimeout(10_000);
  return context;
}

export function screenshotPath(name: string): string {
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  return path.join(OUTPUT_DIR, name);
}

export interface ChatServer {
  url: string;
  /** Cuts every open WebSocket at the TCP level, as a network drop would. */
  dropSockets(): void;
  close(): Promise<void>;
}

/** The real server (startServer: the API, the chat page and widget.js on one app), with upgraded sockets tracked. */
export async function startChatServer(project: Project, keys: ApiKeys = loadApiKeys({})): Promise<ChatServer> {
  const running = await startServer(project, { port: 0, host: "127.0.0.1", keys, shutdownTimeoutMs: 200 });
  return withSocketTracking(running.server, running.url, () => running.close());
}

function withSocketTracking(server: http.Server, url: string, close: () => Promise<void>): ChatServer {
  const upgraded = new Set<Socket>();
  server.on("upgrade", (_req, socket: Socket) => {
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
  });
  return {
    url,
    dropSockets: () => upgraded.forEach((socket) => socket.destroy()),
    close,
  };
}

export interface HostPage {
  url: string;
  close(): Promise<void>;
}

/** A page on another origin (`localhost` vs the server's `127.0.0.1`, and another port) embedding widget.js. */
export async function startHostPage(html: string): Promise<HostPage> {
  const server = http.createServer((req, res) => {
    if (req.url === "/" || req.url?.startsWith("/?")) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}/`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * What a browser test sets up (the server, the host page, the browser context) and what it records from its
 * pages. The test fills it in; after each test the context, the host page and the server are closed, and
 * any script error (and, with `{ dialogs: true }`, any alert()) seen by the test's pages fails it.
 */
export interface BrowserSession {
  server: ChatServer | undefined;
  host: HostPage | undefined;
  context: BrowserContext | undefined;
  /** Push `err.message` from `page.on("pageerror")`. */
  pageErrors: string[];
  /** Push `dialog.message()` from `page.on("dialog")`; checked only with `useBrowserSession({ dialogs: true })`. */
  dialogs: string[];
}

/** One BrowserSession for a test file, emptied after each test (call it at the top level, after useBrowser()). */
export function useBrowserSession(options: { dialogs?: boolean } = {}): BrowserSession {
  const session: BrowserSession = { server: undefined, host: undefined, context: undefined, pageErrors: [], dialogs: [] };
  afterEach(async () => {
    await session.context?.close();
    await session.host?.close();
    await session.server?.close();
    session.context = session.server = session.host = undefined;
    const { pageErrors, dialogs } = session;
    session.pageErrors = [];
    session.dialogs = [];
    // Any script error (or alert()) in a test is a failure, whatever the test checked.
    if (options.dialogs) expect({ pageErrors, dialogs }).toEqual({ pageErrors: [], dialogs: [] });
    else expect(pageErrors).toEqual([]);
  });
  return session;
}

export const connected = (page: Page | Frame) => page.locator('#status[data-state="open"]').waitFor({ state: "attached" });
export const turnDone = (page: Page) => page.locator(".turn .typing").waitFor({ state: "detached" });

/** Types `text` into the chat's input, sends it with Enter, and waits for its bubble. */
export async function send(page: Page, text: string): Promise<void> {
  const before = await page.locator(".msg.user").count();
  await page.locator("#input").fill(text);
  await page.locator("#input").press("Enter");
  await page.locator(".msg.user").nth(before).waitFor();
}
