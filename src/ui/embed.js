/**
 * The page inside widget.js's iframe (`?embed=1`). The widget hands over the key and its options by
 * postMessage, never in the iframe URL: the page says "klisk:ready" to its parent (a message with
 * nothing secret in it), and accepts "klisk:init" only from that parent window. widget.js, for its part,
 * sends the key only to this server's origin.
 */

export function isEmbedded() {
  return new URLSearchParams(window.location.search).get("embed") === "1" && window.parent !== window;
}

/**
 * Calls `onInit({ key, options })` for every init the parent sends (the widget re-sends after a reload).
 * Resolves with the first one, or null when no parent answers within `timeoutMs`.
 */
export function listenToParent(onInit, timeoutMs) {
  return new Promise((resolve) => {
    let first = true;
    const timer = setTimeout(() => {
      first = false;
      resolve(null);
    }, timeoutMs);

    window.addEventListener("message", (event) => {
      if (event.source !== window.parent) return;
      const data = event.data;
      if (!data || typeof data !== "object" || data.type !== "klisk:init") return;
      const init = {
        key: typeof data.key === "string" && data.key !== "" ? data.key : null,
        options: data.options && typeof data.options === "object" ? data.options : {},
      };
      if (first) {
        first = false;
        clearTimeout(timer);
        resolve(init);
      } else {
        onInit(init);
      }
    });
    tellParent("klisk:ready");
  });
}

/** Calls `handler(data)` for each message of `type` from the parent window (messages with nothing secret in them). */
export function onParentMessage(type, handler) {
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const data = event.data;
    if (data && typeof data === "object" && data.type === type) handler(data);
  });
}

/** Messages to the widget carry no secrets, so any origin may read them. */
export function tellParent(type) {
  window.parent.postMessage({ type }, "*");
}
