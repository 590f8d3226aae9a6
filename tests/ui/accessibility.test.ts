/// <reference lib="dom" />
/**
 * Accessibility of the chat page and the widget in headless Chromium, against the real server and the fake
 * upstream: roles and names (through playwright's role queries), keyboard-only flows, reduced motion, and
 * a streamed reply whose markdown is not re-parsed in full on every frame.
 */
import type { Frame, Page } from "playwright-core";
import { loadApiKeys, type ApiKeys } from "../../src/server/auth";
import { connected, newContext, screenshotPath, startChatServer, startHostPage, turnDone, useBrowser, useBrowserSession } from "../helpers/browser";
import { makeProject, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
const browser = useBrowser();

const session = useBrowserSession();

async function openChat(options: { config?: string; keys?: ApiKeys; connect?: boolean; reducedMotion?: boolean } = {}): Promise<Page> {
  session.server = await startChatServer(makeProject([{ name: "Assistant" }], options.config ?? ""), options.keys);
  session.context = await newContext(browser());
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  if (options.reducedMotion) await page.emulateMedia({ reducedMotion: "reduce" });
  await page.goto(`${session.server.url}/`);
  if (options.connect !== false) await connected(page);
  return page;
}

async function openHostPage(config: string, options: { reducedMotion?: boolean; keys?: ApiKeys } = {}): Promise<Page> {
  session.server = await startChatServer(makeProject([{ name: "Assistant" }], config), options.keys);
  const html = `<!doctype html><html><head><title>Host shop</title></head><body><h1>Host shop</h1><a href="#products">Products</a><script src="${session.server.url}/widget.js"></script></body></html>`;
  session.host = await startHostPage(html);
  session.context = await newContext(browser());
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  if (options.reducedMotion) await page.emulateMedia({ reducedMotion: "reduce" });
  await page.goto(session.host.url);
  await page.locator(".klisk-widget-button").waitFor();
  return page;
}

const focusedId = (page: Page | Frame) => page.evaluate(() => document.activeElement?.id ?? null);

async function widgetFrame(page: Page): Promise<Frame> {
  const handle = await page.locator("#klisk-widget iframe").elementHandle();
  const frame = await handle!.contentFrame();
  if (!frame) throw new Error("the widget's iframe has no frame");
  return frame;
}

test("the message list is a log (busy while a reply streams) and the typing indicator a named status", async () => {
  const page = await openChat();
  const log = page.getByRole("log", { name: "Conversation" });
  expect(await log.getAttribute("aria-live")).toBe("polite");
  expect(await log.getAttribute("aria-busy")).toBeNull();

  fake().enqueue({ text: ["Streaming ", "a ", "slow ", "reply ", "word ", "by ", "word."], delayMs: 150 });
  await page.getByRole("textbox", { name: "Message" }).fill("hello");
  await page.keyboard.press("Enter");
  const typing = page.getByRole("status", { name: "The agent is replying" });
  await typing.waitFor();
  // While tokens arrive the log is busy: screen readers read the reply once, when it is complete.
  await page.waitForFunction(() => document.querySelector(".msg.assistant .md")?.textContent?.startsWith("Streaming"));
  expect(await log.getAttribute("aria-busy")).toBe("true");
  expect(await page.locator(".typing .dots").getAttribute("aria-hidden")).toBe("true");

  await turnDone(page);
  expect(await log.getAttribute("aria-busy")).toBeNull();
  expect(await typing.count()).toBe(0);
  expect(await log.locator(".msg.assistant").innerText()).toBe("Streaming a slow reply word by word.");
});

test("the key prompt is a modal dialog: focus moves in, Tab cycles inside, Escape clears, focus returns after", async () => {
  const page = await openChat({ keys: loadApiKeys({ KLISK_API_KEY: "sk-right" }), connect: false });
  const dialog = page.getByRole("dialog", { name: "Access key" });
  await dialog.waitFor();
  expect(await dialog.getAttribute("aria-modal")).toBe("true");
  expect(await dialog.getAttribute("aria-describedby")).toBe("key-help");
  expect(await focusedId(page)).toBe("key-input");
  // The chat behind is inert: out of the tab order and of the accessibility tree.
  expect(await page.evaluate(() => (document.getElementById("card") as HTMLElement & { inert: boolean }).inert)).toBe(true);
  await page.locator("#input").evaluate((input: HTMLElement) => input.focus());
  expect(await focusedId(page)).toBe("key-input");

  const order: (string | null)[] = [];
  for (const key of ["Tab", "Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"]) {
    await page.keyboard.press(key);
    order.push(await focusedId(page));
  }
  expect(order).toEqual(["key-submit", "key-input", "key-submit", "key-input", "key-submit", "key-input"]);

  await page.keyboard.type("sk-typo");
  await page.keyboard.press("Escape");
  expect(await page.locator("#key-input").inputValue()).toBe("");
  expect(await dialog.isVisible()).toBe(true);
  expect(await focusedId(page)).toBe("key-input");
  await page.screenshot({ path: screenshotPath("key-dialog-light.png") });
  await page.evaluate(() => (document.documentElement.dataset.theme = "dark"));
  await page.screenshot({ path: screenshotPath("key-dialog-dark.png") });

  await page.keyboard.type("sk-right");
  await page.keyboard.press("Enter");
  await connected(page);
  expect(await dialog.isVisible()).toBe(false);
  expect(await focusedId(page)).toBe("input"); // nothing had focus before the prompt: the composer gets it
  expect(await page.evaluate(() => (document.getElementById("card") as HTMLElement & { inert: boolean }).inert)).toBe(false);

  // Keyboard only from here: type, send, read the reply.
  await page.keyboard.type("typed with the keyboard");
  await page.keyboard.press("Enter");
  await page.locator(".msg.assistant").waitFor();
  await turnDone(page);
  expect(await page.locator(".msg.assistant").innerText()).toBe("Echo: typed with the keyboard");
});

test("the widget with the keyboard alone: Tab to the bubble, Enter opens with focus in the input, Escape closes back to the bubble", async () => {
  const page = await openHostPage("deploy:\n  chat:\n    starters: [Track my order]\n");
  const bubble = page.getByRole("button", { name: "Open chat" });
  expect(await bubble.getAttribute("aria-expanded")).toBe("false");
  expect(await bubble.getAttribute("aria-controls")).toBe("klisk-widget-panel");

  await page.keyboard.press("Tab"); // the host's link
  await page.keyboard.press("Tab"); // the bubble, added at the end of the body
  expect(await page.evaluate(() => document.activeElement?.className)).toBe("klisk-widget-button");
  await page.keyboard.press("Enter");
  const panel = page.getByRole("dialog", { name: "Chat" });
  await panel.waitFor();
  expect(await panel.getAttribute("id")).toBe("klisk-widget-panel");
  const closeBubble = page.getByRole("button", { name: "Close chat" });
  expect(await closeBubble.getAttribute("aria-expanded")).toBe("true");

  const frame = await widgetFrame(page);
  await connected(frame);
  await frame.waitForFunction(() => document.activeElement?.id === "input");
  expect(await page.evaluate(() => document.activeElement?.tagName)).toBe("IFRAME");
  await page.keyboard.type("hello from the keyboard");
  await page.keyboard.press("Enter");
  await frame.locator(".msg.assistant").waitFor();
  await frame.locator(".turn .typing").waitFor({ state: "detached" });
  expect(await frame.locator(".msg.assistant").innerText()).toBe("Echo: hello from the keyboard");
  await page.screenshot({ path: screenshotPath("widget-keyboard.png") });

  // Escape inside the iframe closes the panel; focus is back on the bubble.
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.getElementById("klisk-widget-panel")!.style.display === "none");
  expect(await page.evaluate(() => document.activeElement?.className)).toBe("klisk-widget-button");
  expect(await bubble.getAttribute("aria-expanded")).toBe("false");

  // Enter again: the iframe is already loaded, focus goes straight back in.
  await page.keyboard.press("Enter");
  await frame.waitForFunction(() => document.activeElement?.id === "input");
  // Escape with focus on the bubble closes it too.
  await closeBubble.focus();
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.getElementById("klisk-widget-panel")!.style.display === "none");
  expect(await page.evaluate(() => document.activeElement?.className)).toBe("klisk-widget-button");
});

