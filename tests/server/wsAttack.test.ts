/**
 * WebSocket clients that attack (issue "Hardening II"): pongs nobody asked for, frames sent by a client that
 * reads nothing, a turn streamed to a client that stopped reading, bare ids that would get a state signed,
 * upgrades from origins outside cors_origins. Each is bounded and the server keeps serving.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import WebSocket from "ws";
import type { Project } from "../../src/project/project";
import { loadApiKeys } from "../../src/server/auth";
import { resolveServerLimits } from "../../src/server/limits";
import type { RunningServer } from "../../src/server/listen";
import { RunRegistry } from "../../src/server/runs";
import { chatSocketServer } from "../../src/server/ws";
import { expectWsErrorFrameThenChat, makeProject, openWs, postChat, serve, useFakeOpenAI } from "../helpers/project";
import { sleep, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();

/** The WebSocket endpoint alone on a plain http server, with a short ping interval; `upgraded` is the server side of the last connection. */
async function socketServer(project: Project, pingIntervalMs: number) {
  const sockets = chatSocketServer(project, { keys: loadApiKeys({}), limits: resolveServerLimits(project), runs: new RunRegistry(), log: () => {}, pingIntervalMs });
  const httpServer = http.createServer();
  let upgraded: Duplex | undefined;
  httpServer.on("upgrade", (req, socket, head) => {
    upgraded = socket;
    sockets.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const port = (httpServer.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws/chat`,
    upgraded: () => upgraded as net.Socket,
    async close() {
      await sockets.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

/** A client frame, masked with a zero key (so the payload goes as is). */
function clientFrame(opcode: number, payload: string): Buffer {
  const data = Buffer.from(payload);
  const length = data.length < 126 ? Buffer.from([0x80 | data.length]) : Buffer.from([0x80 | 126, data.length >> 8, data.length & 0xff]);
  return Buffer.concat([Buffer.from([0x80 | opcode]), length, Buffer.alloc(4), data]);
}

/** A hand-made WebSocket client on a raw socket, so it can stop reading while it keeps writing. */
async function rawWs(port: number): Promise<{ socket: net.Socket; gone: Promise<void> }> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  const gone = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write("GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  const head = await new Promise<string>((resolve) => socket.once("data", (d) => resolve(String(d))));
  expect(head).toMatch(/^HTTP\/1\.1 101/);
  socket.pause(); // from here on, nothing is read
  return { socket, gone };
}

test("a client that sends pongs of its own but answers no ping is dropped", async () => {
  const server = await socketServer(makeProject([{ name: "Assistant" }]), 50);
  try {
    const client = new WebSocket(server.url, { autoPong: false });
    await new Promise((resolve) => client.once("open", resolve));
    const pongs = setInterval(() => client.pong(Buffer.from("alive")), 10);
    const code = await new Promise<number>((resolve) => client.on("close", resolve));
    clearInterval(pongs);
    expect(code).toBe(1006); // terminated, no close frame
  } finally {
    await server.close();
  }
});

test("a client that sends bad frames and reads nothing is not answered without end: its frames wait until it reads", async () => {
  const server = await socketServer(makeProject([{ name: "Assistant" }]), 60_000);
  const { socket } = await rawWs(server.port);
  try {
    // 200,000 bad frames: answered in full, the error frames would be ~16 MB.
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => clientFrame(0x1, "x")));
    for (let i = 0; i < 200; i++) socket.write(batch);
    const serverSide = server.upgraded();
    await waitFor(() => serverSide.writableLength > 1024 * 1024, 10_000, "server-side backpressure");
    const read = serverSide.bytesRead;
    await sleep(300);
    expect(serverSide.bytesRead - read).toBeLessThan(64 * 1024); // it stopped reading
    expect(serverSide.writableLength).toBeLessThan(2 * 1024 * 1024); // and buffers about the high-water mark
    // Once the client reads again, it is answered again.
    let received = 0;
    socket.on("data", (d: Buffer) => (received += d.length));
    socket.resume();
    await waitFor(() => received > 4 * 1024 * 1024, 10_000, "answers after reading resumed");
  } finally {
    socket.destroy();
    await server.close();
  }
});

describe("a turn streamed to a client that stopped reading", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve(makeProject([{ name: "Assistant" }], "limits:\n  max_concurrent_runs: 1\n  write_stall_s: 0.3\n"));
  });
  afterAll(() => server.close());

  test("is given up after limits.write_stall_s: the slot is freed and the socket closed", async () => {
    fake().enqueue({ text: Array.from({ length: 500 }, () => "x".repeat(16 * 1024)) });
    let serverSide: Duplex | undefined;
    server.server.prependOnceListener("upgrade", (_req: http.IncomingMessage, upgraded: Duplex) => (serverSide = upgraded));
    const { socket } = await rawWs(server.port);
    socket.write(clientFrame(0x1, '{"message":"flood"}'));
    await fake().waitForRequests(1);
    for (let i = 0; ; i++) {
      const res = await postChat(server.url, { message: "next", stream: false });
      if (res.status === 200) break;
      expect(res.status).toBe(503);
      if (i > 100) throw new Error("the run slot was never freed");
      await sleep(100);
    }
    await waitFor(() => serverSide?.destroyed === true, 5000, "the server closing the socket");
    socket.destroy();
  });
});

describe("with KLISK_STATE_SECRET, a bare previous_response_id is refused on WebSocket as on REST", () => {
  let server: RunningServer;
  beforeAll(async () => {
    process.env.KLISK_STATE_SECRET = "ws-secret";
    server = await serve(makeProject([{ name: "Assistant" }]));
    delete process.env.KLISK_STATE_SECRET;
  });
  afterAll(() => server.close());

  test("in a message frame", () =>
    expectWsErrorFrameThenChat(server.url, { message: "hi", previous_response_id: "resp_someone_else" }, /^Invalid state: with state signing on/));

  test("in a restore frame", () =>
    expectWsErrorFrameThenChat(server.url, { type: "restore", previous_response_id: "resp_someone_else" }, /^Invalid state: with state signing on/));

  test("so no upstream request ever carries it", async () => {
    const client = await openWs(server.url);
    client.send({ type: "restore", previous_response_id: "resp_someone_else" });
    client.send({ message: "hi", previous_response_id: "resp_someone_else" });
    client.send({ message: "hi" });
    const frames = await client.until("done");
    expect(frames.filter((f) => f.type === "error")).toHaveLength(2);
    expect(fake().requests.map((r) => r.body.previous_response_id)).toEqual([undefined]);
    client.close();
  });
});

describe("deploy.api.cors_origins applies to WebSocket upgrades", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve(makeProject([{ name: "Assistant" }], 'deploy:\n  api:\n    cors_origins: ["https://good.example"]\n'));
  });
  afterAll(() => server.close());

  test("an upgrade from another origin is refused with 403 before any run", async () => {
    await expect(openWs(server.url, { headers: { Origin: "https://evil.example" } })).rejects.toThrow(/403/);
    expect(fake().requests).toHaveLength(0);
  });

  test("a listed origin, the server's own host and no Origin connect", async () => {
    const origins: Array<Record<string, string>> = [{ Origin: "https://good.example" }, { Origin: `http://127.0.0.1:${server.port}` }, {}];
    for (const headers of origins) {
      const client = await openWs(server.url, { headers });
      client.send({ message: "hi" });
      expect((await client.until("done")).at(-1).data).toBe("Echo: hi");
      client.close();
    }
  });
});
