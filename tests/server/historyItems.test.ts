/** A client's conversation_history reaches the provider only in the shapes klisk hands out: junk is a 400 naming the path. */
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, postChat, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI();
let server: RunningServer;

beforeAll(async () => {
  server = await serve(makeProject([{ name: "Assistant" }]));
});
afterAll(() => server.close());

const withHistory = (...items: unknown[]) => ({ message: "hi", stream: false, state: { conversation_history: items } });

const refused: Array<[string, unknown[], RegExp]> = [
  ["a junk content object", [{ role: "user", content: { junk: true } }], /^'state\.conversation_history\[0\]\.content' must be a string or an array of parts$/],
  ["an unknown part type", [{ role: "user", content: [{ type: "input_audio", data: "x" }] }], /^'state\.conversation_history\[0\]\.content\[0\]\.type' must be an input_text, input_image or input_file part$/],
  ["an image by remote URL", [{ role: "user", content: [{ type: "input_image", image_url: "http://169.254.169.254/latest/meta-data/" }] }], /^'state\.conversation_history\[0\]\.content\[0\]\.image_url' must be a data: URL$/],
  ["a file by id", [{ role: "user", content: [{ type: "input_file", file_id: "file-someone-elses" }] }], /^'state\.conversation_history\[0\]\.content\[0\]\.file_data' must be a data: URL$/],
  ["nesting where text belongs", [{ role: "assistant", content: [{ type: "output_text", text: [[["deep"]]] }] }], /^'state\.conversation_history\[0\]\.content\[0\]\.text' must be a string$/],
  ["a function call without a name", [{ type: "function_call", call_id: "c1", arguments: "{}" }], /^'state\.conversation_history\[0\]\.name' must be a string$/],
  ["a tool output that is an object", [{ type: "function_call_output", call_id: "c1", output: { a: 1 } }], /^'state\.conversation_history\[0\]\.output' must be a string$/],
  ["an annotation that nests", [{ role: "assistant", content: [{ type: "output_text", text: "a", annotations: [{ type: "x", deep: { a: 1 } }] }] }], /annotations\[0\]\.deep' must be/],
];

test.each(refused)("%s is a 400 naming the path, and nothing reaches the provider", async (_name, items, error) => {
  const res = await postChat(server.url, withHistory(...items));
  expect([res.status, (await json(res)).error]).toEqual([400, expect.stringMatching(error)]);
  expect(fake().requests).toHaveLength(0);
});

test("klisk's own shapes and the Responses API's long forms pass; keys beyond them are dropped", async () => {
  const history = [
    { role: "user", content: "q0", evil: { nested: true } },
    { type: "message", role: "user", content: [{ type: "input_text", text: "q1" }, { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=", detail: "low" }] },
    { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "thought" }] },
    { type: "message", role: "assistant", id: "msg_1", status: "completed", content: [{ type: "output_text", text: "a1", annotations: [] }], logprobs: [] },
    { type: "function_call", call_id: "c1", name: "f", arguments: "{}", id: "fc_1", status: "completed" },
    { type: "function_call_output", call_id: "c1", output: "r1", extra: "x" },
    { role: "assistant", content: "a2" },
  ];
  const res = await postChat(server.url, withHistory(...history));
  expect(res.status).toBe(200);
  const input = fake().requests[0].body.input;
  expect(input.slice(0, 7)).toEqual([
    { role: "user", content: "q0" },
    history[1],
    history[2],
    { type: "message", role: "assistant", id: "msg_1", status: "completed", content: [{ type: "output_text", text: "a1", annotations: [] }] },
    history[4],
    { type: "function_call_output", call_id: "c1", output: "r1" },
    history[6],
  ]);
});