test("in the widget, a key prompt takes the focus; Escape clears a typed key, then closes the panel", async () => {
  const page = await openHostPage("", { keys: loadApiKeys({ KLISK_WIDGET_KEY: "wk-1" }) }); // no data-key on the tag
  await page.getByRole("button", { name: "Open chat" }).focus();
  await page.keyboard.press("Enter");
  const frame = await widgetFrame(page);
  await frame.getByRole("dialog", { name: "Access key" }).waitFor();
  await frame.waitForFunction(() => document.activeElement?.id === "key-input");

  await page.keyboard.type("wk-typo");
  await page.keyboard.press("Escape");
  expect(await frame.locator("#key-input").inputValue()).toBe("");
  expect(await page.locator("#klisk-widget-panel").isVisible()).toBe(true);

  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.getElementById("klisk-widget-panel")!.style.display === "none");
  expect(await page.evaluate(() => document.activeElement?.className)).toBe("klisk-widget-button");

  // Back in: the prompt again, then the key typed and the chat usable.
  await page.keyboard.press("Enter");
  await frame.waitForFunction(() => document.activeElement?.id === "key-input");
  await page.keyboard.type("wk-1");
  await page.keyboard.press("Enter");
  await connected(frame);
  await frame.waitForFunction(() => document.activeElement?.id === "input");
});

