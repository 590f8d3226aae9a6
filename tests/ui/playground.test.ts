/// <reference lib="dom" />
/**
 * The playground in headless Chromium: at `/?dev` with deploy.chat.playground, and at `/` under `klisk dev`,
 * against the real server and the fake upstream scripted with thinking, a tool call and a hand-off.
 */
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { tool, z } from "../../src/index";
import { loadApiKeys, type ApiKeys } from "../../src/server/auth";
import type { AgentOptions } from "../../src/sdk/agent";
import { runChild, startKlisk, stopChildren } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { connected, newContext, screenshotPath, send, startChatServer, turnDone, useBrowser, useBrowserSession } from "../helpers/browser";
import { makeProject, parseSse, useFakeOpenAI } from "../helpers/project";
import { writeFiles } from "../helpers/tmp";
import { sleep } from "../helpers/wait";

const fake = useFakeOpenAI();
const browser = useBrowser();

const session = useBrowserSession();
afterEach(() => stopChildren());

const TOOL_MS = 150;

const lookupOrder = tool({
  name: "lookup_order",
  description: "Look an order up.",
  parameters: z.object({ order: z.number() }),
  execute: async ({ order }) => {
    await sleep(TOOL_MS);
    return { order, status: "shipped" };
  },
});

const AGENTS: AgentOptions[] = [
  { name: "Triage", instructions: "Route the user.", tools: [lookupOrder], handoffs: ["Billing"] },
  { name: "Billing", instructions: "Handle refunds." },
  { name: "Support", instructions: "Help with anything else." },
];
const PLAYGROUND_ON = "deploy:\n  chat:\n    playground: true\n";

interface Frames {
  sent: any[];
  received: any[];
}

async function openPage(pathAndQuery: string, options: { config?: string; keys?: ApiKeys; agents?: AgentOptions[] } = {}) {
  session.server = await startChatServer(makeProject(options.agents ?? AGENTS, options.config ?? PLAYGROUND_ON), options.keys);
  session.context = await newContext(browser());
  await session.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: session.server.url });
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  const frames: Frames = { sent: [], received: [] };
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => frames.sent.push(JSON.parse(String(f.payload))));
    ws.on("framereceived", (f) => frames.received.push(JSON.parse(String(f.payload))));
  });
  const requested: string[] = [];
  page.on("request", (req) => requested.push(new URL(req.url()).pathname));
  await page.goto(`${session.server.url}${pathAndQuery}`);
  return { page, frames, requested };
}

/** "212 ms" or "1.30 s" → milliseconds. */
function ms(text: string): number {
  const m = /^([\d.]+) (ms|s)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * (m[2] === "s" ? 1000 : 1);
}

const metric = (page: Page, turn: number, name: string) =>
  page.locator(".turn").nth(turn).locator(`.pg-metric[data-metric="${name}"] .pg-metric-value`);

