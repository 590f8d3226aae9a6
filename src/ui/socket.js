/**
 * The chat WebSocket: connects to ws/chat next to the page, reconnects with exponential back-off after a
 * drop, and stops for good when the server rejects the key (an `auth_error` frame, then close 4001).
 * The key travels as `?key=` on the WebSocket URL only (browsers cannot set headers on a WebSocket);
 * it never appears in the page's own URL.
 */

const AUTH_FAILED = 4001;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

export class ChatSocket {
  /**
   * @param {object} handlers
   *   onEvent(event)          every JSON frame except auth_error
   *   onOpen()                connected (again)
   *   onDrop()                an open connection was lost (not by us, not by a key rejection)
   *   onAuthRejected()        the key was refused; no reconnect until restart()
   *   onStatus(state, detail) "connecting" | "open" | "reconnecting" (detail: ms) | "offline" | "auth"
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.key = null;
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.stopped = true;
    window.addEventListener("online", () => {
      if (!this.stopped && !this.isOpen) this.connectNow();
    });
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** (Re)starts with this key (null when the server needs none); drops any current connection. */
  start(key) {
    this.key = key || null;
    this.stopped = false;
    this.attempt = 0;
    this.connectNow();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.detach();
  }

  /** Sends a JSON frame; false when not connected. */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  url() {
    const url = new URL("ws/chat", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.hash = "";
    if (this.key) url.searchParams.set("key", this.key);
    return url.toString();
  }

  connectNow() {
    clearTimeout(this.timer);
    this.detach();
    this.handlers.onStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    let rejected = false;
    let opened = false;

    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.handlers.onStatus("open");
      this.handlers.onOpen();
    };
    ws.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // not ours to show
      }
      if (event && event.type === "auth_error") {
        rejected = true;
        this.rejectKey(ws);
        return;
      }
      if (event && typeof event === "object") this.handlers.onEvent(event);
    };
    ws.onclose = (close) => {
      if (ws !== this.ws) return; // replaced or detached on purpose
      this.ws = null;
      if (rejected || close.code === AUTH_FAILED) {
        this.rejectKey(ws);
        return;
      }
      if (opened) this.handlers.onDrop();
      if (!this.stopped) this.retry();
    };
  }

  rejectKey(ws) {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (ws === this.ws) this.detach();
    this.handlers.onStatus("auth");
    this.handlers.onAuthRejected();
  }

  /** Waits 0.5 s, 1 s, 2 s ... up to 15 s (with jitter, so many tabs do not reconnect in lockstep). */
  retry() {
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.handlers.onStatus(navigator.onLine === false ? "offline" : "reconnecting", delay);
    this.timer = setTimeout(() => this.connectNow(), delay);
  }

  detach() {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
  }
}
