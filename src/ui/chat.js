/**
 * The chat page: reads /api/info, asks for a key when the server needs one, and runs the conversation
 * over the WebSocket. One turn runs at a time; the conversation (with the server's `state`) is kept in
 * localStorage, so a reload or a reconnect continues where it was (`{"type":"restore"}`).
 */
import { Attachments } from "./attachments.js";
import { isEmbedded, listenToParent, onParentMessage, tellParent } from "./embed.js";
import { copyCode, renderMarkdown } from "./markdown.js";
import { ChatSocket } from "./socket.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const els = {
  card: $("card"),
  header: $("header"),
  title: $("title"),
  status: $("status"),
  themeBtn: $("theme-btn"),
  resetBtn: $("reset-btn"),
  closeBtn: $("close-btn"),
  messages: $("messages"),
  intro: $("intro"),
  welcome: $("welcome"),
  welcomeMsg: $("welcome-msg"),
  welcomeHint: $("welcome-hint"),
  starters: $("starters"),
  form: $("composer"),
  input: $("input"),
  sendBtn: $("send-btn"),
  stopBtn: $("stop-btn"),
  keyOverlay: $("key-overlay"),
  keyForm: $("key-form"),
  keyInput: $("key-input"),
  keyError: $("key-error"),
};

const DEFAULT_UI = {
  title: "Chat",
  welcome_message: "",
  starters: [],
  placeholder: "Type a message...",
  colors: {},
  attachments: {
    enabled: false,
    max_bytes: 20 * 1024 * 1024,
    max_count: 10,
    mime_types: ["image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"],
  },
};
const MAX_SAVED_TURNS = 100;

/** localStorage, per page path (two agents behind one host keep separate keys), never throwing. */
const storage = {
  prefix: `klisk:${window.location.pathname}:`,
  get(name) {
    try {
      return window.localStorage.getItem(this.prefix + name);
    } catch {
      return null;
    }
  },
  set(name, value) {
    try {
      window.localStorage.setItem(this.prefix + name, value);
      return true;
    } catch {
      return false; // full, or storage disabled
    }
  },
  remove(name) {
    try {
      window.localStorage.removeItem(this.prefix + name);
    } catch {
      // storage disabled: nothing to remove
    }
  },
};

const transcript = new Transcript(els.messages, els.intro);
const embedded = isEmbedded();
let ui = DEFAULT_UI;
let authRequired = false;
let key = null;
let turns = []; // every turn on screen, for saving
let turn = null; // the running turn
let state = null; // the server's conversation state from the last `done`
let discarding = 0; // turns abandoned by a reset whose remaining events must be skipped
let attachments = null;
let playground = null; // playground.js, loaded only in playground mode
let keyReturnFocus = null; // where focus goes back to when the key prompt closes

const socket = new ChatSocket({ onEvent, onOpen, onDrop, onAuthRejected, onStatus });

initTheme();
if (embedded) {
  document.body.classList.add("embed");
  els.closeBtn.hidden = false;
  els.closeBtn.addEventListener("click", () => tellParent("klisk:close"));
  // The widget's panel closes on Escape wherever focus is in it; key events in this frame never reach the host page.
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !e.defaultPrevented && !e.isComposing) tellParent("klisk:close");
  });
  // widget.js asks for this when its panel opens: focus goes to where the user will type.
  onParentMessage("klisk:focus", () => (els.keyOverlay.hidden ? els.input : els.keyInput).focus());
}
restoreConversation();
wireComposer();
start();

async function start() {
  const info = await fetch("api/info", { headers: { Accept: "application/json" } })
    .then((res) => (res.ok ? res.json() : {}))
    .catch(() => ({}));
  ui = { ...DEFAULT_UI, ...info.ui };
  ui.attachments = { ...DEFAULT_UI.attachments, ...ui.attachments };
  authRequired = info.auth_required === true;
  if (info.dev) watchReloads(info.dev);
  applyUi({});
  if (wantsPlayground(info)) playground = await loadPlayground(info);
  attachments = new Attachments(
    {
      button: $("attach-btn"),
      input: $("file-input"),
      previews: $("previews"),
      errors: $("attach-errors"),
      dropTarget: els.card,
      dropOverlay: $("drop-overlay"),
      onChange: updateButtons,
    },
    ui.attachments,
  );
  els.input.addEventListener("paste", (e) => attachments.paste(e));

  let fromParent = null;
  if (embedded) {
    const first = listenToParent(onParentInit, 2000);
    // Only a server that needs a key is worth waiting for; otherwise options apply when they arrive.
    if (authRequired) fromParent = await first;
    else first.then((init) => init && applyUi(init.options));
    if (fromParent) applyUi(fromParent.options);
  }

  key = fromParent?.key || storage.get("key");
  if (authRequired && !key) showKeyPrompt("");
  else socket.start(key);
}

