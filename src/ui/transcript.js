/**
 * The conversation on screen. A Turn is one user message and everything the server streamed back,
 * rendered in arrival order: text after a tool call or a hand-off starts a new bubble (it never glues
 * onto the text before it), and each tool_result goes under the tool_call with the same call_id.
 * A Turn keeps the events it applied, so a saved conversation is redrawn by replaying them.
 */
import { MarkdownStream } from "./markdown.js";

export class Transcript {
  /**
   * `intro` holds the welcome message, the starter prompts and the hint shown while there is no turn:
   * the welcome bubble stays above the conversation, the rest goes once it starts (class "started").
   */
  constructor(container, intro) {
    this.container = container;
    this.intro = intro;
  }

  /** Starts a turn for a user message; `files` are {name, mime_type}. */
  startTurn(text, files = []) {
    this.intro.classList.add("started");
    const turn = new Turn(this, text, files);
    this.container.append(turn.el);
    this.scroll(true);
    return turn;
  }

  /** An error that belongs to no turn (e.g. a frame the server rejected). */
  error(message) {
    this.intro.classList.add("started");
    this.container.append(errorBubble(message));
    this.scroll(true);
  }

  clear() {
    this.container.replaceChildren(this.intro);
    this.intro.classList.remove("started");
  }

  get empty() {
    return !this.intro.classList.contains("started");
  }

  /** Keeps the newest content in view, unless the reader scrolled up to read something older. */
  scroll(force = false) {
    const c = this.container;
    const nearBottom = c.scrollHeight - c.scrollTop - c.clientHeight < 80;
    if (force || nearBottom || this.stuck) c.scrollTop = c.scrollHeight;
    this.stuck = force || nearBottom;
  }
}

export class Turn {
  constructor(transcript, text, files) {
    this.transcript = transcript;
    this.user = { text, files: files.map((f) => ({ name: f.name, mime_type: f.mime_type })) };
    this.events = [];
    /** "running" until done, error, a lost connection ("failed") or a stop ("stopped"). */
    this.status = "running";
    this.stopping = false;
    this.text = null; // the assistant bubble tokens go to, until something else is shown
    this.thinking = null;
    this.tools = new Map(); // call_id → tool block
    this.sawText = false;

    this.el = el("section", "turn");
    this.el.append(userBubble(text, this.user.files));
    this.typing = el("div", "typing");
    const dots = el("span", "dots");
    dots.setAttribute("aria-hidden", "true");
    dots.append(el("span"), el("span"), el("span"));
    this.typing.append(dots);
    // A status (not text in the log): screen readers say it once, and the dots are hidden from them.
    this.typing.setAttribute("role", "status");
    this.typing.setAttribute("aria-label", "The agent is replying");
    this.el.append(this.typing);
  }

  get finished() {
    return this.status !== "running";
  }

  /** Applies one server event. Returns true when the turn has ended. */
  apply(event) {
    if (this.finished) return true;
    this.events.push(event);
    switch (event.type) {
      case "token":
        this.appendText(String(event.data ?? ""));
        break;
      case "thinking":
        this.appendThinking(String(event.data ?? ""));
        break;
      case "tool_call":
        this.addToolCall(event.data ?? {});
        break;
      case "tool_result":
        this.addToolResult(event.data ?? {});
        break;
      case "handoff":
        this.addHandoff(event.data ?? {});
        break;
      case "done":
        this.finishDone(event);
        break;
      case "error":
        this.finishError(String(event.data ?? "Unknown error"));
        break;
      default:
        return false; // unknown event types are for newer clients; keep waiting
    }
    this.transcript.scroll();
    return this.finished;
  }

  /** The connection dropped (or the page was reloaded) before the turn ended. */
  fail(reason) {
    if (this.finished) return;
    this.failure = reason;
    this.end("failed");
    this.el.append(note(reason, "failed"));
    this.transcript.scroll();
  }

  appendText(delta) {
    this.closeThinking();
    if (!this.text) {
      const bubble = el("div", "bubble");
      const md = el("div", "md");
      bubble.append(md);
      const msg = el("div", "msg assistant");
      msg.append(bubble);
      this.insert(msg);
      this.text = { md, stream: new MarkdownStream(md), frame: 0 };
    }
    this.text.stream.append(delta);
    this.sawText = true;
    this.renderText();
  }

