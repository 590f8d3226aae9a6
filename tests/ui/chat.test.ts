/// <reference lib="dom" />
/** The chat page at / in headless Chromium, against the real server and the fake upstream. */
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { tool, z } from "../../src/index";
import { loadApiKeys, type ApiKeys } from "../../src/server/auth";
import { connected, newContext, screenshotPath, send, startChatServer, turnDone, useBrowser, useBrowserSession } from "../helpers/browser";
import { makeProject, useFakeOpenAI } from "../helpers/project";
import { tempDir } from "../helpers/tmp";
import { sleep } from "../helpers/wait";
import type { AgentOptions } from "../../src/sdk/agent";

const fake = useFakeOpenAI();

const browser = useBrowser();

const session = useBrowserSession({ dialogs: true });

const assistant: AgentOptions = { name: "Assistant", instructions: "Be brief." };

async function openChat(options: { agents?: AgentOptions[]; config?: string; keys?: ApiKeys; connect?: boolean } = {}): Promise<Page> {
  session.server = await startChatServer(makeProject(options.agents ?? [assistant], options.config ?? ""), options.keys);
  session.context = await newContext(browser());
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  page.on("dialog", (dialog) => {
    session.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(`${session.server.url}/`);
  if (options.connect !== false) await connected(page);
  return page;
}

test("sends with Enter and shows the streamed reply rendered as markdown", async () => {
  const page = await openChat();
  fake().enqueue({ text: ["Here is ", "**bold**", " and ", "`code`", ":\n\n", "- one\n", "- two"], delayMs: 60 });
  await send(page, "Hello");

  // Streamed: the start of the reply is on screen while the turn is still running.
  await page.waitForFunction(() => {
    const md = document.querySelector(".msg.assistant .md");
    return md !== null && md.textContent!.startsWith("Here is") && document.querySelector(".turn .typing") !== null;
  });
  await turnDone(page);

  expect(await page.locator(".msg.user .bubble").innerText()).toBe("Hello");
  expect(await page.locator(".msg.assistant strong").innerText()).toBe("bold");
  expect(await page.locator(".msg.assistant code").innerText()).toBe("code");
  expect(await page.locator(".msg.assistant li").allInnerTexts()).toEqual(["one", "two"]);
  expect(JSON.stringify(fake().requests[0].body.input)).toContain("Hello");
});

test("Shift+Enter adds a new line; the next message continues the conversation", async () => {
  const page = await openChat();
  await send(page, "first");
  await turnDone(page);

  await page.locator("#input").click();
  await page.keyboard.type("line one");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("line two");
  expect(await page.locator("#input").inputValue()).toBe("line one\nline two");
  expect(await page.locator(".msg.user").count()).toBe(1);

  await page.keyboard.press("Enter");
  await page.locator(".msg.user").nth(1).waitFor();
  await turnDone(page);
  expect(await page.locator(".msg.user .bubble").nth(1).innerText()).toBe("line one\nline two");
  expect(await page.locator("#input").inputValue()).toBe("");
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);
});

test("tool calls are collapsible blocks; each result lands under its own call (by call_id, not by order)", async () => {
  // Results arrive in the order the calls finish: second, third, first. Pairing by position (first or
  // last running call) would put at least one result under the wrong call.
  const delays: Record<number, number> = { 1: 400, 2: 0, 3: 200 };
  const add = tool({
    name: "add",
    description: "Add two numbers.",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: async ({ a, b }) => {
      await sleep(delays[a]);
      return String(a + b);
    },
  });
  const page = await openChat({ agents: [{ ...assistant, tools: [add] }] });
  fake().enqueue(
    {
      toolCalls: [
        { name: "add", arguments: { a: 1, b: 10 }, callId: "call_1" },
        { name: "add", arguments: { a: 2, b: 20 }, callId: "call_2" },
        { name: "add", arguments: { a: 3, b: 30 }, callId: "call_3" },
      ],
    },
    { text: "The sums are **11**, **22** and **33**." },
  );
  await send(page, "Add 1+10, 2+20 and 3+30");
  await turnDone(page);

  const first = page.locator('.block.tool[data-call-id="call_1"]');
  expect(await first.locator("summary").innerText()).toMatch(/add\s+done/);
  expect(await first.getAttribute("open")).toBeNull(); // collapsed until clicked
  for (const [n, sum] of [[1, 11], [2, 22], [3, 33]]) {
    const block = page.locator(`.block.tool[data-call-id="call_${n}"]`);
    await block.locator("summary").click();
    expect(JSON.parse(await block.locator("pre.args").innerText())).toEqual({ a: n, b: n * 10 });
    expect(await block.locator("pre.output").innerText()).toBe(String(sum));
  }

  // The answer after the tools is its own bubble, below them.
  const order = await page.$$eval(".turn > *", (nodes) => nodes.map((n) => n.className));
  expect(order).toEqual(["msg user", "block tool", "block tool", "block tool", "msg assistant"]);
  expect(await page.locator(".msg.assistant").innerText()).toBe("The sums are 11, 22 and 33.");

  await page.screenshot({ path: screenshotPath("chat-page.png") });
  await page.locator("#theme-btn").click();
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
  await page.screenshot({ path: screenshotPath("chat-page-dark.png") });
  await page.reload();
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
});

test("thinking is a collapsible block and a hand-off is shown between the agents", async () => {
  const page = await openChat({
    agents: [
      { name: "Triage", instructions: "Route.", handoffs: ["Billing"] },
      { name: "Billing", instructions: "Refunds." },
    ],
  });
  fake().enqueue(
    { reasoning: "The user wants a refund.", toolCalls: [{ name: "transfer_to_billing", arguments: {} }] },
    { text: "Billing here: refund started." },
  );
  await send(page, "I want a refund");
  await turnDone(page);

  const thinking = page.locator(".block.thinking");
  expect(await thinking.locator(".label").innerText()).toBe("Thought");
  await thinking.locator("summary").click();
  expect(await thinking.locator("pre").innerText()).toBe("The user wants a refund.");
  expect(await page.locator(".handoff").innerText()).toContain("Handed off from Triage to Billing");
  expect(await page.locator(".msg.assistant").last().innerText()).toBe("Billing here: refund started.");
});

test("a javascript: link, raw HTML and a script in a reply never become live markup", async () => {
  const page = await openChat();
  fake().enqueue({
    text: [
      "[click me](javascript:alert(1)) ",
      "[also](JaVaScRiPt:alert(2)) ",
      "[entity](javascript&#58;alert(3)) ",
      '<a href="javascript:alert(4)">raw link</a> ',
      '<img src=x onerror="window.__xss=1"> ',
      "<script>window.__xss=2</script> ",
      "![pixel](https://tracker.example/p.png) ",
      "[safe](https://example.com/docs)",
    ],
  });
  await send(page, "links please");
  await turnDone(page);

  const links = await page.$$eval(".msg.assistant a", (as) =>
    as.map((a) => ({ text: a.textContent, href: a.getAttribute("href"), target: a.getAttribute("target"), rel: a.getAttribute("rel") })),
  );
  for (const link of links.filter((l) => l.text !== "safe" && l.text !== "pixel")) expect(link.href).toBeNull();
  expect(links.find((l) => l.text === "safe")).toEqual({
    text: "safe",
    href: "https://example.com/docs",
    target: "_blank",
    rel: "noopener noreferrer nofollow",
  });
  expect(await page.locator('[href^="javascript" i], [src^="javascript" i]').count()).toBe(0);
  expect(await page.locator(".msg.assistant img, .msg.assistant script").count()).toBe(0);
  // Raw HTML is shown as text; the remote image became a link instead of a silent request.
  const text = await page.locator(".msg.assistant").innerText();
  expect(text).toContain('<a href="javascript:alert(4)">raw link</a>');
  expect(text).toContain("<img src=x");
  expect(links.find((l) => l.text === "pixel")?.href).toBe("https://tracker.example/p.png");

  const before = page.url();
  await page.locator(".msg.assistant a", { hasText: "click me" }).click();
  await sleep(200);
  expect(page.url()).toBe(before);
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
});

test("the conversation survives a reload; reset clears it here and on the server", async () => {
  const page = await openChat();
  await send(page, "remember me");
  await turnDone(page);

  await page.reload();
  await connected(page);
  expect(await page.locator(".msg.user .bubble").innerText()).toBe("remember me");
  expect(await page.locator(".msg.assistant").innerText()).toBe("Echo: remember me");
  await send(page, "still there?");
  await turnDone(page);
  // The reloaded page gave the server its state back ({"type":"restore"}), so the model sees the thread.
  expect(fake().requests[1].body.previous_response_id).toBe(fake().requests[0].responseId);

  await page.locator("#reset-btn").click();
  expect(await page.locator(".turn").count()).toBe(0);
  expect(await page.locator("#welcome-hint").isVisible()).toBe(true);
  await send(page, "fresh start");
  await turnDone(page);
  expect(fake().requests[2].body.previous_response_id).toBeUndefined();
  await page.reload();
  await connected(page);
  expect(await page.locator(".msg.user .bubble").allInnerTexts()).toEqual(["fresh start"]);
});

test("the stop button cancels the running reply", async () => {
  const page = await openChat();
  fake().enqueue({ hang: true });
  await send(page, "tell me everything");
  await fake().waitForRequests(1);
  expect(await page.locator("#send-btn").isVisible()).toBe(false);
  await page.locator("#stop-btn").click();
  await turnDone(page);
  expect(await page.locator(".turn .note").innerText()).toBe("Stopped.");
  expect(await page.locator(".msg.error").count()).toBe(0);
  expect(await page.locator("#stop-btn").isVisible()).toBe(false);
  for (let i = 0; i < 50 && !fake().requests[0].aborted; i++) await sleep(20);
  expect(fake().requests[0].aborted).toBe(true);

  await send(page, "short version");
  await turnDone(page);
  expect(await page.locator(".msg.assistant").last().innerText()).toBe("Echo: short version");
});

test("an upstream failure is an error bubble", async () => {
  const page = await openChat();
  fake().enqueue({ fail: "The model is on fire" });
  await send(page, "hi");
  await turnDone(page);
  expect(await page.locator(".msg.error .bubble").innerText()).toContain("The model is on fire");
});

test("a dropped connection marks the running turn failed, reconnects, and restores the conversation", async () => {
  const page = await openChat();
  await send(page, "first");
  await turnDone(page);

  fake().enqueue({ hang: true });
  await send(page, "second");
  await fake().waitForRequests(2);
  session.server!.dropSockets();

  await page.locator(".turn .note.failed").waitFor();
  expect(await page.locator(".turn .note.failed").innerText()).toMatch(/Connection lost/);
  expect(await page.locator(".block.tool .badge.running").count()).toBe(0);
  await connected(page);
  await send(page, "third");
  await turnDone(page);
  expect(await page.locator(".msg.assistant").last().innerText()).toBe("Echo: third");
  // The new connection was given the state from the first turn.
  expect(fake().requests[2].body.previous_response_id).toBe(fake().requests[0].responseId);
});

test("with auth on: asks for the key, a wrong key is cleared and asked again, the right one is kept", async () => {
  const page = await openChat({ keys: loadApiKeys({ KLISK_API_KEY: "sk-right" }), connect: false });
  const sockets: string[] = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  const storedKey = () => page.evaluate(() => localStorage.getItem(`klisk:${location.pathname}:key`));

  await page.locator("#key-overlay").waitFor();
  await page.locator("#key-input").fill("sk-wrong");
  await page.locator("#key-input").press("Enter");
  await page.locator("#key-error").waitFor();
  expect(await page.locator("#key-error").innerText()).toMatch(/not accepted/);
  expect(await page.locator("#key-overlay").isVisible()).toBe(true);
  expect(await storedKey()).toBeNull();

  await page.locator("#key-input").fill("sk-right");
  await page.locator("#key-submit").click();
  await connected(page);
  expect(await page.locator("#key-overlay").isVisible()).toBe(false);
  await send(page, "hello with a key");
  await turnDone(page);
  expect(await page.locator(".msg.assistant").innerText()).toBe("Echo: hello with a key");
  expect(await storedKey()).toBe("sk-right");
  expect(sockets.some((u) => new URL(u).searchParams.get("key") === "sk-right")).toBe(true);
  expect(page.url()).not.toContain("sk-");

  await page.reload();
  await connected(page);
  expect(await page.locator("#key-overlay").isVisible()).toBe(false);
});

test("attachments: a too-large or unsupported file shows why; an accepted image is sent", async () => {
  const page = await openChat();
  const big = path.join(tempDir("klisk-ui-"), "big.png");
  fs.writeFileSync(big, "");
  fs.truncateSync(big, 21 * 1024 * 1024); // sparse: 21 MB on paper, nothing on disk

  await page.locator("#attach-btn").waitFor();
  await page.locator("#file-input").setInputFiles(big);
  await page.locator("#attach-errors").waitFor();
  expect(await page.locator("#attach-errors").innerText()).toMatch(/big\.png.*too large \(21 MB\).*limit is 20 MB/);
  expect(await page.locator("#previews").isVisible()).toBe(false);

  // Dropped on the chat: an unsupported type.
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(["hello"], "notes.txt", { type: "text/plain" }));
    document.getElementById("card")!.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => document.getElementById("attach-errors")!.textContent!.includes("notes.txt"));
  expect(await page.locator("#attach-errors").innerText()).toMatch(/notes\.txt.*can't be attached.*JPEG, PNG, GIF, WebP, PDF/);

  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
  await page.locator("#file-input").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: png });
  await page.locator("#previews li").waitFor();
  expect(await page.locator("#attach-errors").isVisible()).toBe(false);
  await send(page, "what is this?");
  await turnDone(page);
  expect(await page.locator(".msg.user .file-pill").innerText()).toContain("dot.png");
  expect(JSON.stringify(fake().requests[0].body.input)).toContain(`data:image/png;base64,${png.toString("base64")}`);
});

