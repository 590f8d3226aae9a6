/**
 * WebSocket clients that attack (issue "Hardening II"): pongs nobody asked for, frames sent by a client that
 * reads nothing, a turn streamed to a client that stopped reading, bare ids that would get a state signed,
 * upgrades from origins outside cors_origins. Each is bounded and the server keeps serving.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import WebSocket from "ws";
import type { RunningServer } from "../../src/server/listen";
import { expectWsErrorFrameThenChat, makeProject, openWs, serve, useFakeOpenAI, waitForFreeRunSlot } from "../helpers/project";
import { clientFrame, rawWsClient, startSocketServer } from "../helpers/rawWs";
import { sleep, waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();

test("a client that sends pongs of its own but answers no ping is dropped", async () => {
  const server = await startSocketServer(makeProject([{ name: "Assistant" }]), { pingIntervalMs: 50 });
  try {
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/ws/chat`, { autoPong: false });
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
  const server = await startSocketServer(makeProject([{ name: "Assistant" }]));
  const socket = await rawWsClient(server.port);
  try {
    // 200,000 bad frames: answered in full, the error frames would be ~16 MB.
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => clientFrame("x")));
    for (let i = 0; i < 200; i++) socket.write(batch);
    const serverSide = server.upgraded[0];
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
    const socket = await rawWsClient(server.port);
    socket.write(clientFrame('{"message":"flood"}'));
    await fake().waitForRequests(1);
    await waitForFreeRunSlot(server.url);
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