/**
 * `klisk dev`: a banner with the last reload's error (file, line, cause) while the server keeps serving the
 * last good version; it goes away with the next good reload. The statuses arrive over one event stream.
 */
function watchReloads(dev) {
  const banner = document.createElement("div");
  banner.className = "dev-banner";
  banner.id = "dev-banner";
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  els.card.insertBefore(banner, els.header.nextSibling);
  const show = (status) => {
    const error = status && status.error;
    banner.hidden = !error;
    banner.textContent = error ? `Reload failed, still serving the last good version: ${error.message}` : "";
    playground?.onReload(status);
  };
  show(dev);
  if (typeof EventSource === "function" && dev.status_stream) {
    const events = new EventSource(dev.status_stream);
    events.onmessage = (e) => {
      try {
        show(JSON.parse(e.data));
      } catch {
        // not a status: ignore
      }
    };
  }
}

/** Under `klisk dev` always; under `klisk serve` at `/?dev` when deploy.chat.playground is on. Never in the widget. */
function wantsPlayground(info) {
  if (embedded) return false;
  return Boolean(info.dev) || (info.ui?.playground === true && new URLSearchParams(window.location.search).has("dev"));
}

/** Its code and styles are fetched only now, so the plain page carries none of it. */
async function loadPlayground(info) {
  try {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = new URL("playground.css", import.meta.url).href;
    document.head.append(css);
    const { Playground } = await import("./playground.js");
    const currentAgent = state?.current_agent_name;
    const created = new Playground({ info, card: els.card, header: els.header, authRequired, currentAgent });
    created.adopt(turns);
    return created;
  } catch {
    return null; // the chat works without it
  }
}

function onParentInit(init) {
  applyUi(init.options);
  if (authRequired && init.key && init.key !== key) {
    key = init.key;
    hideKeyPrompt();
    socket.start(key);
  }
}

// ---- socket events ----

function onEvent(event) {
  if (discarding > 0) {
    if (event.type === "done" || event.type === "error") discarding--;
    return;
  }
  if (!turn) {
    if (event.type === "error") transcript.error(String(event.data));
    return;
  }
  if (event.type === "done" && event.state && typeof event.state === "object") state = event.state;
  const ended = turn.apply(event);
  playground?.observe(turn, event);
  if (ended) endTurn();
}

function onOpen() {
  discarding = 0; // a new connection carries no old turns
  // The server starts every connection blank; give it back the conversation it was in.
  if (state && Object.keys(state).length > 0) socket.send({ type: "restore", state });
  updateButtons();
}

function onDrop() {
  if (turn) {
    turn.fail("Connection lost before the reply finished. Send the message again once reconnected.");
    endTurn();
  }
  updateButtons();
}

function onAuthRejected() {
  key = null;
  storage.remove("key");
  if (turn) {
    turn.fail("The access key was rejected.");
    endTurn();
  }
  showKeyPrompt("That key was not accepted. Check it and try again.");
}

function onStatus(status, delayMs) {
  const text = {
    connecting: "Connecting…",
    open: "Connected",
    reconnecting: `Connection lost, retrying in ${Math.max(1, Math.round((delayMs ?? 0) / 1000))} s…`,
    offline: "Offline, waiting for the network…",
    auth: "Access key needed",
  }[status];
  els.status.dataset.state = status;
  els.status.textContent = text ?? "";
  updateButtons();
}

// ---- sending, stopping, resetting ----

