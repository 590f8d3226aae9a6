/**
 * Klisk chat widget. On any site:
 *
 *   <script src="https://YOUR-AGENT/widget.js" data-key="..." data-position="bottom-right"
 *           data-color="#2563eb" async></script>
 *
 * adds a chat bubble that opens the agent's chat page in an iframe (`/?embed=1`). The key is never put
 * in the iframe URL: the page asks for it ("klisk:ready") and gets it by postMessage, addressed to the
 * agent server's origin only. The options come from klisk.config.yaml (deploy.widget); a data-*
 * attribute wins over the config: data-position (bottom-right, bottom-left, top-right, top-left),
 * data-color, data-width, data-height, data-icon (chat, help, sparkles, or one emoji), data-auto-open,
 * data-placeholder, data-welcome-message, data-user-message-color, data-header-color.
 * Everything is built with DOM calls and inline style properties, so a strict host CSP (no inline
 * <style>, Trusted Types) does not break it. `window.KliskWidget` has open(), close() and toggle().
 * Keyboard: opening (bubble or open()) moves focus into the chat's input, Escape in the panel or on the
 * bubble closes it and focus returns to the bubble. The panel's fade is off under prefers-reduced-motion.
 */
(function () {
  "use strict";

  // Replaced by the server with deploy.widget from klisk.config.yaml.
  var CONFIG = /*@KLISK_WIDGET_CONFIG@*/ null || {};

  var script = document.currentScript;
  if (!script || window.KliskWidget) return; // loaded twice: keep the first

  var scriptUrl = new URL(script.src, window.location.href);
  var serverOrigin = scriptUrl.origin;
  var pageUrl = new URL("./?embed=1", scriptUrl).toString();

  function attr(name) {
    var value = script.getAttribute("data-" + name);
    return value === null || value === "" ? undefined : value;
  }
  function flag(value, fallback) {
    return value === undefined ? Boolean(fallback) : value !== "false" && value !== "0";
  }

  var options = {
    key: attr("key") || "",
    position: attr("position") || CONFIG.position || "bottom-right",
    color: attr("color") || CONFIG.color || "#2563eb",
    width: attr("width") || CONFIG.width || "380px",
    height: attr("height") || CONFIG.height || "560px",
    icon: attr("icon") || attr("bubble-icon") || CONFIG.bubble_icon || "chat",
    autoOpen: flag(attr("auto-open"), CONFIG.auto_open),
    page: {
      color: attr("color") || CONFIG.color || "",
      placeholder: attr("placeholder") || CONFIG.placeholder || "",
      welcome_message: attr("welcome-message") || CONFIG.welcome_message || "",
      user_message_color: attr("user-message-color") || CONFIG.user_message_color || "",
      header_color: attr("header-color") || CONFIG.header_color || "",
    },
  };

  var ICONS = {
    chat: ["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"],
    help: ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M9.1 9a3 3 0 0 1 5.8 1c0 2-3 3-3 3", "M12 17h.01"],
    sparkles: ["M12 3l1.9 5.1L19 10l-5.1 1.9L12 17l-1.9-5.1L5 10l5.1-1.9z", "M19 17l.7 1.8 1.8.7-1.8.7-.7 1.8-.7-1.8-1.8-.7 1.8-.7z"],
    close: ["M18 6L6 18", "M6 6l12 12"],
  };
  ICONS.message = ICONS.chat;

  var bottom = options.position.indexOf("top") !== 0;
  var left = /left$/.test(options.position);
  var open = false;
  var frameReady = false; // the page in the iframe said "klisk:ready"
  var root, button, panel, iframe;
  var reducedMotion = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
  var PANEL_ID = "klisk-widget-panel";

  function animate() {
    return !(reducedMotion && reducedMotion.matches);
  }

  function css(el, styles) {
    for (var name in styles) el.style.setProperty(name, styles[name]);
    return el;
  }

  function icon(name) {
    var paths = ICONS[name];
    if (!paths) {
      // Not a known name: a short text (an emoji) is shown as is; anything longer falls back to chat.
      if (name && Array.from(name).length <= 2) {
        var text = document.createElement("span");
        text.textContent = name;
        return css(text, { "font-size": "24px", "line-height": "1" });
      }
      paths = ICONS.chat;
    }
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "24");
    svg.setAttribute("height", "24");
    svg.setAttribute("fill", "none");
    svg.setAttribute("stroke", "currentColor");
    svg.setAttribute("stroke-width", "2");
    svg.setAttribute("stroke-linecap", "round");
    svg.setAttribute("stroke-linejoin", "round");
    svg.setAttribute("aria-hidden", "true");
    paths.forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  function build() {
    root = css(document.createElement("div"), {
      position: "fixed",
      "z-index": "2147483647",
      display: "flex",
      "flex-direction": bottom ? "column" : "column-reverse",
      "align-items": left ? "flex-start" : "flex-end",
      gap: "12px",
    });
    root.id = "klisk-widget";
    root.style.setProperty(bottom ? "bottom" : "top", "20px");
    root.style.setProperty(left ? "left" : "right", "20px");

    panel = css(document.createElement("div"), {
      display: "none",
      width: "min(" + options.width + ", calc(100vw - 40px))",
      height: "min(" + options.height + ", calc(100vh - 110px))",
      "border-radius": "14px",
      overflow: "hidden",
      background: "#fff",
      "box-shadow": "0 8px 30px rgba(0,0,0,.14), 0 2px 8px rgba(0,0,0,.08)",
    });
    panel.id = PANEL_ID;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Chat");

    button = css(document.createElement("button"), {
      width: "56px",
      height: "56px",
      padding: "0",
      border: "none",
      "border-radius": "50%",
      cursor: "pointer",
      display: "flex",
      "align-items": "center",
      "justify-content": "center",
      background: options.color,
      color: "#fff",
      "box-shadow": "0 4px 12px rgba(0,0,0,.18)",
    });
    button.type = "button";
    button.className = "klisk-widget-button";
    button.setAttribute("aria-label", "Open chat");
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", PANEL_ID);
    button.appendChild(icon(options.icon));
    button.addEventListener("click", function () {
      if (open) hide();
      else show(true);
    });
    // Escape on the bubble (or anywhere in the panel on this page's side; inside the iframe the chat page
    // catches it and asks with "klisk:close").
    document.addEventListener("keydown", function (event) {
      if (open && event.key === "Escape" && root.contains(document.activeElement)) hide();
    });

    root.appendChild(panel);
    root.appendChild(button);
    document.body.appendChild(root);
    if (options.autoOpen) show();
  }

  /** The iframe is created on first open, so a page that never opens the chat costs one small script. */
  function createFrame() {
    iframe = css(document.createElement("iframe"), { width: "100%", height: "100%", border: "0", display: "block" });
    iframe.title = "Chat";
    iframe.src = pageUrl;
    iframe.setAttribute("allow", "clipboard-write");
    panel.appendChild(iframe);
  }

  window.addEventListener("message", function (event) {
    // Only the chat page in our iframe, served from the agent's origin, gets the key.
    if (!iframe || event.source !== iframe.contentWindow || event.origin !== serverOrigin) return;
    var data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.type === "klisk:ready") {
      iframe.contentWindow.postMessage({ type: "klisk:init", key: options.key, options: options.page }, serverOrigin);
      var first = !frameReady;
      frameReady = true;
      if (first && open && focusWanted) focusFrame();
    } else if (data.type === "klisk:close") {
      hide();
    }
  });

  var focusWanted = false; // opened by the user before the page in the iframe was ready

  /** Focus into the iframe, then the page puts it on its input (or on its key prompt). */
  function focusFrame() {
    focusWanted = false;
    iframe.focus();
    iframe.contentWindow.postMessage({ type: "klisk:focus" }, serverOrigin);
  }

  /** `moveFocus`: opened by the user (bubble, open()), not by auto_open, which must not take the host page's focus. */
  function show(moveFocus) {
    if (!iframe) createFrame();
    var wasOpen = open;
    open = true;
    panel.style.setProperty("display", "block");
    if (!wasOpen && animate()) {
      // A short fade and rise; none under prefers-reduced-motion.
      css(panel, { opacity: "0", transform: "translateY(8px)", transition: "opacity .16s ease, transform .16s ease" });
      void panel.offsetWidth; // start the transition from the values above
      css(panel, { opacity: "1", transform: "none" });
    } else {
      css(panel, { opacity: "1", transform: "none", transition: "none" });
    }
    button.replaceChildren(icon("close"));
    button.setAttribute("aria-label", "Close chat");
    button.setAttribute("aria-expanded", "true");
    if (moveFocus) {
      if (frameReady) focusFrame();
      else focusWanted = true;
    }
  }

  function hide() {
    var hadFocus = root.contains(document.activeElement);
    open = false;
    focusWanted = false;
    panel.style.setProperty("display", "none");
    button.replaceChildren(icon(options.icon));
    button.setAttribute("aria-label", "Open chat");
    button.setAttribute("aria-expanded", "false");
    if (hadFocus) button.focus(); // focus was in the panel: back to the bubble that opened it
  }

  function toggle() {
    if (open) hide();
    else show(true);
  }

  window.KliskWidget = {
    open: function () {
      show(true);
    },
    close: hide,
    toggle: toggle,
  };

  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
