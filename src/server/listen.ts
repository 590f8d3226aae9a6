/** startServer: one http.Server carrying the Express app and the /ws/chat upgrade handler, with clean shutdown. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { KliskError } from "../errors";
import type { Project } from "../project/project";
import { createApp, defaultLogger, type Logger } from "./app";
import { loadApiKeys, type ApiKeys } from "./auth";
import { resolveServerLimits } from "./limits";
import { RunRegistry } from "./runs";
import { chatSocketServer } from "./ws";

export interface ListenOptions {
  port: number;
  host?: string;
  keys?: ApiKeys;
  log?: Logger;
  /** How long close() lets in-flight responses finish after aborting their runs. */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  server: http.Server;
  /** Base URL for clients; `localhost` stands in for a wildcard host. */
  url: string;
  port: number;
  keys: ApiKeys;
  close(): Promise<void>;
}

export async function startServer(project: Project, options: ListenOptions): Promise<RunningServer> {
  const host = options.host ?? "0.0.0.0";
  const log = options.log ?? defaultLogger;
  const keys = options.keys ?? loadApiKeys();
  const limits = resolveServerLimits(project);
  const runs = new RunRegistry(limits.maxConcurrentRuns);

  const app = createApp(project, { keys, limits, runs, log });
  const server = http.createServer(app);
  const sockets = chatSocketServer(project, { keys, limits, runs, log });
  server.on("upgrade", sockets.handleUpgrade);

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, options.port, host)));
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Refuse new work, end running streams with an error event, then let the responses flush.
      runs.shutdown();
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets become idle as their aborted streams finish; close them as they do.
      const sweep = setInterval(() => server.closeIdleConnections(), 25);
      const grace = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? 5000);
      grace.unref();
      await sockets.close();
      await serverClosed;
      clearInterval(sweep);
      clearTimeout(grace);
    })());

  return { server, url: `http://${displayHost(host)}:${port}`, port, keys, close };
}

/** What a person should type into a browser for this bind address. */
export function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string): Error {
  if (err.code === "EADDRINUSE") {
    return new KliskError("EADDRINUSE", `Port ${port} is already in use. Stop the other process or pass --port <n>.`);
  }
  if (err.code === "EACCES") {
    return new KliskError("EACCES", `Permission denied to listen on port ${port}. Use a port above 1023 or pass --port <n>.`);
  }
  if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND") {
    return new KliskError(err.code, `Cannot listen on host '${host}': no such address on this machine. Pass --host 0.0.0.0 or 127.0.0.1.`);
  }
  return err;
}
