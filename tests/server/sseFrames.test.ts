/** The SSE writer's fast paths: token frames built without serialising the event, frames of one tick coalesced. */
import { frame, textFrames } from "../../src/server/sse";
import type { ChatEvent } from "../../src/runner/events";
import type { RunningServer } from "../../src/server/listen";
import { makeProject, parseSse, postChat, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
let server: RunningServer;
beforeAll(async () => {
  server = await serve(makeProject([{ name: "Assistant" }]));
});
afterAll(() => server.close());

test.each(["plain", 'quotes " and \\ backslash', "line\nbreak\ttab", "\u2028\u2029 separators", "emoji 🎉 and é", "\u0000\u001f controls", ""])(
  "a token frame is byte for byte what serialising the event gives: %j",
  (data) => {
    const event: ChatEvent = { type: "token", data };
    expect(frame(event)).toBe(`data: ${JSON.stringify(event)}\n\n`);
  },
);

test("other events are serialised whole", () => {
  const event: ChatEvent = { type: "done", data: "hi", state: { current_agent_name: "A" } };
  expect(frame(event)).toBe(`data: ${JSON.stringify(event)}\n\n`);
});

test("hundreds of tokens arriving in one upstream chunk still go out one frame each, in order", async () => {
  const deltas = Array.from({ length: 500 }, (_, i) => (i === 0 ? "t0" : ` t${i}`));
  fake().enqueue({ text: deltas });
  const res = await postChat(server.url, { message: "go" });
  const events = parseSse(await res.text());
  const tokens = events.filter((e) => e.type === "token").map((e) => e.data);
  expect(tokens).toEqual(deltas);
  expect(events.at(-2)).toMatchObject({ type: "done", data: deltas.join("") });
  expect(events.at(-1)).toBe("[DONE]");
});

test("textFrames gives the bytes that serialising the whole frame would, whatever the text", () => {
  const shape = (delta: string) => ({ type: "text-delta", id: "text-1", delta, nested: { keep: [1, "two"] } });
  const make = textFrames(shape);
  for (const text of ["", "plain", ' "quoted" \\ back', "line\nbreak\ttab", "é 🎉 \u2028 \u0000", "\u0000klisk-text\u0000"]) {
    expect(make(text)).toBe(`data: ${JSON.stringify(shape(text))}\n\n`);
  }
});
