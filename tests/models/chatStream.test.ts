/** readChatStream on chunk sequences some OpenAI-compatible servers send that the fake does not script. */
import { ModelError } from "../../src/errors";
import { readChatStream } from "../../src/runner/models/chat";
import type { ModelEvent } from "../../src/runner/models/model";

async function read(chunks: unknown[], signal = new AbortController().signal): Promise<ModelEvent[]> {
  async function* source() {
    yield* chunks;
  }
  const events: ModelEvent[] = [];
  for await (const e of readChatStream(source(), "Test", signal)) events.push(e);
  return events;
}

const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null) => ({ id: "c1", choices: [{ index: 0, delta, finish_reason }] });

test("tool calls without an index (Gemini-style) and without ids are still assembled", async () => {
  const events = await read([
    chunk({ tool_calls: [{ id: "a", function: { name: "f", arguments: '{"x":' } }] }),
    chunk({ tool_calls: [{ function: { arguments: "1}" } }] }),
    chunk({ tool_calls: [{ id: "b", function: { name: "g", arguments: "{}" } }] }),
    chunk({ tool_calls: [{ index: 2, function: { name: "h", arguments: "{}" } }] }),
    chunk({}, "tool_calls"),
  ]);
  const calls = events.filter((e) => e.type === "function_call");
  expect(calls).toEqual([
    { type: "function_call", callId: "a", name: "f", arguments: '{"x":1}' },
    { type: "function_call", callId: "b", name: "g", arguments: "{}" },
    { type: "function_call", callId: expect.stringMatching(/^call_[0-9a-f]{32}$/), name: "h", arguments: "{}" },
  ]);
  expect(events.at(-1)).toEqual({ type: "completed", responseId: "c1", text: "", finishReason: "tool_calls", usage: undefined });
});

test("usage from the last chunk, text and finish_reason land in completed", async () => {
  const events = await read([chunk({ content: "Hi" }), chunk({}, "length"), { id: "c1", choices: [], usage: { prompt_tokens: 5, completion_tokens: 1 } }]);
  expect(events).toEqual([
    { type: "text_delta", delta: "Hi" },
    { type: "completed", responseId: "c1", text: "Hi", finishReason: "length", usage: { inputTokens: 5, outputTokens: 1 } },
  ]);
});

test("a response that ends without finish_reason is accepted; one with nothing at all is not", async () => {
  expect((await read([chunk({ content: "ok" })])).at(-1)).toMatchObject({ type: "completed", text: "ok" });
  await expect(read([])).rejects.toThrow(new ModelError("The Test stream ended before the response completed"));
});

test("an aborted stream never passes for a complete answer", async () => {
  const controller = new AbortController();
  controller.abort();
  await expect(read([chunk({ content: "partial" })], controller.signal)).rejects.toThrow("Run cancelled");
});

test("a tool call that never got a name is a model error", async () => {
  await expect(read([chunk({ tool_calls: [{ index: 0, id: "x", function: { arguments: "{}" } }] }, "tool_calls")])).rejects.toThrow(
    "Test sent a tool call without a function name",
  );
});
