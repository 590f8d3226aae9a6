/**
 * The playground: what the chat page adds under `klisk dev`, or at `/?dev` when deploy.chat.playground is
 * on. chat.js loads this file (and playground.css) only then, so the plain page stays as light as it was.
 *
 * - An agent picker listing every agent of GET /api/info; the next message goes to the picked agent
 *   (`agent_name` on the frame). After a hand-off it follows the agent that now holds the conversation.
 * - Timings on the transcript's cards (tool call → result, thinking), a hand-off as a divider "→ Agent",
 *   and under each finished turn its usage from the `done` event (input/output/reasoning tokens), the time
 *   to the first token and the total time, measured here from the moment the message was sent.
 * - "Copy as curl": the last message as the equivalent POST /api/chat (SSE), with `$KLISK_API_KEY` in place
 *   of the key; and per turn, the raw events as received, in order, with their arrival times.
 *
 * Nothing shown here is more than the page already receives or GET /api/info already tells anyone.
 */

const SECONDS_FROM_MS = 1000;

export class Playground {
  /**
   * @param {object} options
   *   info      GET /api/info's body
   *   card      the page's card element (the bar goes under its header)
   *   header    the header element
   *   authRequired  whether the server wants a key (the curl command then sends $KLISK_API_KEY)
   *   currentAgent  the agent of the conversation on screen (its state's current_agent_name), if any
   */
  constructor({ info, card, header, authRequired, currentAgent }) {
    this.authRequired = authRequired;
    this.records = new WeakMap(); // Turn → what we measured of it
    this.lastRequest = null;
    this.generation = info.dev?.generation;
    document.body.classList.add("playground");
    this.buildBar(card, header);
    this.setAgents(info.agents, info.agent);
    if (typeof currentAgent === "string") this.follow(currentAgent);
  }

  // ---- the bar: agent picker and copy as curl ----

  buildBar(card, header) {
    const bar = el("div", "pg-bar");
    bar.id = "pg-bar";
    bar.setAttribute("role", "region");
    bar.setAttribute("aria-label", "Playground");
    const tag = el("span", "pg-tag", "Playground");
    const label = el("label", "pg-label", "Agent");
    label.htmlFor = "pg-agent";
    this.picker = el("select", "pg-agent");
    this.picker.id = "pg-agent";
    this.curlBtn = el("button", "pg-btn", "Copy as curl");
    this.curlBtn.type = "button";
    this.curlBtn.id = "pg-curl";
    this.curlBtn.title = "Copy the last message as a curl command against /api/chat";
    this.curlBtn.disabled = true;
    this.curlBtn.addEventListener("click", () => this.copyCurl());
    this.notice = el("span", "pg-notice");
    this.notice.id = "pg-notice";
    this.notice.setAttribute("role", "status");
    bar.append(tag, label, this.picker, el("span", "pg-spacer"), this.notice, this.curlBtn);

    // Shown when the clipboard is not available (a page served over plain http to another host).
    this.curlPanel = el("div", "pg-curl-panel");
    this.curlPanel.hidden = true;
    const panelLabel = el("label", "pg-label", "curl command for the last message");
    panelLabel.htmlFor = "pg-curl-text";
    this.curlText = el("textarea", "pg-curl-text");
    this.curlText.id = "pg-curl-text";
    this.curlText.readOnly = true;
    this.curlText.rows = 5;
    const close = el("button", "pg-btn", "Close");
    close.type = "button";
    close.addEventListener("click", () => {
      this.curlPanel.hidden = true;
      this.curlBtn.focus();
    });
    this.curlPanel.append(panelLabel, this.curlText, close);

    header.after(bar, this.curlPanel);
    this.bar = bar;
  }

  /** Fills the picker with every agent; keeps the current choice when it still exists. */
  setAgents(agents, defaultAgent) {
    const list = Array.isArray(agents) ? agents.filter((a) => a && typeof a.name === "string") : [];
    const current = this.picker.value || defaultAgent;
    this.picker.replaceChildren(
      ...list.map((agent) => {
        const option = el("option", "", agent.model ? `${agent.name} · ${agent.model}` : agent.name);
        option.value = agent.name;
        return option;
      }),
    );
    const names = list.map((a) => a.name);
    this.picker.value = names.includes(current) ? current : names.includes(defaultAgent) ? defaultAgent : (names[0] ?? "");
    this.picker.disabled = names.length === 0;
  }

