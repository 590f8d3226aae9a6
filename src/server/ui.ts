/**
 * The browser side of `klisk serve`: the chat page at `/`, its static files under `/ui/`, and `/widget.js`
 * for other sites. Files are read once, gzipped once and kept in memory (the whole UI is ~100 KB), so
 * serving needs neither a build step nor a compression middleware. marked and DOMPurify are served
 * straight from their installed packages (found with require.resolve, wherever npm put them).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import express, { type Request, type Response, type Router } from "express";
import type { ChatUiConfig, WidgetConfig } from "../project/config";
import type { Project } from "../project/project";
import { SUPPORTED_MIME_TYPES } from "./attachments";
import { resolveServerLimits } from "./limits";

const JS = "text/javascript; charset=utf-8";
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": JS,
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** URL path under /ui/ → file on disk. Only these are served: no directory listing, no path tricks. */
const ASSETS: Record<string, () => string> = {
  "chat.js": () => uiFile("chat.js"),
  "socket.js": () => uiFile("socket.js"),
  "transcript.js": () => uiFile("transcript.js"),
  "markdown.js": () => uiFile("markdown.js"),
  "attachments.js": () => uiFile("attachments.js"),
  "embed.js": () => uiFile("embed.js"),
  "chat.css": () => uiFile("chat.css"),
  // Loaded by chat.js only in playground mode (klisk dev, or /?dev with deploy.chat.playground): the plain
  // page never downloads them.
  "playground.js": () => uiFile("playground.js"),
  "playground.css": () => uiFile("playground.css"),
  "icon.svg": () => uiFile("icon.svg"),
  "vendor/marked.js": () => path.join(path.dirname(require.resolve("marked/package.json")), "lib", "marked.umd.js"),
  "vendor/purify.js": () => require.resolve("dompurify/purify.min.js"),
};

/** Pinned by `?v=<hash>` (index.html links carry it): cache for a year. Anything else: revalidate. */
const IMMUTABLE = "public, max-age=31536000, immutable";
const REVALIDATE = "no-cache";

/**
 * The page may only talk to its own server. Inline scripts and styles are refused, so even a sanitiser
 * bypass could not run script; remote images are refused too (a reply cannot leak the chat through an
 * image URL).
 */
function pageCsp(framable: boolean): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self' ws: wss:",
    "base-uri 'none'",
    "form-action 'none'",
    // The widget frames the page on other sites; with the widget off, nobody may frame it.
    `frame-ancestors ${framable ? "*" : "'self'"}`,
  ].join("; ");
}

interface Asset {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  hash: string;
  type: string;
}

/** Routes for `/`, `/ui/*` and `/widget.js`. Mount before the JSON 404 handler. */
export function uiRoutes(project: Project): Router {
  const { chat, widget } = deployConfig(project);
  const router = express.Router();
  const assets = new AssetCache();

  router.get("/", (req, res) => {
    if (!chat.enabled) {
      res.status(404).json({ error: "The chat page is disabled (deploy.chat.enabled is false)", api: "/api/chat" });
      return;
    }
    const page = assets.get("index.html", () => uiFile("index.html"), (text) => pinAssetUrls(text, assets));
    res.set("Content-Security-Policy", pageCsp(widget.enabled));
    res.set("Referrer-Policy", "no-referrer");
    send(req, res, page, REVALIDATE);
  });

  for (const name of Object.keys(ASSETS)) {
    router.get(`/ui/${name}`, (req, res, next) => {
      if (!chat.enabled) return next(); // the JSON 404
      const asset = assets.get(name, ASSETS[name]);
      send(req, res, asset, req.query.v === asset.hash ? IMMUTABLE : REVALIDATE);
    });
  }

  router.get("/widget.js", (req, res) => {
    if (!widget.enabled || !chat.enabled) {
      const why = !widget.enabled ? "deploy.widget.enabled is false" : "it needs the chat page, and deploy.chat.enabled is false";
      res.status(404).json({ error: `The widget is disabled (${why})` });
      return;
    }
    const script = assets.get("widget.js", () => uiFile("widget.js"), (text) => injectWidgetConfig(text, widgetOptions(widget)));
    // Host pages with Cross-Origin-Embedder-Policy may only load cross-origin scripts that opt in.
    res.set("Cross-Origin-Resource-Policy", "cross-origin");
    send(req, res, script, REVALIDATE);
  });

  return router;
}

