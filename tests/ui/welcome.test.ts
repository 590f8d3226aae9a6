/// <reference lib="dom" />
/**
 * The chat page's welcome message (markdown in an assistant bubble, sanitised), its starter prompts
 * (deploy.chat.starters), and code blocks with a copy button: on the page and in the widget's iframe,
 * in headless Chromium against the real server and the fake upstream.
 */
import type { Page } from "playwright-core";
import { connected, newContext, screenshotPath, startChatServer, startHostPage, turnDone, useBrowser, useBrowserSession } from "../helpers/browser";
import { makeProject, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
const browser = useBrowser();

const session = useBrowserSession({ dialogs: true });

const WELCOME = [
  "Hi! I am the **order helper**.",
  "",
  "- track a parcel",
  "- start a return",
  "",
  "```",
  "order 42",
  "```",
].join("\n");

const STARTERS = ["Where is my order?", "I want to return an item"];

function chatConfig(welcome: string, starters: string[] = []): string {
  return ["deploy:", "  chat:", `    welcome_message: ${JSON.stringify(welcome)}`, `    starters: ${JSON.stringify(starters)}`].join("\n");
}

function watch(page: Page): Page {
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  page.on("dialog", (dialog) => {
    session.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return page;
}

async function openChat(config: string, options: { clipboard?: boolean } = {}): Promise<Page> {
  session.server = await startChatServer(makeProject([{ name: "Assistant" }], config));
  session.context = await newContext(browser());
  if (options.clipboard !== false) await session.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: session.server.url });
  const page = watch(await session.context.newPage());
  await page.goto(`${session.server.url}/`);
  await connected(page);
  return page;
}

async function setTheme(page: Page, theme: "light" | "dark"): Promise<void> {
  if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme) await page.locator("#theme-btn").click();
}

test("the welcome message is markdown in an assistant bubble, on screen only; starters send their prompt", async () => {
  const page = await openChat(chatConfig(WELCOME, STARTERS));
  const welcome = page.locator("#welcome-msg");
  expect(await welcome.isVisible()).toBe(true);
  expect(await page.locator("#welcome strong").innerText()).toBe("order helper");
  expect(await page.locator("#welcome li").allInnerTexts()).toEqual(["track a parcel", "start a return"]);
  expect((await page.locator("#welcome pre").innerText()).trim()).toBe("order 42");
  // The bubble looks like a reply's.
  const bubbleBg = await page.locator("#welcome-msg .bubble").evaluate((b) => getComputedStyle(b).backgroundColor);
  expect(bubbleBg).toBe("rgb(243, 244, 246)");
  expect(await page.locator("#welcome-hint").isVisible()).toBe(false);

  const starters = page.getByRole("group", { name: "Suggested prompts" }).getByRole("button");
  expect(await starters.allInnerTexts()).toEqual(STARTERS);
  await page.screenshot({ path: screenshotPath("welcome-starters-light.png") });
  await setTheme(page, "dark");
  await page.screenshot({ path: screenshotPath("welcome-starters-dark.png") });
  await setTheme(page, "light");

  fake().enqueue({ text: "It left the warehouse.", delayMs: 20 });
  await page.getByRole("button", { name: "Where is my order?" }).click();
  await page.locator(".msg.user").waitFor();
  await turnDone(page);
  expect(await page.locator(".msg.user .bubble").innerText()).toBe("Where is my order?");
  expect(await page.locator(".msg.assistant .md").innerText()).toBe("It left the warehouse.");
  // What went upstream is the prompt alone: the welcome message is not part of the conversation.
  const sent = JSON.stringify(fake().requests[0].body.input);
  expect(sent).toContain("Where is my order?");
  expect(sent).not.toContain("order helper");
  // The starters go with the first turn; the welcome bubble stays above the conversation; focus is in the composer.
  expect(await page.locator("#starters").isVisible()).toBe(false);
  expect(await welcome.isVisible()).toBe(true);
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("input");

  // A new conversation brings them back.
  await page.locator("#reset-btn").click();
  expect(await starters.count()).toBe(2);
  expect(await page.locator("#starters").isVisible()).toBe(true);
});

test("the welcome message is sanitised: no script, no event handler, no remote image, no javascript: link", async () => {
  const welcome = [
    "Hello <script>window.__pwned = 'script'</script>",
    "",
    '<img src="x" onerror="window.__pwned = \'onerror\'">',
    "",
    "[click](javascript:window.__pwned='link') and ![pixel](https://tracker.example/p.png)",
  ].join("\n");
  const page = await openChat(chatConfig(welcome));
  await page.locator("#welcome-msg").waitFor();
  await page.locator("#welcome a").first().click().catch(() => undefined);
  await page.waitForTimeout(200);
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  expect(await page.locator("#welcome script, #welcome img, #welcome [onerror]").count()).toBe(0);
  expect(await page.locator("#welcome").innerText()).toContain("<script>");
  const hrefs = await page.locator("#welcome a").evaluateAll((links) => links.map((a) => a.getAttribute("href")));
  expect(hrefs.every((h) => h === null || !h.startsWith("javascript:"))).toBe(true);
});