test("auto_open shows the panel without taking the host page's focus", async () => {
  const page = await openHostPage("deploy:\n  widget:\n    auto_open: true\n");
  await connected(await widgetFrame(page));
  await page.waitForTimeout(300); // a late focus call would land by now
  expect(await page.evaluate(() => document.activeElement?.tagName)).toBe("BODY");
});

test("prefers-reduced-motion: no typing animation on the page, no fade on the widget's panel", async () => {
  const styles = async (page: Page) => {
    fake().enqueue({ reasoning: "Thinking it over.", text: ["slow ", "reply"], delayMs: 100 });
    await page.getByRole("textbox", { name: "Message" }).fill("hi");
    await page.keyboard.press("Enter");
    await page.locator(".typing .dots span").first().waitFor();
    const dot = await page.locator(".typing .dots span").first().evaluate((s) => getComputedStyle(s).animationName);
    // The disclosure triangle of a thinking block turns with a transition.
    const summary = page.locator(".block.thinking > summary");
    await summary.waitFor();
    const triangle = await summary.evaluate((s) => getComputedStyle(s, "::before").transitionDuration);
    await turnDone(page);
    return { dot, triangle };
  };
  const moving = await openChat();
  expect(await styles(moving)).toEqual({ dot: "blink", triangle: "0.15s" });
  await session.context!.close();
  await session.server!.close();

  const still = await openChat({ reducedMotion: true });
  expect(await styles(still)).toEqual({ dot: "none", triangle: "0s" });
  await session.context!.close();
  await session.server!.close();

  const panelTransition = async (page: Page) => {
    await page.locator(".klisk-widget-button").click();
    return page.locator("#klisk-widget-panel").evaluate((p) => getComputedStyle(p).transitionDuration);
  };
  const widgetMoving = await openHostPage("");
  expect(await panelTransition(widgetMoving)).toBe("0.16s, 0.16s");
  await session.context!.close();
  await session.host!.close();
  await session.server!.close();

  const widgetStill = await openHostPage("", { reducedMotion: true });
  expect(await panelTransition(widgetStill)).toBe("0s");
  // The chat page in the iframe follows the same setting.
  const frame = await widgetFrame(widgetStill);
  await connected(frame);
  expect(await frame.evaluate(() => matchMedia("(prefers-reduced-motion: reduce)").matches)).toBe(true);
});

/**
 * The page's own markdown module (the instance chat.js uses) as window.__markdown. Passed as a string:
 * a function would be compiled by ts-jest, which rewrites import().
 */
async function loadMarkdownModule(page: Page): Promise<void> {
  await page.evaluate('import("/ui/markdown.js").then((m) => { window.__markdown = m; })');
}

/** Markdown that exercises what can and cannot be split at a blank line. */
const SAMPLES = [
  "- a\n\n- b\n\n- c\n\nAfter the loose list.",
  "1. one\n\n2. two\n\n10) other\n\nText.",
  "- a\n\n  continued\n\n  - nested\n\n    deeper\n\nEnd.",
  "```\nline 1\n\nline 2\n\n\n```\n\nAfter the fence.",
  "~~~~ js\n```\n\nstill code\n~~~~\n\nok",
  "    indented code\n\n    more code\n\nparagraph",
  "> quote 1\n\n> quote 2\n>\n> same quote\n\nText",
  "| a | b |\n|---|---|\n| 1 | 2 |\n\n| c |\n|---|\n| 3 |\n\nafter",
  "# Heading\n\n---\n\n***\n\ntext  \nwith a hard break\n\nSetext\n===\n\nend",
  "<div>\n\nhtml shown as text\n</div>\n\nx",
  "Para **bold\n\nnot bold** here\n\n* star item\n\n+ plus item\n\nlast",
  "Windows\r\nline ends\r\n\r\n- item\r\n\r\nafter\r\n",
];

