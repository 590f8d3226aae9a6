/**
 * The server under soak: `klisk serve` from the built dist/ as a child process on loopback, on a temp project
 * with one agent and one tool. Its stderr (JSON log lines) is counted; with `--trace-gc` on its node, the
 * live heap after each full GC is read from stdout — the leak signal RSS alone cannot give.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ENTRY = `import { defineAgent, tool, z } from "klisk";
const add = tool({ name: "add", parameters: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => String(a + b) });
defineAgent({ name: "Assistant", model: "gpt-5.2", tools: [add] });
`;
const CONFIG = "name: soak\nlimits:\n  max_message_chars: 2000\n";
/** `Mark-Compact 148.9 (169.7) -> 33.7 (169.7) MB`: the heap in use after a full collection. */
const FULL_GC = /Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(/;

export interface SoakServer {
  child: ChildProcess;
  url: string;
  pid: number;
  exited: Promise<number | null>;
  /** Server log lines by pino level, "request"/"websocket" lines (requests served), and the first error lines. */
  logs: { lines: number; byLevel: Map<number, number>; served: number; errors: string[] };
  /** Live heap (MB) after each full GC, in order. */
  heapAfterGc: number[];
}

/** The package root (holding bin/klisk.js), wherever tsc put this file. */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "bin/klisk.js")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

export async function startSoakServer(fakeUrl: string): Promise<SoakServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "klisk-soak-"));
  fs.mkdirSync(path.join(dir, "src"));
  fs.writeFileSync(path.join(dir, "src/main.ts"), ENTRY);
  fs.writeFileSync(path.join(dir, "klisk.config.yaml"), CONFIG);
  const env: NodeJS.ProcessEnv = { ...process.env, OPENAI_BASE_URL: fakeUrl, OPENAI_API_KEY: "soak", KLISK_MAX_RETRIES: "0", KLISK_STATE_SECRET: "soak-secret", NO_COLOR: "1" };
  for (const name of ["KLISK_API_KEY", "KLISK_CHAT_KEY", "KLISK_WIDGET_KEY", "PORT", "HOST", "KLISK_LOG_LEVEL", "NODE_OPTIONS"]) delete env[name];
  // SOAK_NODE_ARGS replaces the server's node flags (default --trace-gc), e.g. to take heap snapshots.
  const nodeArgs = (process.env.SOAK_NODE_ARGS ?? "--trace-gc").split(" ").filter(Boolean);
  const serveArgs = ["serve", dir, "--port", "0", "--host", "127.0.0.1", "--log-level", "info", "--shutdown-timeout", "5"];
  const child = spawn(process.execPath, [...nodeArgs, path.join(packageRoot(), "bin/klisk.js"), ...serveArgs], { env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const logs: SoakServer["logs"] = { lines: 0, byLevel: new Map(), served: 0, errors: [] };
  const heapAfterGc: number[] = [];

  eachLine(child.stderr!, (line) => {
    logs.lines++;
    let entry: { level?: number; msg?: string } = {};
    try {
      entry = JSON.parse(line);
    } catch {
      return; // the shutdown notice is plain text
    }
    if (entry.level) logs.byLevel.set(entry.level, (logs.byLevel.get(entry.level) ?? 0) + 1);
    if (entry.msg === "request" || entry.msg === "websocket") logs.served++;
    if ((entry.level ?? 0) >= 50 && logs.errors.length < 5) logs.errors.push(line);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let banner = "";
    eachLine(child.stdout!, (line) => {
      const gc = FULL_GC.exec(line);
      if (gc) return void heapAfterGc.push(Number(gc[1]));
      banner += `${line}\n`;
      const match = /URL: (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
    void exited.then((code) => reject(new Error(`klisk serve exited (${code}) before listening:\n${banner}`)));
  });
  return { child, url, pid: child.pid!, exited, logs, heapAfterGc };
}

function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    lines.forEach(onLine);
  });
}
