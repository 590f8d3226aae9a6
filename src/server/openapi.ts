/**
 * GET /openapi.json (the OpenAPI 3.1 document of this router's routes) and GET /docs (a reference page:
 * Swagger UI from the swagger-ui-dist package, served from node_modules, no CDN). Both are public, like
 * /api/info: the document says which routes want a key, it holds none. `deploy.openapi.enabled: false`
 * removes both (404).
 *
 * Nothing is built before the first request: the document (openapiDocument.ts, which loads zod's JSON
 * Schema converter and the answer shapes) is built once per router, i.e. per project (a `klisk dev`
 * reload builds a new router), then served from memory; the viewer's files are read and gzipped once.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import express, { type Request, type Response, type Router } from "express";
import type { ServerContext } from "./context";
import type { DocumentOptions } from "./openapiDocument";
import { ROUTES } from "./paths";

/** The viewer's files under /docs/: swagger-ui-dist's bundle and stylesheet, and our few lines that start it. */
const VIEWER_FILES: Record<string, { type: string; read: () => Buffer }> = {
  "swagger-ui-bundle.js": { type: "text/javascript; charset=utf-8", read: () => fs.readFileSync(swaggerUiFile("swagger-ui-bundle.js")) },
  "swagger-ui.css": { type: "text/css; charset=utf-8", read: () => fs.readFileSync(swaggerUiFile("swagger-ui.css")) },
  "init.js": { type: "text/javascript; charset=utf-8", read: () => Buffer.from(INIT_JS) },
  "favicon.png": { type: "image/png", read: () => fs.readFileSync(swaggerUiFile("favicon-32x32.png")) },
};

/**
 * Starts Swagger UI on the document named by the page (a URL relative to the page, so it works under any
 * mount or proxy prefix). An external file, not an inline script, so the page's CSP can refuse inline
 * scripts. validatorUrl: null keeps the page from calling an online validator.
 */
const INIT_JS = `"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: new URL(root.getAttribute("data-spec"), window.location.href).href,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
`;

/**
 * The page loads only its own files and the document. Swagger UI sets styles from script (allowed by
 * 'self') and draws its icons as inline SVG; images may be data: URLs (its stylesheet uses them).
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join("; ");

/**
 * The document, built on the first call by openapiDocument.ts (loaded then, not at start-up: zod's
 * converter and the answer shapes are only needed here) and kept; a build that throws is tried again.
 */
function lazyDocument(context: ServerContext, options: DocumentOptions): () => Promise<object> {
  let document: Promise<object> | undefined;
  return () => {
    document ??= import("./openapiDocument").then(({ buildOpenApiDocument }) => buildOpenApiDocument(context, options));
    document.catch(() => (document = undefined));
    return document;
  };
}

/** klisk/fetch's GET /openapi.json: the document of the routes that handler serves, `prefix` as its server. */
export function fetchOpenApiDocument(context: ServerContext, prefix: string): () => Promise<object> {
  const document = lazyDocument(context, { ui: false, only: [ROUTES.health, ROUTES.info, ROUTES.chat, ROUTES.openapi] });
  return async () => ({ ...(await document()), servers: [{ url: prefix === "" ? "/" : prefix }] });
}

export function openApiRoutes(context: ServerContext, options: { ui: boolean }): Router {
  const router = express.Router();
  const document = lazyDocument(context, options);
  /** The JSON text per mount path (the document's `servers` entry is where the router is mounted). */
  const texts = new Map<string, string>();

  router.get(ROUTES.openapi, async (req, res, next) => {
    try {
      const mount = req.baseUrl === "" ? "/" : req.baseUrl;
      let text = texts.get(mount);
      if (text === undefined) {
        text = JSON.stringify({ ...(await document()), servers: [{ url: mount }] });
        if (texts.size < 16) texts.set(mount, text); // a router is mounted in a place or two, not in many
      }
      res.set({ "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache" });
      res.send(text);
    } catch (err) {
      next(err);
    }
  });

  const files = new FileCache();
  router.get(ROUTES.docs, (req, res) => {
    // Relative links, so the page works under a mount or a proxy's prefix; /docs/ sits one level deeper.
    const deeper = (req.originalUrl.split("?")[0] ?? "").endsWith("/");
    const page = files.get(deeper ? "page/" : "page", "text/html; charset=utf-8", () => Buffer.from(docsPage(context.project.name, deeper)));
    res.set({ "Content-Security-Policy": DOCS_CSP, "Referrer-Policy": "no-referrer" });
    send(req, res, page);
  });
  for (const [name, file] of Object.entries(VIEWER_FILES)) {
    router.get(`${ROUTES.docs}/${name}`, (req, res) => send(req, res, files.get(name, file.type, file.read)));
  }
  return router;
}

function docsPage(title: string, deeper: boolean): string {
  const files = deeper ? "" : "docs/";
  const spec = deeper ? "../openapi.json" : "openapi.json";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · API reference</title>
<link rel="icon" href="${files}favicon.png">
<link rel="stylesheet" href="${files}swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec="${spec}"></div>
<script src="${files}swagger-ui-bundle.js"></script>
<script src="${files}init.js"></script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** swagger-ui-dist's files, wherever npm installed the package. */
function swaggerUiFile(name: string): string {
  return path.join(path.dirname(require.resolve("swagger-ui-dist/package.json")), name);
}

interface CachedFile {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  type: string;
}

/** Files read (and gzipped) on first use, then served from memory. */
class FileCache {
  private readonly files = new Map<string, CachedFile>();

  get(name: string, type: string, read: () => Buffer): CachedFile {
    let file = this.files.get(name);
    if (!file) {
      const body = read();
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`;
      file = { body, gzip: zlib.gzipSync(body), etag, type };
      this.files.set(name, file);
    }
    return file;
  }
}

function send(req: Request, res: Response, file: CachedFile): void {
  res.set({ "Content-Type": file.type, "Cache-Control": "no-cache", ETag: file.etag, Vary: "Accept-Encoding", "X-Content-Type-Options": "nosniff" });
  if (req.headers["if-none-match"] === file.etag) {
    res.status(304).end();
    return;
  }
  const gzip = req.headers["accept-encoding"] !== undefined && req.acceptsEncodings("gzip", "identity") === "gzip";
  if (gzip) res.set("Content-Encoding", "gzip");
  res.send(gzip ? file.gzip : file.body);
}