  /**
   * Renders the bubble at most once per frame (long replies stream hundreds of tokens a second), and
   * then only the part that is still growing (MarkdownStream); `now` ends it with the exact full render.
   */
  renderText(now = false) {
    const text = this.text;
    if (!text) return;
    if (now) {
      cancelAnimationFrame(text.frame);
      text.frame = 0;
      text.stream.finish();
      return;
    }
    if (text.frame) return;
    text.frame = requestAnimationFrame(() => {
      text.frame = 0;
      text.stream.render();
      this.transcript.scroll();
    });
  }

  appendThinking(delta) {
    this.closeText();
    if (!this.thinking) {
      const block = details("block thinking", "Thinking…");
      const pre = el("pre");
      block.body.append(pre);
      this.insert(block.el);
      this.thinking = { block, pre };
    }
    this.thinking.pre.textContent += delta;
  }

  addToolCall(data) {
    this.closeText();
    this.closeThinking();
    const block = details("block tool", String(data.tool ?? "tool"));
    block.el.dataset.callId = String(data.call_id ?? "");
    const badge = el("span", "badge running", "running");
    block.summary.append(badge);
    block.body.append(el("div", "section-label", "Arguments"), el("pre", "args", prettyJson(data.arguments)));
    const result = el("div", "result");
    block.body.append(result);
    this.insert(block.el);
    if (data.call_id !== undefined) this.tools.set(String(data.call_id), { block, badge, result });
  }

  addToolResult(data) {
    this.closeText();
    this.closeThinking();
    let tool = this.tools.get(String(data.call_id));
    if (!tool) {
      // A result whose call we never saw gets its own block; it must not land under another call.
      this.addToolCall({ tool: data.tool, call_id: data.call_id, arguments: "" });
      tool = this.tools.get(String(data.call_id));
      if (!tool) return;
    }
    tool.result.replaceChildren(el("div", "section-label", "Result"), el("pre", "output", String(data.output ?? "")));
    setBadge(tool.badge, "done");
  }

  addHandoff(data) {
    this.closeText();
    this.closeThinking();
    const text = `Handed off from ${data.from ?? "?"} to ${data.to ?? "?"}`;
    const line = el("div", "handoff", `↪ ${text}`);
    line.setAttribute("role", "note");
    this.insert(line);
  }

  finishDone(event) {
    // Providers that do not stream text still send the final message in done.
    if (!this.sawText && typeof event.data === "string" && event.data !== "") this.appendText(event.data);
    if (!this.sawText && this.tools.size === 0) this.insert(note("The agent sent an empty reply."));
    this.end("done");
  }

  finishError(message) {
    if (this.stopping) {
      this.end("stopped");
      this.el.append(note("Stopped."));
    } else {
      this.end("error");
      this.el.append(errorBubble(message));
    }
  }

  end(status) {
    this.status = status;
    this.closeText();
    this.closeThinking();
    this.typing.remove();
    for (const tool of this.tools.values()) {
      if (tool.badge.classList.contains("running")) setBadge(tool.badge, "interrupted");
    }
  }

  closeText() {
    if (!this.text) return;
    this.renderText(true);
    this.text = null;
  }

  closeThinking() {
    if (!this.thinking) return;
    this.thinking.block.label.textContent = "Thought";
    this.thinking = null;
  }

  /** New blocks go above the typing dots. */
  insert(node) {
    if (this.typing.isConnected) this.typing.before(node);
    else this.el.append(node);
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function details(className, label) {
  const node = el("details", className);
  const summary = el("summary");
  const labelEl = el("span", "label", label);
  summary.append(labelEl);
  const body = el("div", "block-body");
  node.append(summary, body);
  return { el: node, summary, label: labelEl, body };
}

function userBubble(text, files) {
  const bubble = el("div", "bubble");
  if (files.length > 0) {
    const list = el("div", "files");
    for (const file of files) list.append(el("span", "file-pill", `📎 ${file.name}`));
    bubble.append(list);
  }
  if (text) bubble.append(document.createTextNode(text));
  const msg = el("div", "msg user");
  msg.append(bubble);
  return msg;
}

function errorBubble(message) {
  const msg = el("div", "msg error");
  const bubble = el("div", "bubble", message);
  bubble.setAttribute("role", "alert");
  msg.append(bubble);
  return msg;
}

function note(text, extra = "") {
  return el("div", `note ${extra}`.trim(), text);
}

function setBadge(badge, state) {
  badge.className = `badge ${state}`;
  badge.textContent = state;
}

function prettyJson(text) {
  if (typeof text !== "string") return JSON.stringify(text ?? null, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
