/** A state nested thousands deep is refused with 400 (413 when also too large) before anything recursive sees it. */
import { Writable } from "node:stream";
import { configureLogger } from "../../src/log";
import type { Project } from "../../src/project/project";
import type { RunningServer } from "../../src/server/listen";
import { measureJson } from "../../src/server/measureJson";
import { json, makeProject, openWs, postChat, serve, useFakeOpenAI } from "../helpers/project";

useFakeOpenAI({ env: { KLISK_STATE_SECRET: "deep-secret" } });
let project: Project;
let server: RunningServer;
let logged: string[] = [];

beforeAll(async () => {
  project = makeProject([{ name: "Assistant" }], "limits:\n  max_state_kb: 1024\n");
  server = await serve(project);
});
beforeEach(() => {
  logged = [];
  const destination = new Writable({ write: (chunk, _enc, done) => (logged.push(String(chunk)), done()) });
  configureLogger({ level: "info", destination });
});
afterAll(async () => {
  await server.close();
  configureLogger({ level: "silent" });
});

/**
 * JSON of a state whose history item's content is `depth` arrays deep, padded with `padding` characters
 * inside. Built as text: the test's own JSON.stringify would overflow on it too.
 */
function deepState(depth: number, padding = ""): string {
  const nested = "[".repeat(depth) + JSON.stringify(padding) + "]".repeat(depth);
  return `{"conversation_history":[{"role":"user","content":${nested}}],"current_agent_name":"Assistant","signature":"v1.x"}`;
}

/** A chat body (JSON text) with `fields` and the state text spliced in. */
function withState(fields: object, state: string): string {
  return `${JSON.stringify(fields).slice(0, -1)},"state":${state}}`;
}

test("a 10 KB state nested 5,000 deep is a 400 naming the depth, with nothing logged at error level", async () => {
  const res = await postChat(server.url, withState({ message: "hi", stream: false }, deepState(5000)));
  expect(res.status).toBe(400);
  expect((await json(res)).error).toMatch(/'state' is nested too deeply \(more than 64 levels\)/);
  expect(logged.filter((line) => /"level":50/.test(line))).toEqual([]);
});

test("a 0.9 MB state nested 2,000 deep is a 400 too, and /health answers meanwhile", async () => {
  const body = withState({ message: "hi", stream: false }, deepState(2000, "x".repeat(900_000)));
  const answers = await Promise.all([1, 2, 3, 4].map(() => postChat(server.url, body)));
  expect(answers.map((res) => res.status)).toEqual([400, 400, 400, 400]);
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
});

test("a deep state over max_state_kb is a 413", async () => {
  const res = await postChat(server.url, withState({ message: "hi", stream: false }, deepState(5000, "x".repeat(1_100_000))));
  expect(res.status).toBe(413);
  expect((await json(res)).error).toMatch(/'state' is too large: 10\d\d KB \(limit 1024 KB/);
});

test("a deep state in a WebSocket restore or message frame gets an error frame and the socket stays usable", async () => {
  const client = await openWs(server.url);
  client.send(withState({ type: "restore" }, deepState(5000)));
  expect(await client.next()).toEqual({ type: "error", data: expect.stringMatching(/nested too deeply/) });
  client.send(withState({ message: "hi" }, deepState(3000)));
  expect(await client.next()).toEqual({ type: "error", data: expect.stringMatching(/nested too deeply/) });
  client.send({ message: "still here" });
  expect((await client.until("done")).at(-1).data).toBe("Echo: still here");
  client.close();
});

test("a state 64 levels deep is judged by its signature, not its depth", async () => {
  const res = await postChat(server.url, withState({ message: "hi", stream: false }, deepState(60)));
  expect(res.status).toBe(400);
  expect((await json(res)).error).toBe("Invalid state");
});

test("measureJson counts the bytes JSON.stringify would write and the nesting depth", () => {
  const values: unknown[] = [null, 1.5, "héllo \"q\" \n \u0001", [], {}, [1, [2, [3]]], { a: { b: [true, false, null] }, "k\u00e9y": "v", u: undefined }, [undefined]];
  for (const value of values) expect(measureJson(value).bytes).toBe(Buffer.byteLength(JSON.stringify(value)));
  expect(measureJson([1, [2, [3]]]).depth).toBe(4);
  expect(measureJson(JSON.parse("[".repeat(100_000) + "]".repeat(100_000))).depth).toBe(100_000);
});
