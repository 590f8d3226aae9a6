/**
 * Markdown → safe DOM. marked parses; raw HTML in a reply is shown as text, never parsed; DOMPurify then
 * sanitises what marked produced (so a marked bug cannot inject markup either) and only http(s) and
 * mailto links survive. Remote images become plain links: an image URL written by the model would
 * otherwise be fetched silently, which can leak the conversation to whoever controls that URL.
 */
/* global marked, DOMPurify */

// DOMPurify's default pattern with the scheme list cut down to http(s) and mailto (relative URLs pass).
const SAFE_URL = /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i;

const PURIFY_OPTIONS = {
  ALLOWED_URI_REGEXP: SAFE_URL,
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "img", "svg", "math"],
  FORBID_ATTR: ["style", "class", "id"],
  RETURN_DOM_FRAGMENT: true,
};

let ready = false;

function setUp() {
  marked.use({
    gfm: true,
    breaks: true,
    renderer: {
      html(token) {
        const text = escapeHtml(token.text);
        return token.block ? `<p>${text}</p>` : text;
      },
      image(token) {
        const label = escapeHtml(token.text || token.href);
        return `<a href="${escapeHtml(token.href)}">${label}</a>`;
      },
    },
  });
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      if (node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    }
  });
  ready = true;
}

/**
 * A DocumentFragment for `text`; falls back to plain text if the libraries failed to load. Each code
 * block comes wrapped with its copy button (see decorateCodeBlocks).
 */
export function renderMarkdown(text) {
  // Tests install this before the page loads, to see how much is parsed per frame (tests/ui/accessibility.test.ts).
  const probe = globalThis.__kliskMarkdownProbe;
  if (typeof probe === "function") probe(text.length);
  if (typeof marked === "undefined" || typeof DOMPurify === "undefined") {
    const fallback = document.createDocumentFragment();
    const p = document.createElement("p");
    p.textContent = text;
    fallback.append(p);
    return fallback;
  }
  if (!ready) setUp();
  return decorateCodeBlocks(DOMPurify.sanitize(marked.parse(text, { async: false }), PURIFY_OPTIONS));
}

/**
 * `<pre>` → `<div class="code-block"><div class="code-bar"><button class="copy-btn">Copy</button></div><pre>…</pre></div>`
 * (a bar above the code, so the button never covers a long line). Added
 * after sanitising (the sanitiser refuses buttons and classes in what the model wrote); the button does
 * nothing by itself: the page delegates its clicks to copyCode.
 */
function decorateCodeBlocks(fragment) {
  for (const pre of fragment.querySelectorAll("pre")) {
    const wrap = document.createElement("div");
    wrap.className = "code-block";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-btn";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code");
    const bar = document.createElement("div");
    bar.className = "code-bar";
    bar.append(button);
    pre.replaceWith(wrap);
    wrap.append(bar, pre);
  }
  return fragment;
}

/**
 * Copies the code next to a copy button. The clipboard may be refused (an iframe without
 * `allow="clipboard-write"`, a browser setting, no focus): then the code is selected for Ctrl+C.
 */
export async function copyCode(button) {
  const pre = button.closest(".code-block")?.querySelector("pre");
  if (!pre) return;
  const text = pre.textContent.replace(/\n$/, "");
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    selectContents(pre);
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    if (copied) window.getSelection()?.removeAllRanges();
  }
  const mac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
  flash(button, copied ? "Copied" : `Selected: press ${mac ? "⌘" : "Ctrl+"}C`, copied ? "Code copied" : "Code selected, copy it with the keyboard");
}

function selectContents(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
}

function flash(button, text, label) {
  clearTimeout(button.flashTimer);
  button.textContent = text;
  button.setAttribute("aria-label", label);
  button.dataset.state = "done";
  button.flashTimer = setTimeout(() => {
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code");
    delete button.dataset.state;
  }, 2000);
}

/**
 * A streamed reply rendered into `target` at a cost per call that does not grow with the reply: blocks
 * that can no longer change (everything before a blank line outside a code fence that is followed by a
 * new top-level block) are parsed once and kept; only the open block after them is parsed again.
 * Re-parsing the whole reply on every frame grew quadratically with its length. finish() makes the result
 * exactly a full render (a link reference defined late, or an HTML comment spanning blank lines, can
 * change earlier blocks), at the cost of one parse of the whole text.
 */
export class MarkdownStream {
  constructor(target) {
    this.target = target;
    this.source = "";
    this.frozenChars = 0; // source[0, frozenChars) is rendered into the first frozenNodes children
    this.frozenNodes = 0;
    this.scanned = 0; // source[0, scanned) has been split into lines by scan()
    this.fence = null; // the open code fence ({ char, length }) at `scanned`
    this.afterBlank = false; // the last scanned line was blank
    this.cut = 0; // the latest safe place to freeze up to
  }

  append(delta) {
    this.source += delta;
  }

  /** Freezes the blocks completed since the last call, then re-renders the open one. */
  render() {
    this.scan();
    this.dropTail();
    if (this.cut > this.frozenChars) {
      const done = renderMarkdown(this.source.slice(this.frozenChars, this.cut));
      this.frozenNodes += done.childNodes.length;
      this.target.append(done);
      this.frozenChars = this.cut;
    }
    if (this.frozenChars < this.source.length) this.target.append(renderMarkdown(this.source.slice(this.frozenChars)));
  }

  /** The reply is complete: the target ends up exactly as renderMarkdown(source), untouched when it already is. */
  finish() {
    const full = document.createElement("div");
    full.append(renderMarkdown(this.source));
    if (full.innerHTML !== this.target.innerHTML) this.target.replaceChildren(...full.childNodes);
    this.frozenChars = this.source.length;
    this.frozenNodes = this.target.childNodes.length;
  }

  dropTail() {
    while (this.target.childNodes.length > this.frozenNodes) this.target.lastChild.remove();
  }

  /** Walks the complete lines that arrived since the last call, tracking code fences and blank lines. */
  scan() {
    for (;;) {
      const end = this.source.indexOf("\n", this.scanned);
      if (end === -1) return;
      const start = this.scanned;
      const line = this.source.slice(start, end);
      this.scanned = end + 1;
      if (this.fence) {
        const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
        if (close && close[1][0] === this.fence.char && close[1].length >= this.fence.length) this.fence = null;
        this.afterBlank = false;
        continue;
      }
      const blank = /^[ \t\r]*$/.test(line); // \r: a provider that streams CRLF line ends
      if (!blank && this.afterBlank && startsTopLevelBlock(line)) this.cut = start;
      if (!blank) {
        const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
        if (open) this.fence = { char: open[1][0], length: open[1].length };
      }
      this.afterBlank = blank;
    }
  }
}

/**
 * Whether a line after a blank line starts a block that cannot belong to the one before it. Indented
 * lines (list continuations, indented code), list items (the list may go on), quotes and tables are
 * kept with what came before: freezing later costs a little, freezing wrongly would change the output.
 */
function startsTopLevelBlock(line) {
  return !/^(?:[ \t]|[-*+>|]|\d{1,9}[.)])/.test(line);
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
