/** responsesModel on event sequences other Responses-compatible servers send that the fake does not script. */
import { responsesModel } from "../../src/runner/models/responses";
import type { ModelEvent, ModelRequest } from "../../src/runner/models/model";

async function read(events: unknown[]): Promise<{ out: ModelEvent[]; body: any }> {
  let body: any;
  // The adapter reads the SDK call's raw body (asResponse) as SSE, so the stand-in answers with one.
  const sse = events.map((e) => `event: ${(e as { type: string }).type}\ndata: ${JSON.stringify(e)}\n\n`).join("");
  const client = {
    responses: {
      create: (b: unknown) => {
        body = b;
        return { asResponse: async () => new Response(sse, { headers: { "content-type": "text/event-stream" } }) };
      },
    },
  };
  const request: ModelRequest = { instructions: "", input: [], tools: [], builtinTools: [], settings: {}, signal: new AbortController().signal };
  const out: ModelEvent[] = [];
  for await (const e of responsesModel(client as any, "OpenAI", "gpt-5.2").stream(request)) out.push(e);
  return { out, body };
}

test("a server that sends only .done events (no deltas) and no id in completed still yields text, thinking and the id", async () => {
  const { out, body } = await read([
    { type: "response.created", response: { id: "resp_1" } },
    { type: "response.reasoning_summary_text.done", item_id: "rs_1", summary_index: 0, text: "Pondering" },
    { type: "response.output_text.done", item_id: "msg_1", content_index: 0, text: "All done" },
    { type: "response.completed", response: { output: [] } },
  ]);
  expect(body).toMatchObject({ model: "gpt-5.2", stream: true, reasoning: { summary: "auto" } });
  expect(out).toEqual([
    { type: "reasoning_delta", delta: "Pondering" },
    { type: "text_delta", delta: "All done" },
    expect.objectContaining({ type: "completed", responseId: "resp_1", text: "All done" }),
  ]);
});

test("a .done event after its deltas is not repeated", async () => {
  const { out } = await read([
    { type: "response.output_text.delta", item_id: "msg_1", content_index: 0, delta: "Hi" },
    { type: "response.output_text.delta", item_id: "msg_1", content_index: 0, delta: "!" },
    { type: "response.output_text.done", item_id: "msg_1", content_index: 0, text: "Hi!" },
    { type: "response.completed", response: { id: "resp_2", output: [] } },
  ]);
  expect(out.filter((e) => e.type === "text_delta").map((e) => e.type === "text_delta" && e.delta)).toEqual(["Hi", "!"]);
  expect(out.at(-1)).toMatchObject({ type: "completed", responseId: "resp_2", text: "Hi!" });
});

test("a function call announced only in response.completed is still run", async () => {
  const { out } = await read([
    { type: "response.completed", response: { id: "resp_3", output: [{ type: "function_call", call_id: "call_9", name: "add", arguments: '{"a":1}' }] } },
  ]);
  expect(out[0]).toEqual({ type: "function_call", callId: "call_9", name: "add", arguments: '{"a":1}' });
});