/** Fields merged into `GET /api/info`: `deploy` as the Python original returned it, `ui` resolved for the page. */
export function uiInfo(project: Project) {
  const { chat, widget } = deployConfig(project);
  const limits = resolveServerLimits(project).attachments;
  return {
    deploy: { chat: { ...chat }, widget: { ...widget } },
    ui: {
      title: chat.title || project.name,
      welcome_message: chat.welcome_message, // markdown, shown in an assistant bubble (never sent to the agent)
      starters: [...chat.starters], // prompt buttons under it while the conversation is empty
      placeholder: widget.placeholder,
      colors: { accent: widget.color, user_message: widget.user_message_color, header: widget.header_color },
      attachments: {
        enabled: chat.attachments,
        max_bytes: limits.maxBytes,
        max_count: limits.maxCount,
        mime_types: [...SUPPORTED_MIME_TYPES],
      },
      widget: { enabled: widget.enabled && chat.enabled, ...widgetOptions(widget) },
      // `/?dev` opens the playground (always on under `klisk dev`, whose /api/info carries `dev`).
      playground: chat.playground,
    },
  };
}

/** What widget.js needs from the config; `data-*` attributes on the script tag override each one. */
function widgetOptions(widget: WidgetConfig) {
  return {
    color: widget.color,
    position: widget.position,
    width: widget.width,
    height: widget.height,
    auto_open: widget.auto_open,
    bubble_icon: widget.bubble_icon,
    welcome_message: widget.welcome_message,
    placeholder: widget.placeholder,
    user_message_color: widget.user_message_color,
    header_color: widget.header_color,
  };
}

function deployConfig(project: Project): { chat: ChatUiConfig; widget: WidgetConfig } {
  return project.config.deploy;
}

/**
 * The UI files live in `src/ui/` (shipped with the package). This file runs from `src/server/` under
 * ts-jest and from `dist/server/` when built; both are two levels below the package root.
 */
const UI_DIR = path.join(__dirname, "..", "..", "src", "ui");

function uiFile(name: string): string {
  return path.join(UI_DIR, name);
}

class AssetCache {
  private readonly assets = new Map<string, Asset>();

  /** Reads (and transforms) a file on first use; later calls hit memory. */
  get(name: string, file: () => string, transform?: (text: string) => string): Asset {
    let asset = this.assets.get(name);
    if (!asset) {
      const raw = fs.readFileSync(file());
      const body = transform ? Buffer.from(transform(raw.toString("utf8")), "utf8") : raw;
      const hash = createHash("sha256").update(body).digest("base64url").slice(0, 16);
      const type = TYPES[path.extname(name)] ?? "application/octet-stream";
      asset = { body, gzip: zlib.gzipSync(body, { level: 9 }), etag: `"${hash}"`, hash, type };
      this.assets.set(name, asset);
    }
    return asset;
  }
}

/** `src="ui/chat.js"` → `src="ui/chat.js?v=<hash>"`, so a browser caches each version of a file for good. */
function pinAssetUrls(html: string, assets: AssetCache): string {
  return html.replace(/((?:src|href)=")ui\/([^"?]+)"/g, (match, attr: string, name: string) => {
    const file = ASSETS[name];
    return file ? `${attr}ui/${name}?v=${assets.get(name, file).hash}"` : match;
  });
}

const CONFIG_PLACEHOLDER = "/*@KLISK_WIDGET_CONFIG@*/ null";

function injectWidgetConfig(script: string, options: object): string {
  if (!script.includes(CONFIG_PLACEHOLDER)) throw new Error(`widget.js lacks the ${CONFIG_PLACEHOLDER} placeholder`);
  // JSON is a JS expression; escape what could end a <script> block or a JS string in old engines.
  const json = JSON.stringify(options).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return script.replace(CONFIG_PLACEHOLDER, () => json);
}

function send(req: Request, res: Response, asset: Asset, cacheControl: string): void {
  res.set({
    "Content-Type": asset.type,
    "Cache-Control": cacheControl,
    ETag: asset.etag,
    Vary: "Accept-Encoding",
    "X-Content-Type-Options": "nosniff",
  });
  if (req.headers["if-none-match"] === asset.etag) {
    res.status(304).end();
    return;
  }
  const gzip = req.headers["accept-encoding"] !== undefined && req.acceptsEncodings("gzip", "identity") === "gzip";
  if (gzip) res.set("Content-Encoding", "gzip");
  res.send(gzip ? asset.gzip : asset.body);
}