  /** Under `klisk dev`: a good reload may have added, renamed or removed agents. */
  async onReload(status) {
    if (!status || status.error || status.generation === this.generation) return;
    this.generation = status.generation;
    const info = await fetch("api/info", { headers: { Accept: "application/json" } })
      .then((res) => (res.ok ? res.json() : null))
      .catch(() => null);
    if (info) this.setAgents(info.agents, info.agent);
  }

  // ---- a turn: what was sent, what came back and when ----

  /** A message frame about to be sent: it goes to the picked agent. */
  prepare(frame) {
    if (this.picker.value) frame.agent_name = this.picker.value;
    return frame;
  }

  /** The frame was sent and its turn is on screen. `state` is the conversation the server continues. */
  started(turn, frame, state) {
    const body = { message: frame.message, stream: true };
    if (frame.agent_name) body.agent_name = frame.agent_name;
    if (state && Object.keys(state).length > 0) body.state = state;
    if (frame.attachments) body.attachments = frame.attachments;
    this.lastRequest = body;
    this.curlBtn.disabled = false;
    turn.times = [];
    this.records.set(turn, { t0: performance.now(), lastAt: 0, firstToken: null, tools: new Map(), thinking: null });
  }

  /** After the transcript applied `event` to `turn`. */
  observe(turn, event) {
    const record = this.records.get(turn);
    // Not ours, or an event the (already finished) turn did not take.
    if (!record || turn.events[turn.events.length - 1] !== event) return;
    const at = performance.now() - record.t0;
    if (Array.isArray(turn.times) && turn.times.length < turn.events.length) turn.times.push(Math.round(at));

    if (record.thinking && event.type !== "thinking") {
      setDuration(record.thinking.summary, at - record.thinking.start, "pg-thought");
      record.thinking = null;
    }
    switch (event.type) {
      case "token":
        if (record.firstToken === null) record.firstToken = at;
        break;
      case "thinking":
        // Thinking starts before its first summary delta: count from the event before it (or the send).
        if (!record.thinking && turn.thinking) record.thinking = { summary: turn.thinking.block.summary, start: record.lastAt };
        break;
      case "tool_call":
        if (event.data?.call_id !== undefined) record.tools.set(String(event.data.call_id), at);
        break;
      case "tool_result": {
        const id = String(event.data?.call_id);
        const tool = turn.tools.get(id);
        if (tool && record.tools.has(id)) setDuration(tool.block.summary, at - record.tools.get(id), "pg-took");
        break;
      }
      case "handoff":
        markHandoff(turn.el, event.data ?? {});
        break;
      case "done":
        if (event.state && typeof event.state.current_agent_name === "string") this.follow(event.state.current_agent_name);
        break;
      case "error":
        showToolError(turn, String(event.data ?? ""));
        break;
      default:
    }
    record.lastAt = at;
  }

  /** The turn ended (done, error, stop, lost connection): its footer. */
  settle(turn) {
    const record = this.records.get(turn);
    const total = record ? performance.now() - record.t0 : null;
    this.addFooter(turn, { total, firstToken: record?.firstToken ?? null });
  }

  /** Turns redrawn from localStorage: their usage and raw events (times when they were saved). */
  adopt(turns) {
    for (const turn of turns) {
      if (!turn.el.querySelector(".pg-footer")) {
        for (const handoff of turn.events.filter((e) => e.type === "handoff")) markHandoff(turn.el, handoff.data ?? {}, true);
        this.addFooter(turn, restoredTimes(turn));
      }
    }
  }

  /** After a hand-off the picker shows who holds the conversation now (who the next message goes to). */
  follow(agentName) {
    if ([...this.picker.options].some((o) => o.value === agentName)) this.picker.value = agentName;
  }

  addFooter(turn, { total, firstToken }) {
    const footer = el("div", "pg-footer");
    const metrics = el("div", "pg-metrics");
    const done = turn.events.find((e) => e.type === "done");
    const usage = done && done.usage && typeof done.usage === "object" ? done.usage : null;
    const add = (name, label, value) => {
      const item = el("span", "pg-metric");
      item.dataset.metric = name;
      item.append(el("span", "pg-metric-label", label), el("span", "pg-metric-value", value));
      metrics.append(item);
    };
    if (usage) {
      add("input_tokens", "in", count(usage.input_tokens));
      add("output_tokens", "out", count(usage.output_tokens));
      const reasoning = usage.reasoning_tokens ?? usage.output_tokens_details?.reasoning_tokens;
      if (typeof reasoning === "number") add("reasoning_tokens", "reasoning", count(reasoning));
    } else if (done) {
      add("usage", "usage", "not reported");
    }
    if (firstToken !== null && firstToken !== undefined) add("first_token_ms", "first token", seconds(firstToken));
    if (total !== null && total !== undefined) add("total_ms", turn.status === "done" ? "total" : turn.status, seconds(total));

    const toggle = el("button", "pg-btn pg-raw-btn", `Raw events (${turn.events.length})`);
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    const list = el("ol", "pg-events");
    list.id = `pg-events-${++eventListIds}`;
    list.hidden = true;
    list.setAttribute("aria-label", "Raw events of this turn");
    toggle.setAttribute("aria-controls", list.id);
    toggle.addEventListener("click", () => {
      const open = list.hidden;
      if (open) renderEvents(list, turn);
      list.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
    });
    footer.append(metrics, toggle);
    turn.el.append(footer, list);
  }