/** Sends the composer's text, or `prompt` (a starter) with the composer left as it is. */
function send(prompt) {
  const fromComposer = prompt === undefined;
  const text = fromComposer ? els.input.value.trim() : prompt;
  if (turn || !attachments || attachments.busy) return;
  if (!text && attachments.count === 0) return;
  if (!socket.isOpen) return;
  const files = attachments.take();
  const frame = { message: text };
  if (files.length > 0) frame.attachments = files;
  playground?.prepare(frame);
  socket.send(frame);
  turn = transcript.startTurn(text, files);
  playground?.started(turn, frame, state);
  turns.push(turn);
  saveConversation();
  if (fromComposer) {
    els.input.value = "";
    autosize();
  }
  setRunning(true);
}

function stop() {
  if (!turn || turn.stopping) return;
  turn.stopping = true;
  els.stopBtn.disabled = true;
  socket.send({ type: "cancel" });
}

function reset() {
  if (turn) {
    // Its remaining events (ending with the cancel's error) must not spill into the new conversation.
    if (socket.send({ type: "cancel" })) discarding++;
    turn = null;
    setRunning(false);
  }
  socket.send({ type: "clear" });
  state = null;
  turns = [];
  transcript.clear();
  storage.remove("conversation");
  els.input.focus();
}

function endTurn() {
  playground?.settle(turn);
  turn = null;
  setRunning(false);
  saveConversation();
}

function setRunning(running) {
  // A streaming reply changes on every frame; screen readers read the log once the turn has ended.
  if (running) els.messages.setAttribute("aria-busy", "true");
  else els.messages.removeAttribute("aria-busy");
  els.sendBtn.hidden = running;
  els.stopBtn.hidden = !running;
  els.stopBtn.disabled = false;
  updateButtons();
}

function updateButtons() {
  const empty = !els.input.value.trim() && (!attachments || attachments.count === 0);
  els.sendBtn.disabled = empty || !socket.isOpen || Boolean(attachments?.busy) || turn !== null;
  const canStart = socket.isOpen && Boolean(attachments) && !attachments.busy && turn === null;
  for (const button of els.starters.querySelectorAll("button")) button.disabled = !canStart;
}

function wireComposer() {
  els.form.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  els.input.addEventListener("keydown", (e) => {
    // Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition does neither.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  els.input.addEventListener("input", () => {
    autosize();
    updateButtons();
  });
  els.stopBtn.addEventListener("click", stop);
  els.resetBtn.addEventListener("click", reset);
  els.starters.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-prompt]");
    if (!button || button.disabled) return;
    send(button.dataset.prompt);
    els.input.focus(); // the starters go away with the first turn
  });
  // Code blocks in replies and in the welcome message (their buttons are redrawn while a reply streams).
  els.messages.addEventListener("click", (e) => {
    const button = e.target.closest(".copy-btn");
    if (button) void copyCode(button);
  });
  wireKeyDialog();
  els.keyForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const typed = els.keyInput.value.trim();
    if (!typed) return;
    key = typed;
    storage.set("key", key);
    hideKeyPrompt();
    socket.start(key);
  });
}

function autosize() {
  els.input.style.height = "auto";
  els.input.style.height = `${Math.min(els.input.scrollHeight, 180)}px`;
}

// ---- key prompt ----

/** A modal dialog: the chat behind it is inert, focus moves in, and comes back to where it was when it closes. */
function showKeyPrompt(error) {
  els.keyError.textContent = error;
  els.keyError.hidden = !error;
  els.keyInput.value = "";
  if (els.keyOverlay.hidden) {
    const active = document.activeElement;
    keyReturnFocus = active && active !== document.body && !els.keyOverlay.contains(active) ? active : null;
  }
  els.keyOverlay.hidden = false;
  els.card.inert = true;
  els.keyInput.focus();
}

function hideKeyPrompt() {
  if (els.keyOverlay.hidden) return;
  els.keyOverlay.hidden = true;
  els.card.inert = false;
  const back = keyReturnFocus?.isConnected && !keyReturnFocus.disabled ? keyReturnFocus : els.input;
  keyReturnFocus = null;
  back.focus();
}

/**
 * Tab and Shift+Tab cycle inside the dialog. Escape clears a typed key; with nothing typed it closes the
 * widget's panel when embedded (the key is needed, so the page itself has nothing to go back to).
 */
