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

/** A DocumentFragment for `text`; falls back to plain text if the libraries failed to load. */
export function renderMarkdown(text) {
  if (typeof marked === "undefined" || typeof DOMPurify === "undefined") {
    const fallback = document.createDocumentFragment();
    const p = document.createElement("p");
    p.textContent = text;
    fallback.append(p);
    return fallback;
  }
  if (!ready) setUp();
  return DOMPurify.sanitize(marked.parse(text, { async: false }), PURIFY_OPTIONS);
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