/** Ones a streaming render cannot know until the end (a reference defined later, an HTML comment over blank lines). */
const LATE = ["See [the docs][d].\n\nMore text.\n\n[d]: https://example.com/docs", "<!--\n\ncomment\n\n-->\n\nafter"];

test("the incremental render equals a full render at every chunking, and finish() fixes what only the end reveals", async () => {
  const page = await openChat();
  await loadMarkdownModule(page);
  const results = await page.evaluate(
    ({ samples, late }) => {
      const { MarkdownStream, renderMarkdown } = (window as any).__markdown;
      const full = (text: string) => {
        const div = document.createElement("div");
        div.append(renderMarkdown(text));
        return div.innerHTML;
      };
      const out: { sample: string; chunk: number; streamed: boolean; finished: boolean }[] = [];
      for (const sample of [...samples, ...late]) {
        for (const chunk of [1, 2, 5, 13, 1000]) {
          const target = document.createElement("div");
          const stream = new MarkdownStream(target);
          for (let i = 0; i < sample.length; i += chunk) {
            stream.append(sample.slice(i, i + chunk));
            stream.render();
          }
          const streamed = target.innerHTML === full(sample);
          stream.finish();
          out.push({ sample, chunk, streamed, finished: target.innerHTML === full(sample) });
        }
      }
      return out;
    },
    { samples: SAMPLES, late: LATE },
  );
  expect(results.filter((r) => !r.finished)).toEqual([]);
  expect(results.filter((r) => SAMPLES.includes(r.sample) && !r.streamed)).toEqual([]);
});

/** A long reply: headings, paragraphs, tight lists and code fences, ~37 000 characters. */
function longReply(sections: number): string {
  let text = "";
  for (let i = 1; i <= sections; i++) {
    text += `## Section ${i}\n\nParagraph ${i} has **bold**, \`inline code\` and a [link](https://example.com/${i}); it goes on for a while to look like prose.\n\n`;
    text += `- first point of ${i}\n- second point of ${i}\n\n\`\`\`js\nconst value${i} = ${i} * 2;\n\n// a blank line inside the fence\n\`\`\`\n\n`;
  }
  return text;
}

test("a long streamed reply is parsed in linear total: finished blocks once, the open block per frame", async () => {
  const text = longReply(150);
  const deltas = text.match(/[\s\S]{1,16}/g)!;
  session.server = await startChatServer(makeProject([{ name: "Assistant" }]));
  session.context = await newContext(browser());
  // The page's test hook: renderMarkdown reports the length of every text it parses.
  await session.context.addInitScript(() => {
    (window as any).__parsed = [];
    (window as any).__kliskMarkdownProbe = (length: number) => (window as any).__parsed.push(length);
  });
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  await page.goto(`${session.server.url}/`);
  await connected(page);

  fake().enqueue({ text: deltas, delayMs: 1 });
  await page.getByRole("textbox", { name: "Message" }).fill("write a lot");
  await page.keyboard.press("Enter");
  await page.locator(".msg.assistant").waitFor();
  await turnDone(page);

  const parsed: number[] = await page.evaluate(() => (window as any).__parsed);
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const beforeEnd = parsed.slice(0, -1);
  expect(beforeEnd.length).toBeGreaterThan(30); // it really streamed over many frames
  expect(parsed.at(-1)).toBe(text.length); // the one full parse, at the end
  // While streaming: each finished block once (the reply's length in all) and, per frame, the open block
  // (here under 500 characters). Re-parsing the whole reply per frame would be frames × length / 2.
  expect(sum(beforeEnd)).toBeLessThanOrEqual(text.length + beforeEnd.length * 500);

  await loadMarkdownModule(page);
  const same = await page.evaluate((source) => {
    const { renderMarkdown } = (window as any).__markdown;
    const div = document.createElement("div");
    div.append(renderMarkdown(source));
    return div.innerHTML === document.querySelector(".msg.assistant .md")!.innerHTML;
  }, text);
  expect(same).toBe(true);
  expect(await page.locator(".msg.assistant h2").count()).toBe(150);
  expect(await page.locator(".msg.assistant .code-block").count()).toBe(150);
});