function wireKeyDialog() {
  els.keyForm.addEventListener("keydown", (e) => {
    if (e.key === "Tab") {
      const items = [...els.keyForm.querySelectorAll("input, button, [tabindex]")].filter(
        (node) => !node.disabled && !node.hidden && node.tabIndex >= 0,
      );
      if (items.length === 0) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    } else if (e.key === "Escape" && !e.isComposing) {
      if (els.keyInput.value) {
        e.preventDefault(); // handled: the embedded page's Escape handler must not close the panel too
        els.keyInput.value = "";
        els.keyInput.focus();
      }
    }
  });
  // A click on the backdrop must not take focus out of the dialog.
  els.keyOverlay.addEventListener("mousedown", (e) => {
    if (e.target === els.keyOverlay) e.preventDefault();
  });
}

// ---- saved conversation ----

function saveConversation() {
  let saved = turns.slice(-MAX_SAVED_TURNS).map((t) => ({
    user: t.user,
    events: t.events,
    status: t.status,
    failure: t.failure,
    times: t.times, // playground only: when each event arrived
  }));
  // A full storage drops the oldest turns rather than the whole conversation.
  while (!storage.set("conversation", JSON.stringify({ state, turns: saved })) && saved.length > 0) {
    saved = saved.slice(Math.ceil(saved.length / 2));
  }
}

function restoreConversation() {
  let saved;
  try {
    saved = JSON.parse(storage.get("conversation") ?? "null");
  } catch {
    saved = null;
  }
  if (!saved || !Array.isArray(saved.turns)) return;
  state = saved.state && typeof saved.state === "object" ? saved.state : null;
  for (const entry of saved.turns) {
    const restored = transcript.startTurn(String(entry.user?.text ?? ""), entry.user?.files ?? []);
    restored.stopping = entry.status === "stopped";
    for (const event of entry.events ?? []) restored.apply(event);
    if (Array.isArray(entry.times)) restored.times = entry.times;
    restored.fail(entry.failure ?? "Interrupted: the page was closed before the reply finished.");
    turns.push(restored);
  }
  transcript.scroll(true);
}

// ---- look ----

function applyUi(overrides) {
  const o = overrides ?? {};
  els.title.textContent = ui.title;
  document.title = ui.title;
  renderIntro(o.welcome_message || ui.welcome_message || "", Array.isArray(ui.starters) ? ui.starters : []);
  els.input.placeholder = o.placeholder || ui.placeholder || DEFAULT_UI.placeholder;
  setColor("--accent", o.color || ui.colors.accent);
  setColor("--user-bubble", o.user_message_color || ui.colors.user_message);
  const header = o.header_color || ui.colors.header;
  if (setColor("--header-bg", header)) {
    document.documentElement.style.setProperty("--header-text", isDark(header) ? "#ffffff" : "#111827");
  }
}

/**
 * The welcome message (markdown, sanitised like a reply) in an assistant bubble, and the starter prompts
 * under it. Both are the page's own: neither is part of the conversation sent to the server.
 */
function renderIntro(welcome, starters) {
  const prompts = starters.filter((p) => typeof p === "string" && p.trim() !== "");
  if (welcome) els.welcome.replaceChildren(renderMarkdown(welcome));
  else els.welcome.replaceChildren();
  els.welcomeMsg.hidden = !welcome;
  els.intro.classList.toggle("has-welcome", Boolean(welcome));
  els.starters.replaceChildren(
    ...prompts.map((prompt) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "starter";
      button.dataset.prompt = prompt;
      button.textContent = prompt;
      return button;
    }),
  );
  els.starters.hidden = prompts.length === 0;
  els.welcomeHint.hidden = Boolean(welcome) || prompts.length > 0;
  updateButtons();
}

/** Sets a colour variable if the value is a colour (config and data-* values are not trusted as CSS). */
function setColor(variable, value) {
  if (typeof value !== "string" || value === "" || !CSS.supports("color", value)) return false;
  document.documentElement.style.setProperty(variable, value);
  return true;
}

function isDark(color) {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!hex) return false;
  const h = hex[1].length === 3 ? [...hex[1]].map((c) => c + c).join("") : hex[1];
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
  const lin = (v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b) < 0.4;
}

function initTheme() {
  const saved = storage.get("theme");
  const prefersDark = window.matchMedia?.("(prefers-color-scheme: dark)").matches;
  setTheme(saved === "dark" || saved === "light" ? saved : prefersDark ? "dark" : "light");
  els.themeBtn.addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    setTheme(next);
    storage.set("theme", next);
  });
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  els.themeBtn.setAttribute("aria-pressed", String(theme === "dark"));
}