test("attachments off: no attach button, and a dropped file says attachments are off", async () => {
  const page = await openChat({ config: "deploy:\n  chat:\n    attachments: false\n" });
  expect(await page.locator("#attach-btn").isVisible()).toBe(false);
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(["x"], "a.png", { type: "image/png" }));
    document.getElementById("card")!.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  await page.locator("#attach-errors").waitFor();
  expect(await page.locator("#attach-errors").innerText()).toMatch(/turned off/);
});

test("title, welcome message, placeholder and colours come from the config", async () => {
  const config = [
    "deploy:",
    "  chat:",
    "    title: Order Helper",
    "    welcome_message: Ask me about your order.",
    "  widget:",
    "    placeholder: Your order number...",
    '    user_message_color: "#16a34a"',
    '    header_color: "#111827"',
  ].join("\n");
  const page = await openChat({ config });
  expect(await page.title()).toBe("Order Helper");
  expect(await page.locator("#title").innerText()).toBe("Order Helper");
  expect(await page.locator("#welcome").innerText()).toBe("Ask me about your order.");
  expect(await page.locator("#input").getAttribute("placeholder")).toBe("Your order number...");
  await send(page, "hi");
  const colours = await page.evaluate(() => ({
    user: getComputedStyle(document.querySelector(".msg.user .bubble")!).backgroundColor,
    header: getComputedStyle(document.getElementById("header")!).backgroundColor,
    headerText: getComputedStyle(document.getElementById("header")!).color,
  }));
  expect(colours).toEqual({ user: "rgb(22, 163, 74)", header: "rgb(17, 24, 39)", headerText: "rgb(255, 255, 255)" });
});
