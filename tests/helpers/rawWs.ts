/**
 * WebSocket clients that misbehave, for attack and backpressure tests: the /ws/chat endpoint alone on a
 * loopback http server (so a test sees the run registry and the server's side of each socket), and a raw
 * TCP client that does the handshake by hand so it can stop reading while it keeps writing.
 */
import http from "node:http";
import net from "node:net";
import type { Project } from "../../src/project/project";
import { loadApiKeys } from "../../src/server/auth";
import { createServerContext } from "../../src/server/context";
import type { RunRegistry } from "../../src/server/runs";
import { chatSocketServer } from "../../src/server/ws";

export interface SocketServer {
  /** http:// base URL (openWs takes it). */
  url: string;
  port: number;
  runs: RunRegistry;
  /** The server side of each upgraded connection, in order. */
  upgraded: net.Socket[];
  close(): Promise<void>;
}

export async function startSocketServer(project: Project, options: { pingIntervalMs?: number } = {}): Promise<SocketServer> {
  const context = createServerContext(project, { keys: loadApiKeys({}), signer: null });
  const { runs } = context;
  const sockets = chatSocketServer(context, { rejectOtherPaths: true, pingIntervalMs: options.pingIntervalMs ?? 60_000 });
  const upgraded: net.Socket[] = [];
  const httpServer = http.createServer();
  httpServer.on("upgrade", (req, socket, head) => {
    upgraded.push(socket as net.Socket);
    sockets.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const port = (httpServer.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    runs,
    upgraded,
    async close() {
      for (const socket of upgraded) socket.destroy();
      await sockets.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

/** A client frame (text by default), masked with a zero key so the payload goes as is. */
export function clientFrame(payload: string, opcode = 0x1): Buffer {
  const data = Buffer.from(payload);
  const len = data.length;
  let header: Buffer;
  if (len < 126) header = Buffer.from([0x80 | opcode, 0x80 | len]);
  else if (len < 65536) header = Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, Buffer.alloc(4), data]);
}

/** Opens /ws/chat by hand, checks the 101, then reads nothing more (socket.pause()). */
export async function rawWsClient(port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {}); // writes fail once the server cuts us; expected
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write("GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  const head = await new Promise<string>((resolve) => socket.once("data", (d) => resolve(String(d))));
  if (!/^HTTP\/1\.1 101/.test(head)) throw new Error(`WebSocket handshake refused: ${head.split("\r\n")[0]}`);
  socket.pause();
  return socket;
}