  // ---- copy as curl ----

  curlCommand() {
    if (!this.lastRequest) return "";
    const url = new URL("api/chat", window.location.href);
    url.search = "";
    url.hash = "";
    const lines = [`curl -N ${shellQuote(url.toString())}`, `-H 'Content-Type: application/json'`];
    // The key stays out of the clipboard: the shell fills it in from the environment.
    if (this.authRequired) lines.push(`-H "Authorization: Bearer $KLISK_API_KEY"`);
    // --data-raw: a body starting with @ must not be read as a file name.
    lines.push(`--data-raw ${shellQuote(JSON.stringify(this.lastRequest))}`);
    return lines.join(" \\\n  ");
  }

  async copyCurl() {
    const command = this.curlCommand();
    if (!command) return;
    this.curlText.value = command;
    try {
      await navigator.clipboard.writeText(command);
      this.say("Copied");
    } catch {
      // No clipboard (not a secure context, or refused): show the command to copy by hand.
      this.curlPanel.hidden = false;
      this.curlText.focus();
      this.curlText.select();
      this.say("Select and copy the command below");
    }
  }

  say(text) {
    this.notice.textContent = text;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => (this.notice.textContent = ""), 3000);
  }
}

let eventListIds = 0;

function renderEvents(list, turn) {
  const times = Array.isArray(turn.times) ? turn.times : [];
  list.replaceChildren(
    ...turn.events.map((event, i) => {
      const item = el("li", "pg-event");
      item.dataset.type = String(event.type);
      const at = typeof times[i] === "number" ? `+${times[i]} ms` : "";
      item.append(el("span", "pg-event-time", at), el("code", "pg-event-json", JSON.stringify(event)));
      return item;
    }),
  );
}

function restoredTimes(turn) {
  const times = Array.isArray(turn.times) ? turn.times : [];
  const total = times.length > 0 && times.length === turn.events.length ? times[times.length - 1] : null;
  const i = turn.events.findIndex((e) => e.type === "token");
  return { total, firstToken: i >= 0 && typeof times[i] === "number" ? times[i] : null };
}

/** The transcript's hand-off line becomes a divider naming the agent that continues. */
function markHandoff(turnEl, data, oldestFirst = false) {
  const lines = [...turnEl.querySelectorAll(".handoff:not(.pg-handoff)")];
  for (const line of oldestFirst ? lines.slice(0, 1) : lines.slice(-1)) {
    const to = String(data.to ?? "?");
    const from = String(data.from ?? "?");
    line.classList.add("pg-handoff");
    line.replaceChildren(el("span", "pg-handoff-text", `→ ${to}`));
    line.title = `Handed off from ${from} to ${to}`;
    line.setAttribute("aria-label", `Handed off from ${from} to ${to}`);
  }
}

/** A tool that threw ends the run with "Tool 'NAME' raised: ..."; show it in that tool's card too. */
function showToolError(turn, message) {
  const match = /^Tool '(.+?)' raised: /.exec(message);
  if (!match) return;
  for (const tool of turn.tools.values()) {
    const name = tool.block.label.textContent;
    if (name !== match[1] || tool.result.childElementCount > 0) continue;
    tool.result.replaceChildren(el("div", "section-label", "Error"), el("pre", "output pg-error", message));
  }
}

function setDuration(summary, ms, className) {
  summary.querySelector(`.${className}`)?.remove();
  const span = el("span", `pg-duration ${className}`, seconds(ms));
  span.title = className === "pg-took" ? "From the call to its result" : "Time spent thinking";
  summary.append(span);
}

function seconds(ms) {
  return ms < SECONDS_FROM_MS ? `${Math.round(ms)} ms` : `${(ms / SECONDS_FROM_MS).toFixed(2)} s`;
}

function count(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "?";
}

/** One single-quoted shell word: ' becomes '\'' (close, escaped quote, reopen). */
function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