test("agent picker, tool/thinking/hand-off cards with timings, usage footer, raw events and copy as curl", async () => {
  const { page, frames } = await openPage("/?dev", { keys: loadApiKeys({ KLISK_API_KEY: "sk-playground" }) });
  await page.locator("#key-input").fill("sk-playground");
  await page.locator("#key-input").press("Enter");
  await connected(page);

  // Every agent, by its label; the default (first) one is picked.
  const picker = page.getByLabel("Agent", { exact: true });
  expect(await picker.evaluate((s: HTMLSelectElement) => Array.from(s.options).map((o) => o.value))).toEqual(["Triage", "Billing", "Support"]);
  expect(await picker.inputValue()).toBe("Triage");
  expect(await page.getByRole("button", { name: "Copy as curl" }).isDisabled()).toBe(true);

  fake().enqueue(
    { reasoning: "The user asks about order 42.", toolCalls: [{ name: "lookup_order", arguments: { order: 42 }, callId: "call_lookup" }] },
    { toolCalls: [{ name: "transfer_to_billing", arguments: {}, callId: "call_handoff" }] },
    { text: "Billing here: order **42** shipped, refund started." },
  );
  await send(page, "Where is order 42? I want a refund.");
  await turnDone(page);
  expect(frames.sent.at(-1)).toEqual({ message: "Where is order 42? I want a refund.", agent_name: "Triage" });

  // Tool card: name, pretty arguments, result, and how long the tool took.
  const toolCard = page.locator('.block.tool[data-call-id="call_lookup"]');
  await toolCard.locator("summary").click();
  expect(await toolCard.locator(".label").innerText()).toBe("lookup_order");
  expect(await toolCard.locator("pre.args").innerText()).toBe('{\n  "order": 42\n}');
  expect(JSON.parse(await toolCard.locator("pre.output").innerText())).toEqual({ order: 42, status: "shipped" });
  // Measured in the page from the call's event to the result's (no wall-clock bound: the machine may be busy).
  expect(ms(await toolCard.locator(".pg-took").innerText())).toBeGreaterThan(0);

  // Thinking card, collapsible, with its time; the hand-off as a divider naming the next agent.
  const thinking = page.locator(".block.thinking");
  expect(await thinking.locator(".pg-thought").innerText()).toMatch(/^\d+ ms$|^[\d.]+ s$/);
  await thinking.locator("summary").click();
  expect(await thinking.locator("pre").innerText()).toBe("The user asks about order 42.");
  const divider = page.locator(".handoff.pg-handoff");
  expect(await divider.innerText()).toBe("→ Billing");
  expect(await divider.getAttribute("aria-label")).toBe("Handed off from Triage to Billing");
  const order = await page.locator(".turn").first().evaluate((turn) => Array.from(turn.children).map((n) => n.className));
  expect(order).toEqual(["msg user", "block thinking", "block tool", "handoff pg-handoff", "msg assistant", "pg-footer", "pg-events"]);

  // The footer's numbers are the done event's usage; times are there too.
  const done = frames.received.find((e) => e.type === "done");
  expect(done.usage.input_tokens).toBeGreaterThan(0);
  expect(await metric(page, 0, "input_tokens").innerText()).toBe(done.usage.input_tokens.toLocaleString("en-US"));
  expect(await metric(page, 0, "output_tokens").innerText()).toBe(done.usage.output_tokens.toLocaleString("en-US"));
  // Reasoning tokens only when the done event reports them (the fake's usage has some for the thinking turn).
  const reasoning = done.usage.reasoning_tokens;
  expect(await metric(page, 0, "reasoning_tokens").allInnerTexts()).toEqual(reasoning === undefined ? [] : [reasoning.toLocaleString("en-US")]);
  const firstToken = ms(await metric(page, 0, "first_token_ms").innerText());
  const total = ms(await metric(page, 0, "total_ms").innerText());
  expect(total).toBeGreaterThanOrEqual(firstToken);
  expect(firstToken).toBeGreaterThan(0);

  // After the hand-off the picker shows who holds the conversation.
  expect(await picker.inputValue()).toBe("Billing");

  // Raw events, opened from the keyboard: every event of the turn, in order, as received.
  const rawToggle = page.locator(".turn").first().getByRole("button", { name: /^Raw events/ });
  expect(await rawToggle.getAttribute("aria-expanded")).toBe("false");
  await rawToggle.focus();
  await page.keyboard.press("Enter");
  expect(await rawToggle.getAttribute("aria-expanded")).toBe("true");
  const shown = await page.locator(".turn").first().locator(".pg-events .pg-event-json").allInnerTexts();
  expect(shown.map((text) => JSON.parse(text))).toEqual(frames.received.slice(0, shown.length));
  expect(shown.length).toBe(frames.received.findIndex((e) => e.type === "done") + 1);
  expect(shown.map((t) => JSON.parse(t).type)).toEqual(expect.arrayContaining(["thinking", "tool_call", "tool_result", "handoff", "token", "done"]));
  expect(await rawToggle.innerText()).toBe(`Raw events (${shown.length})`);

  await page.screenshot({ path: screenshotPath("playground.png"), fullPage: true });
  await page.locator("#theme-btn").click();
  await page.screenshot({ path: screenshotPath("playground-dark.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 760 });
  await page.screenshot({ path: screenshotPath("playground-narrow-dark.png") });
  await page.setViewportSize({ width: 900, height: 760 });

  // Switching the agent sends agent_name; that agent answers.
  await picker.selectOption("Support");
  await send(page, "Something else");
  await turnDone(page);
  expect(frames.sent.at(-1)).toEqual({ message: "Something else", agent_name: "Support" });
  expect(fake().requests.at(-1)!.body.instructions).toContain("Help with anything else.");
  expect(await page.locator(".msg.assistant").last().innerText()).toBe("Echo: Something else");

  // Copy as curl (from the keyboard): the last request as a command, the key left to the shell.
  await page.getByRole("button", { name: "Copy as curl" }).focus();
  await page.keyboard.press("Enter");
  await page.locator("#pg-notice", { hasText: "Copied" }).waitFor();
  const command = await page.evaluate(() => navigator.clipboard.readText());
  expect(command).toMatch(/^curl -N '.*\/api\/chat' \\\n/);
  expect(command).toContain(`-H "Authorization: Bearer $KLISK_API_KEY"`);
  expect(command).not.toContain("sk-playground");
  const body = JSON.parse(/--data-raw '(.*)'$/s.exec(command)![1].replace(/'\\''/g, "'"));
  expect(body).toMatchObject({ message: "Something else", stream: true, agent_name: "Support" });
  expect(body.state).toEqual(done.state); // the conversation the page continued

  // Run it: the server answers the same request over SSE.
  const result = await runChild("sh", ["-c", command], { env: { KLISK_API_KEY: "sk-playground" } });
  expect(result.code).toBe(0);
  const events = parseSse(result.stdout);
  expect(events.at(-1)).toBe("[DONE]");
  expect(events.at(-2)).toMatchObject({ type: "done", data: "Echo: Something else" });
  expect(fake().requests.at(-1)!.body.instructions).toContain("Help with anything else.");
});

test("copy as curl quotes a message with quotes, $ and backticks for the shell; without auth, no key header", async () => {
  const { page } = await openPage("/?dev");
  await connected(page);
  await send(page, `It's "quoted" & $HOME \`not run\``);
  await turnDone(page);
  await page.getByRole("button", { name: "Copy as curl" }).click();
  const command = await page.evaluate(() => navigator.clipboard.readText());
  expect(command).not.toContain("Authorization");
  const result = await runChild("sh", ["-c", command]);
  expect(parseSse(result.stdout).at(-2)).toMatchObject({ type: "done", data: 'Echo: It\'s "quoted" & $HOME `not run`' });
});

test("without a clipboard, copy as curl shows the command to copy by hand; Close gives focus back", async () => {
  session.server = await startChatServer(makeProject(AGENTS, PLAYGROUND_ON));
  session.context = await newContext(browser());
  // As on a page served over plain http to another host: no clipboard access.
  await session.context.addInitScript(() => {
    Object.defineProperty(navigator.clipboard, "writeText", { value: () => Promise.reject(new DOMException("denied", "NotAllowedError")) });
  });
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  await page.goto(`${session.server.url}/?dev`);
  await connected(page);
  await send(page, "hello");
  await turnDone(page);
  await page.getByRole("button", { name: "Copy as curl" }).click();
  const text = page.getByLabel("curl command for the last message");
  await text.waitFor();
  expect(await text.inputValue()).toMatch(/^curl -N '.*\/api\/chat'/);
  expect(await text.evaluate((t) => t === document.activeElement)).toBe(true);
  await page.getByRole("button", { name: "Close" }).click();
  expect(await text.isVisible()).toBe(false);
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("pg-curl");
});

test("a tool that throws shows its error in its card; the footer says the turn failed", async () => {
  const broken = tool({
    name: "broken",
    description: "Always fails.",
    parameters: z.object({}),
    execute: async () => {
      throw new Error("disk on fire");
    },
  });
  const { page } = await openPage("/?dev", { agents: [{ name: "Assistant", tools: [broken] }] });
  await connected(page);
  fake().enqueue({ toolCalls: [{ name: "broken", arguments: {}, callId: "call_broken" }] });
  await send(page, "break");
  await turnDone(page);
  const card = page.locator('.block.tool[data-call-id="call_broken"]');
  await card.locator("summary").click();
  expect(await card.locator(".pg-error").innerText()).toBe("Tool 'broken' raised: Error: disk on fire");
  expect(await page.locator('.pg-metric[data-metric="total_ms"] .pg-metric-label').innerText()).toBe("error");
});

test("turns saved in the browser keep their usage (reasoning tokens when reported) and raw events", async () => {
  const saved = {
    state: { current_agent_name: "Billing" },
    turns: [
      {
        user: { text: "Refund?", files: [] },
        status: "done",
        events: [
          { type: "thinking", data: "Hmm." },
          { type: "handoff", data: { from: "Triage", to: "Billing" } },
          { type: "token", data: "Done." },
          { type: "done", data: "Done.", usage: { input_tokens: 1234, output_tokens: 56, total_tokens: 1290, reasoning_tokens: 7 } },
        ],
        times: [40, 90, 300, 450],
      },
    ],
  };
  session.server = await startChatServer(makeProject(AGENTS, PLAYGROUND_ON));
  session.context = await newContext(browser());
  await session.context.addInitScript((conversation) => {
    if (!localStorage.getItem("klisk:/:conversation")) localStorage.setItem("klisk:/:conversation", conversation);
  }, JSON.stringify(saved));
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  await page.goto(`${session.server.url}/?dev`);
  await connected(page);

  expect(await metric(page, 0, "input_tokens").innerText()).toBe("1,234");
  expect(await metric(page, 0, "output_tokens").innerText()).toBe("56");
  expect(await metric(page, 0, "reasoning_tokens").innerText()).toBe("7");
  expect(await metric(page, 0, "first_token_ms").innerText()).toBe("300 ms");
  expect(await metric(page, 0, "total_ms").innerText()).toBe("450 ms");
  expect(await page.locator(".handoff.pg-handoff").innerText()).toBe("→ Billing");
  await page.getByRole("button", { name: "Raw events (4)" }).click();
  expect(await page.locator(".pg-event-time").allInnerTexts()).toEqual(["+40 ms", "+90 ms", "+300 ms", "+450 ms"]);
  // The picker shows the saved conversation's agent: the next message goes on with it.
  expect(await page.getByLabel("Agent", { exact: true }).inputValue()).toBe("Billing");
});

test("the plain page has no playground: not at / nor at /?dev unless deploy.chat.playground is on", async () => {
  for (const [config, query] of [["", "/"], ["", "/?dev"], [PLAYGROUND_ON, "/"]]) {
    const { page, requested } = await openPage(query, { config });
    await connected(page);
    await send(page, "hello");
    await turnDone(page);
    expect(await page.locator("#pg-bar, .pg-footer, .pg-handoff").count()).toBe(0);
    expect(requested.filter((p) => p.includes("playground"))).toEqual([]);
    await session.context!.close();
    await session.server!.close();
    session.context = session.server = undefined;
  }
});

test("klisk dev: the playground is on at /, and its agent list follows a reload", async () => {
  const entry = (agents: string[]) =>
    `import { defineAgent } from "klisk";\n${agents.map((name) => `defineAgent({ name: "${name}", model: "gpt-5.2" });\n`).join("")}`;
  const dir = writeFiles({ "src/main.ts": entry(["Assistant", "Helper"]) });
  const cli = startKlisk(["dev", dir, "--port", "0", "--host", "127.0.0.1"], { env: fakeUpstreamEnv(fake().url) });
  const [, url] = await cli.waitFor(/URL: (http:\/\/\S+)/);
  await cli.waitFor(/Watching .* for changes/);

  session.context = await newContext(browser());
  const page = await session.context.newPage();
  page.on("pageerror", (err) => session.pageErrors.push(err.message));
  await page.goto(`${url}/`);
  await connected(page);
  const picker = page.getByLabel("Agent", { exact: true });
  const names = () => picker.evaluate((s: HTMLSelectElement) => Array.from(s.options).map((o) => o.value));
  expect(await names()).toEqual(["Assistant", "Helper"]);

  await picker.selectOption("Helper");
  fs.writeFileSync(path.join(dir, "src/main.ts"), entry(["Assistant", "Helper", "Reviewer"]));
  await page.waitForFunction(() => document.querySelectorAll("#pg-agent option").length === 3, undefined, { timeout: 15_000 });
  expect(await names()).toEqual(["Assistant", "Helper", "Reviewer"]);
  expect(await picker.inputValue()).toBe("Helper"); // the choice survives the reload
  await send(page, "hi");
  await turnDone(page);
  expect(await page.locator(".msg.assistant").innerText()).toBe("Echo: hi");
  await page.screenshot({ path: screenshotPath("playground-dev.png") });
});
