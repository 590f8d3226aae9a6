/** The UI routes over HTTP: the page, its files (gzip, caching, size budget), widget.js, the disabled cases, /api/info. */
import http from "node:http";
import { startChatServer, type ChatServer } from "../helpers/browser";
import { makeProject, useFakeOpenAI } from "../helpers/project";

useFakeOpenAI();

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A GET without fetch's automatic decompression, so gzip sizes and headers are what went over the wire. */
function get(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on("error", reject);
  });
}

const agent = { name: "Assistant", instructions: "Be brief." };
let server: ChatServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("chat page", () => {
  test("/ serves the page with a strict CSP, no-cache and an ETag; assets are pinned by hash", async () => {
    server = await startChatServer(makeProject([agent], "name: shop-bot\n"));
    const res = await get(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.headers["cache-control"]).toBe("no-cache");
    const csp = String(res.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors *"); // the widget frames it
    const html = res.body.toString("utf8");
    const pinned = [...html.matchAll(/(?:src|href)="(ui\/[^"]+)"/g)].map((m) => m[1]);
    expect(pinned).toEqual(expect.arrayContaining([expect.stringMatching(/^ui\/chat\.js\?v=[\w-]{16}$/)]));
    expect(pinned.every((u) => /\?v=[\w-]{16}$/.test(u))).toBe(true);

    const again = await get(`${server.url}/`, { "If-None-Match": String(res.headers.etag) });
    expect(again.status).toBe(304);

    const asset = await get(`${server.url}/${pinned.find((u) => u.startsWith("ui/chat.js"))}`);
    expect(asset.status).toBe(200);
    expect(asset.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(asset.headers["cache-control"]).toContain("immutable");
    const unpinned = await get(`${server.url}/ui/chat.js`);
    expect(unpinned.headers["cache-control"]).toBe("no-cache");
  });

  test("everything the page loads is gzipped and stays under 150 KB transferred", async () => {
    server = await startChatServer(makeProject([agent]));
    const page = await get(`${server.url}/`, { "Accept-Encoding": "gzip" });
    expect(page.headers["content-encoding"]).toBe("gzip");
    const html = (await get(`${server.url}/`)).body.toString("utf8");
    const urls = [...html.matchAll(/(?:src|href)="(ui\/[^"]+)"/g)].map((m) => m[1]);
    // ES modules import their siblings without the hash.
    urls.push("ui/socket.js", "ui/transcript.js", "ui/markdown.js", "ui/attachments.js", "ui/embed.js");
    let total = page.body.length;
    for (const url of urls) {
      const res = await get(`${server.url}/${url}`, { "Accept-Encoding": "gzip, deflate, br" });
      expect([url, res.status, res.headers["content-encoding"]]).toEqual([url, 200, "gzip"]);
      total += res.body.length;
    }
    expect(total).toBeLessThan(150 * 1024);
  });

  test("marked and DOMPurify are served from the installed packages", async () => {
    server = await startChatServer(makeProject([agent]));
    const marked = await get(`${server.url}/ui/vendor/marked.js`);
    const purify = await get(`${server.url}/ui/vendor/purify.js`);
    expect(marked.status).toBe(200);
    expect(marked.body.toString("utf8")).toContain("marked v");
    expect(purify.status).toBe(200);
    expect(purify.body.toString("utf8")).toContain("DOMPurify");
    expect((await get(`${server.url}/ui/../package.json`)).status).toBe(404);
    expect((await get(`${server.url}/ui/vendor/other.js`)).status).toBe(404);
  });

  test("deploy.chat.enabled: false answers / with JSON pointing at the API; its files and the widget are 404", async () => {
    server = await startChatServer(makeProject([agent], "deploy:\n  chat:\n    enabled: false\n"));
    const res = await get(`${server.url}/`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString("utf8"))).toEqual({ error: expect.stringContaining("chat page is disabled"), api: "/api/chat" });
    expect((await get(`${server.url}/ui/chat.js`)).status).toBe(404);
    expect((await get(`${server.url}/widget.js`)).status).toBe(404);
    expect((await get(`${server.url}/health`)).status).toBe(200);
  });
});

describe("widget.js", () => {
  test("carries deploy.widget from the config, safely escaped, and may be loaded cross-origin", async () => {
    const yaml = [
      "deploy:",
      "  widget:",
      '    color: "#e11d48"',
      "    position: bottom-left",
      '    welcome_message: "</script><script>alert(1)</script>"',
    ].join("\n");
    server = await startChatServer(makeProject([agent], yaml));
    const res = await get(`${server.url}/widget.js`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(res.headers["cross-origin-resource-policy"]).toBe("cross-origin");
    const script = res.body.toString("utf8");
    expect(script).not.toContain("@KLISK_WIDGET_CONFIG@");
    expect(script).toContain('"color":"#e11d48"');
    expect(script).toContain('"position":"bottom-left"');
    // The config is a JS expression the browser can run, with no "</script>" that could end a script block.
    const config = String(/var CONFIG = (\{.*?\}) \|\| \{\};/.exec(script)?.[1]);
    expect(config).not.toContain("</script>");
    expect(config).toContain("\\u003c/script>");
    expect(JSON.parse(config).welcome_message).toBe("</script><script>alert(1)</script>");
  });

  test("deploy.widget.enabled: false → /widget.js is a JSON 404, the page still works and may not be framed", async () => {
    server = await startChatServer(makeProject([agent], "deploy:\n  widget:\n    enabled: false\n"));
    const res = await get(`${server.url}/widget.js`);
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(JSON.parse(res.body.toString("utf8")).error).toMatch(/widget is disabled/i);
    const page = await get(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'self'");
  });
});

describe("/api/info", () => {
  test("has the page's settings under ui and the Python original's deploy block", async () => {
    const yaml = [
      "name: shop-bot",
      "deploy:",
      "  chat:",
      "    welcome_message: Hi there!",
      "    attachments: false",
      '    starters: ["Track my order", "Return an item"]',
      "  widget:",
      "    placeholder: Ask about orders...",
      '    header_color: "#111827"',
    ].join("\n");
    server = await startChatServer(makeProject([agent], yaml));
    const info = (await (await fetch(`${server.url}/api/info`)).json()) as any;
    expect(info).toMatchObject({ name: "shop-bot", agent: "Assistant", auth_required: false });
    expect(info.ui).toEqual({
      title: "shop-bot",
      welcome_message: "Hi there!",
      starters: ["Track my order", "Return an item"],
      placeholder: "Ask about orders...",
      colors: { accent: "#2563eb", user_message: "#2563eb", header: "#111827" },
      attachments: {
        enabled: false,
        max_bytes: 20 * 1024 * 1024,
        max_count: 10,
        mime_types: ["image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"],
      },
      widget: expect.objectContaining({ enabled: true, position: "bottom-right", auto_open: false, bubble_icon: "chat" }),
      playground: false,
    });
    expect(info.deploy.chat).toEqual({ enabled: true, title: "", welcome_message: "Hi there!", attachments: false, playground: false,
      starters: ["Track my order", "Return an item"],
    });
    expect(info.deploy.widget.placeholder).toBe("Ask about orders...");
  });
});
