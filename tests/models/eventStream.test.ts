/** The SSE reader the model adapters use instead of the SDK's Stream. */
import { jsonEvents, SseParser } from "../../src/runner/models/eventStream";

function callAnswering(...chunks: string[]) {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  return { asResponse: async () => new Response(body) };
}

async function collect(call: ReturnType<typeof callAnswering>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const event of jsonEvents(call, "Test")) out.push(event);
  return out;
}

test("messages split anywhere across chunks (even inside a UTF-8 character) come out whole", async () => {
  const text = 'event: a\ndata: {"n":1,"s":"é"}\n\ndata: {"n":2}\r\n\r\n: a comment\n\ndata: {"n":3}\n\n';
  const bytes = new TextEncoder().encode(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, cut));
        controller.enqueue(bytes.slice(cut));
        controller.close();
      },
    });
    expect(await collect({ asResponse: async () => new Response(body) })).toEqual([{ n: 1, s: "é" }, { n: 2 }, { n: 3 }]);
  }
});

test("multi-line data is joined with newlines; [DONE] ends the stream", async () => {
  const parser = new SseParser();
  expect(parser.push('data: {"a":\ndata: 1}\n\n')).toEqual(['{"a":\n1}']);
  expect(await collect(callAnswering('data: {"a":1}\n\ndata: [DONE]\n\ndata: {"ignored":true}\n\n'))).toEqual([{ a: 1 }]);
});

test("messages named by an ignored `event:` are dropped unparsed, across chunk boundaries; others, named or not, come through", async () => {
  const ignored = new Set(["response.in_progress"]);
  const parser = new SseParser(ignored);
  expect(parser.push('event: response.in_progress\ndata: {not json\n\nevent: response.created\ndata: {"a":1}\n\n')).toEqual(['{"a":1}']);
  expect(parser.push("event:response.in_pro")).toEqual([]);
  expect(parser.push('gress\ndata: {"big":\ndata: "x"}\n\ndata: {"b":2}\n\n')).toEqual(['{"b":2}']);
  const body = 'event: response.in_progress\ndata: {broken\n\nevent: response.output_text.delta\ndata: {"delta":"hi"}\n\n';
  const call = callAnswering(body);
  const out: unknown[] = [];
  for await (const event of jsonEvents(call, "Test", undefined, ignored)) out.push(event);
  expect(out).toEqual([{ delta: "hi" }]);
  // Without the set, the same body fails on the malformed data it no longer skips.
  await expect(collect(callAnswering(body))).rejects.toThrow(SyntaxError);
});

test("a message cut off by the end of the body is dropped", async () => {
  expect(await collect(callAnswering('data: {"a":1}\n\ndata: {"b":'))).toEqual([{ a: 1 }]);
});

test("an error payload throws a ModelError naming the provider; malformed data throws JSON.parse's SyntaxError", async () => {
  await expect(collect(callAnswering('data: {"error":{"message":"overloaded"}}\n\n'))).rejects.toThrow("Test stream error: overloaded");
  await expect(collect(callAnswering('data: {"a":\n\n'))).rejects.toThrow(SyntaxError);
});

test("a plain JSON answer (Content-Type application/json) comes out as the one event asEvent makes of it", async () => {
  const call = { asResponse: async () => new Response('{"id":"resp_1","status":"completed"}', { headers: { "content-type": "application/json; charset=utf-8" } }) };
  const out: unknown[] = [];
  for await (const event of jsonEvents(call, "Test", (answer) => ({ type: "wrapped", answer }))) out.push(event);
  expect(out).toEqual([{ type: "wrapped", answer: { id: "resp_1", status: "completed" } }]);
});

test("an event stream is read as a stream whatever was asked", async () => {
  const call = { asResponse: async () => new Response('data: {"n":1}\n\ndata: [DONE]\n\n', { headers: { "content-type": "text/event-stream" } }) };
  const out: unknown[] = [];
  for await (const event of jsonEvents(call, "Test", () => "never")) out.push(event);
  expect(out).toEqual([{ n: 1 }]);
});

test("a line that spans many chunks (a 16 MB response.completed arrives in 64 KB pieces) is joined once, \\r\\n split included", () => {
  const parser = new SseParser();
  const big = JSON.stringify({ text: "y".repeat(200_000) });
  const wire = `event: response.completed\r\ndata: ${big}\r\n\r\ndata: {"n":2}\r\n\r\n`;
  const messages: string[] = [];
  // Pieces of 7 characters: every \r\n and every line boundary falls inside or between pieces somewhere.
  for (let i = 0; i < wire.length; i += 7) messages.push(...parser.push(wire.slice(i, i + 7)));
  expect(messages).toEqual([big, '{"n":2}']);
});
