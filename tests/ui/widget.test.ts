/// <reference lib="dom" />
/** widget.js on a page of another origin, in headless Chromium: the bubble, the iframe, the key by postMessage. */
import type { Page } from "playwright-core";
import { loadApiKeys, type ApiKeys } from "../../src/server/auth";
import { newContext, screenshotPath, startChatServer, startHostPage, useBrowser, useBrowserSession } from "../helpers/browser";
import { makeProject, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();

const browser = useBrowser();

const session = useBrowserSession();

/** Starts the agent server, then a host page (another origin) whose body is `body(serverUrl)`. */
async function openHostPage(config: string, body: (serverUrl: string) => string, keys?: ApiKeys): Promise<Page> {
  session.server = await startChatServer(makeProject([{ name: "Assistant" }], config), keys);
  const html = `<!doctype html><html><head><title>Host shop</title></head><body><h1>Host shop</h1><p>Products...</p>${body(session.server.url)}</body></html>`;
  session.host = await startHostPage(html);
  session.context = await newContext(browser());
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  await page.goto(session.host.url);
  return page;
}

async function chatInFrame(page: Page, message: string): Promise<string> {
  const frame = page.frameLocator("#klisk-widget iframe");
  await frame.locator('#status[data-state="open"]').waitFor({ state: "attached" });
  await frame.locator("#input").fill(message);
  await frame.locator("#input").press("Enter");
  await frame.locator(".msg.assistant").waitFor();
  await frame.locator(".turn .typing").waitFor({ state: "detached" });
  return frame.locator(".msg.assistant").last().innerText();
}

test("a page on another origin embeds widget.js, opens the bubble and completes a chat; the key goes by postMessage", async () => {
  const config = [
    "deploy:",
    "  widget:",
    '    color: "#2563eb"',
    "    position: bottom-right",
    "    welcome_message: Hi from the widget!",
    "    placeholder: Ask the shop...",
  ].join("\n");
  const page = await openHostPage(
    config,
    (url) => `<script src="${url}/widget.js" data-key="wk-123" data-color="#e11d48" data-position="bottom-left"></script>`,
    loadApiKeys({ KLISK_WIDGET_KEY: "wk-123" }),
  );
  expect(new URL(session.host!.url).origin).not.toBe(new URL(session.server!.url).origin);

  const bubble = page.locator(".klisk-widget-button");
  await bubble.waitFor();
  // data-* wins over the config.
  expect(await bubble.evaluate((b) => getComputedStyle(b).backgroundColor)).toBe("rgb(225, 29, 72)");
  const box = (await bubble.boundingBox())!;
  expect(box.x).toBeLessThan(100); // bottom-left
  expect(await page.locator("#klisk-widget iframe").count()).toBe(0); // nothing loaded until opened

  await bubble.click();
  const iframe = page.locator("#klisk-widget iframe");
  await iframe.waitFor();
  expect(await iframe.getAttribute("src")).toBe(`${session.server!.url}/?embed=1`); // no key in any URL

  const frame = page.frameLocator("#klisk-widget iframe");
  await frame.locator('#status[data-state="open"]').waitFor({ state: "attached" });
  expect(await frame.locator("#welcome").innerText()).toBe("Hi from the widget!");
  expect(await chatInFrame(page, "hello from the host")).toBe("Echo: hello from the host");
  expect(await frame.locator("#key-overlay").isVisible()).toBe(false);
  expect(await frame.locator("#input").getAttribute("placeholder")).toBe("Ask the shop...");
  expect(await frame.locator("body").getAttribute("class")).toBe("embed");
  await page.screenshot({ path: screenshotPath("widget.png") });

  // The close button in the embedded page asks the widget to close the panel.
  await frame.locator("#close-btn").click();
  await page.waitForFunction(() => (document.querySelector("#klisk-widget iframe")!.parentElement as HTMLElement).style.display === "none");
  expect(await bubble.getAttribute("aria-expanded")).toBe("false");
});

test("without data-* the config's widget options apply, including auto_open", async () => {
  const config = ["deploy:", "  widget:", '    color: "#16a34a"', "    auto_open: true", "    bubble_icon: help", "    height: 500px"].join("\n");
  const page = await openHostPage(config, (url) => `<script src="${url}/widget.js" async></script>`);

  const iframe = page.locator("#klisk-widget iframe");
  await iframe.waitFor(); // opened on load
  const bubble = page.locator(".klisk-widget-button");
  expect(await bubble.evaluate((b) => getComputedStyle(b).backgroundColor)).toBe("rgb(22, 163, 74)");
  expect(await bubble.getAttribute("aria-expanded")).toBe("true");
  expect((await bubble.boundingBox())!.x).toBeGreaterThan(500); // bottom-right by default
  expect((await iframe.boundingBox())!.height).toBe(500);
  fake().enqueue({ text: "Hello **there**" });
  expect(await chatInFrame(page, "hi")).toBe("Hello there");
});

test("the embedded page takes a key only from its parent window", async () => {
  // The chat page is framed by the host; a sibling frame (not its parent) tries to hand it a key.
  const page = await openHostPage(
    "",
    (url) => `
      <iframe id="chat" src="${url}/?embed=1" width="400" height="500"></iframe>
      <iframe id="intruder" srcdoc="<script>
        setInterval(function () {
          parent.frames[0].postMessage({ type: 'klisk:init', key: 'wk-123', options: {} }, '*');
        }, 100);
      </script>"></iframe>`,
    loadApiKeys({ KLISK_WIDGET_KEY: "wk-123" }),
  );
  const chat = page.frameLocator("#chat");
  await chat.locator("#key-overlay").waitFor(); // no key accepted: it asks
  expect(await chat.locator("#status").getAttribute("data-state")).toBeNull(); // and never connected

  // The real parent is heard.
  await page.evaluate(() => {
    const frame = document.getElementById("chat") as HTMLIFrameElement;
    frame.contentWindow!.postMessage({ type: "klisk:init", key: "wk-123", options: {} }, "*");
  });
  await chat.locator('#status[data-state="open"]').waitFor({ state: "attached" });
  expect(await chat.locator("#key-overlay").isVisible()).toBe(false);
});

test("the embedded page waits for the widget's key and asks for one when the widget has none", async () => {
  const page = await openHostPage("", (url) => `<script src="${url}/widget.js"></script>`, loadApiKeys({ KLISK_WIDGET_KEY: "wk-123" }));
  await page.locator(".klisk-widget-button").click();
  const frame = page.frameLocator("#klisk-widget iframe");
  await frame.locator("#key-overlay").waitFor();
  await frame.locator("#key-input").fill("wk-123");
  await frame.locator("#key-input").press("Enter");
  expect(await chatInFrame(page, "typed key")).toBe("Echo: typed key");
});