const CODE = 'const total = items.reduce((sum, item) => sum + item.price, 0);\nconsole.log(`Total: ${total}`);';
const REPLY_WITH_CODE = `Here is the loop:\n\n\`\`\`js\n${CODE}\n\`\`\`\n\nRun it with \`node\`.`;

test("code blocks have a background and a Copy button that copies the code", async () => {
  const page = await openChat("");
  fake().enqueue({ text: REPLY_WITH_CODE });
  await page.locator("#input").fill("show me code");
  await page.locator("#input").press("Enter");
  await turnDone(page);

  const block = page.locator(".msg.assistant .code-block");
  expect(await block.count()).toBe(1);
  const colours = await block.evaluate((b) => ({
    block: getComputedStyle(b).backgroundColor,
    bubble: getComputedStyle(b.closest(".bubble")!).backgroundColor,
  }));
  expect(colours).toEqual({ block: "rgb(255, 255, 255)", bubble: "rgb(243, 244, 246)" });
  // The button sits in a bar above the code, never over a line of it.
  const [button, code] = [(await block.locator(".copy-btn").boundingBox())!, (await block.locator("pre").boundingBox())!];
  expect(button.y + button.height).toBeLessThanOrEqual(code.y + 1);

  const copy = page.getByRole("button", { name: "Copy code" });
  expect(await copy.innerText()).toBe("Copy");
  await copy.click();
  await page.getByRole("button", { name: "Code copied" }).waitFor();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(CODE);
  // Inline code is not a block: no button on it.
  expect(await page.locator(".msg.assistant p code").innerText()).toBe("node");
  await page.screenshot({ path: screenshotPath("code-copy-light.png") });
  await setTheme(page, "dark");
  await page.screenshot({ path: screenshotPath("code-copy-dark.png") });
});

test("when the clipboard is refused, Copy selects the code for Ctrl+C", async () => {
  const page = await openChat("", { clipboard: false });
  // Stand-ins for a browser that refuses both ways of writing to the clipboard.
  await page.evaluate(() => {
    Object.defineProperty(navigator, "clipboard", { value: { writeText: () => Promise.reject(new DOMException("denied", "NotAllowedError")) } });
    document.execCommand = () => false;
  });
  fake().enqueue({ text: REPLY_WITH_CODE });
  await page.locator("#input").fill("show me code");
  await page.locator("#input").press("Enter");
  await turnDone(page);

  await page.getByRole("button", { name: "Copy code" }).click();
  await page.getByRole("button", { name: "Code selected, copy it with the keyboard" }).waitFor();
  expect(await page.locator(".copy-btn").innerText()).toMatch(/^Selected: press (Ctrl\+|⌘)C$/);
  expect(await page.evaluate(() => window.getSelection()!.toString().replace(/\n$/, ""))).toBe(CODE);
});

test("in the widget: the welcome message, the starters and the copy button work inside the iframe", async () => {
  session.server = await startChatServer(makeProject([{ name: "Assistant" }], chatConfig("Welcome to **the shop**.", ["Show me code"])));
  session.host = await startHostPage(`<!doctype html><html><body><h1>Shop</h1><script src="${session.server.url}/widget.js"></script></body></html>`);
  session.context = await newContext(browser());
  // The host page reads the clipboard; the iframe may write to it (widget.js sets allow="clipboard-write").
  await session.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: session.host.url });
  await session.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: session.server.url });
  const page = watch(await session.context.newPage());
  await page.goto(session.host.url);
  await page.locator(".klisk-widget-button").click();
  const frame = page.frameLocator("#klisk-widget iframe");
  await frame.locator('#status[data-state="open"]').waitFor({ state: "attached" });
  expect(await frame.locator("#welcome strong").innerText()).toBe("the shop");

  fake().enqueue({ text: REPLY_WITH_CODE });
  await frame.getByRole("button", { name: "Show me code" }).click();
  await frame.locator(".turn .typing").waitFor({ state: "detached" });
  expect(await frame.locator(".msg.user .bubble").innerText()).toBe("Show me code");
  await frame.getByRole("button", { name: "Copy code" }).click();
  await frame.getByRole("button", { name: "Code copied" }).waitFor();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(CODE);
  await page.screenshot({ path: screenshotPath("widget-code-copy.png") });
});
