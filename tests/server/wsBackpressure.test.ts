/**
 * /ws/chat and clients that read slowly or not at all, beyond wsAttack.test.ts: a shutdown (the run's abort)
 * releases a turn waiting on a client, the 16 MB cap closes a client that reads nothing, a cancel while a turn waits
 * keeps the connection, and a slow reader that catches up loses nothing. Raw TCP clients do the handshake
 * by hand so they can stop reading (socket.pause()) while they keep writing.
 */
import { makeProject, openWs, useFakeOpenAI, type WsClient } from "../helpers/project";
import { clientFrame, rawWsClient, startSocketServer, type SocketServer } from "../helpers/rawWs";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const MB = 1024 * 1024;

/** `n` tokens of 16 KB; 600 (~10 MB) is about twice what the loopback socket buffers hold, so the turn has to wait on its client. */
const bigAnswer = (n = 600) => ({ text: Array.from({ length: n }, () => "x".repeat(16 * 1024)) });

/** A client that stopped reading while a turn of `bigAnswer()` streams to it: the server is then waiting on it. */
async function turnWaitingOnClient(s: SocketServer): Promise<WsClient> {
  fake().enqueue(bigAnswer());
  const client = await openWs(s.url);
  client.ws.pause();
  client.send({ message: "flood me" });
  await waitFor(() => s.upgraded[0].writableLength >= MB, 10_000, "the turn waiting on the client");
  return client;
}

async function expectChatWorks(url: string): Promise<void> {
  const client = await openWs(url);
  client.send({ message: "still serving" });
  expect((await client.until("done", 10_000)).at(-1).data).toBe("Echo: still serving");
  client.close();
}

test("a shutdown ends a turn waiting on a client that reads nothing: the wait is released, slot freed, socket closed", async () => {
  // write_stall_s stays at 30 s: only the run's abort can end the wait (the run deadline aborts the same way).
  const s = await startSocketServer(makeProject([{ name: "Assistant" }]));
  const client = await rawWsClient(s.port);
  try {
    fake().enqueue(bigAnswer());
    client.write(clientFrame('{"message":"flood me"}'));
    await fake().waitForRequests(1);
    await waitFor(() => s.upgraded[0].writableLength >= MB, 10_000, "the turn waiting on the client");
    await s.runs.drain(0, 5000);
    expect(s.runs.size).toBe(0);
    await waitFor(() => s.upgraded[0].destroyed, 10_000, "the socket to be closed");
  } finally {
    client.destroy();
    await s.close();
  }
});

test("past 16 MB buffered for a client that reads nothing, the connection is closed", async () => {
  const s = await startSocketServer(makeProject([{ name: "Assistant" }]));
  const client = await rawWsClient(s.port);
  try {
    // Each frame's error answer quotes its 17 MB type: the second answer finds the first still buffered.
    const frame = clientFrame(JSON.stringify({ type: "t".repeat(17 * MB) }));
    client.write(frame);
    client.write(frame);
    await waitFor(() => s.upgraded[0].destroyed, 15_000, "the socket to be closed");
    expect(s.runs.size).toBe(0);
    await expectChatWorks(s.url);
  } finally {
    client.destroy();
    await s.close();
  }
});

test("a cancel while a turn waits on a slow reader ends the turn with 'Run cancelled' and keeps the connection", async () => {
  const s = await startSocketServer(makeProject([{ name: "Assistant" }]));
  try {
    const client = await turnWaitingOnClient(s);
    client.send({ type: "cancel" });
    await waitFor(() => s.runs.size === 0, 10_000, "the cancelled run to end");
    client.ws.resume();
    const frames = await client.until(["error", "done"], 10_000);
    expect(frames.at(-1)).toEqual({ type: "error", data: "Run cancelled" });
    client.send({ message: "after" });
    expect((await client.until("done", 10_000)).at(-1).data).toBe("Echo: after");
    client.close();
  } finally {
    await s.close();
  }
});

test("a slow reader that catches up gets every frame, an error answer included, and its frames are read again", async () => {
  const s = await startSocketServer(makeProject([{ name: "Assistant" }]));
  try {
    const client = await turnWaitingOnClient(s);
    const server = s.upgraded[0];
    client.send("oops");
    client.send({ message: "after" });
    await waitFor(() => server.isPaused(), 5000, "the server to stop reading the client");
    client.ws.resume();
    const first = await client.until("done", 10_000);
    expect(first.filter((f) => f.type === "token")).toHaveLength(600);
    expect(first.filter((f) => f.type === "error")).toEqual([{ type: "error", data: expect.stringMatching(/Malformed JSON frame/) }]);
    expect((await client.until("done", 10_000)).at(-1).data).toBe("Echo: after");
    expect(s.runs.size).toBe(0);
    client.close();
  } finally {
    await s.close();
  }
});
