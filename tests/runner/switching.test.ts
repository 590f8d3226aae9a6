/**
 * Moving a conversation between the Responses API and Chat Completions: hand-offs in both directions, the
 * next turn staying with the new agent, and an agent whose model changed between turns.
 */
import { tool } from "../../src/index";
import { type Agent } from "../../src/sdk/agent";
import { type RunChatOptions } from "../../src/runner/run";
import type { ChatEvent } from "../../src/runner/events";
import { MAX_HISTORY_BYTES, MAX_HISTORY_ITEMS } from "../../src/runner/history";
import { parseState } from "../../src/server/clientState";
import { useFakeOpenAI } from "../helpers/project";
import { collectEvents, defineAgents, doneOf, memoryProject } from "../helpers/runner";

const fake = useFakeOpenAI({ presets: ["MISTRAL"] });

const project = (agents: Agent[]) => memoryProject(agents);
const agents = defineAgents;

async function run(options: RunChatOptions): Promise<{ events: ChatEvent[]; done: Extract<ChatEvent, { type: "done" }> }> {
  const events = await collectEvents(options);
  return { events, done: doneOf(events) };
}

const user = (text: string) => ({ role: "user", content: [{ type: "input_text", text }] });

test("a hand-off from a Responses agent to a Chat agent carries the conversation; the next turn stays there", async () => {
  const team = agents(
    { name: "Triage", instructions: "Route", model: "gpt-5.2", handoffs: ["Support"] },
    { name: "Support", instructions: "Help", model: "mistral/mistral-large-latest" },
  );
  fake().enqueue({ toolCalls: [{ name: "transfer_to_support", arguments: {}, callId: "h1" }] }, { text: "Support here" });
  const first = await run({ project: project(team), message: "my order is late" });
  expect(first.events).toContainEqual({ type: "handoff", data: { from: "Triage", to: "Support" } });
  expect(fake().requests.map((r) => r.path)).toEqual(["/v1/responses", "/v1/chat/completions"]);
  expect(fake().requests[1].body.messages).toEqual([
    { role: "system", content: "Help" },
    { role: "user", content: "my order is late" },
    { role: "assistant", content: null, tool_calls: [{ id: "h1", type: "function", function: { name: "transfer_to_support", arguments: "{}" } }] },
    { role: "tool", tool_call_id: "h1", content: '{"assistant":"Support"}' },
  ]);
  // The response id no longer covers the conversation (Support answered on Chat), so it is dropped.
  expect(first.done.state.previous_response_id).toBeUndefined();
  expect(first.done.state.current_agent_name).toBe("Support");
  expect(first.done).not.toHaveProperty("response_id");

  fake().enqueue({ text: "Still Support" });
  const second = await run({ project: project(team), message: "any news?", state: parseState(first.done.state) });
  expect(fake().requests[2].path).toBe("/v1/chat/completions");
  expect(fake().requests[2].body.messages.map((m: any) => [m.role, typeof m.content === "string" ? m.content : null])).toEqual([
    ["system", "Help"], ["user", "my order is late"], ["assistant", null], ["tool", '{"assistant":"Support"}'],
    ["assistant", "Support here"], ["user", "any news?"],
  ]);
  expect(second.done.state.current_agent_name).toBe("Support");
});

test("a hand-off from a Chat agent to a Responses agent sends the whole transcript, without a response id", async () => {
  const lookup = tool({ name: "lookup", execute: () => "order 7" });
  const team = agents(
    { name: "Front", model: "mistral/small", tools: [lookup], handoffs: ["Expert"] },
    { name: "Expert", instructions: "Deep answers", model: "gpt-5.2" },
  );
  fake().enqueue(
    { text: "Checking", toolCalls: [{ name: "lookup", arguments: {}, callId: "l1" }] },
    { toolCalls: [{ name: "transfer_to_expert", arguments: {}, callId: "h2" }] },
    { text: "Expert answer" },
  );
  const { done } = await run({ project: project(team), message: "where is it?", state: { previous_response_id: "resp_stale", conversation_history: [] } });
  const third = fake().requests[2];
  expect(third.path).toBe("/v1/responses");
  expect(third.body.previous_response_id).toBeUndefined();
  expect(third.body.instructions).toBe("Deep answers");
  expect(third.body.input).toEqual([
    user("where is it?"),
    { role: "assistant", content: "Checking" },
    { type: "function_call", call_id: "l1", name: "lookup", arguments: "{}" },
    { type: "function_call_output", call_id: "l1", output: "order 7" },
    { type: "function_call", call_id: "h2", name: "transfer_to_expert", arguments: "{}" },
    { type: "function_call_output", call_id: "h2", output: '{"assistant":"Expert"}' },
  ]);
  // Back on Responses: the new id covers everything again, and the history keeps the answer too.
  expect(done.state.previous_response_id).toBe(third.responseId);
  expect(done.response_id).toBe(third.responseId);
  expect(done.state.conversation_history?.at(-1)).toEqual({ role: "assistant", content: "Expert answer" });
  expect(done.state.current_agent_name).toBe("Expert");
});

test("an agent whose model moves Responses → Chat → Responses between turns keeps the conversation", async () => {
  const onOpenAI = agents({ name: "A", model: "gpt-5.2" });
  fake().enqueue({ text: "first answer" });
  const t1 = await run({ project: project(onOpenAI), message: "first" });
  expect(t1.done.state.previous_response_id).toBe(fake().requests[0].responseId);

  // Redeployed on Mistral: only the history can continue the conversation.
  const onMistral = agents({ name: "A", model: "mistral/large" });
  fake().enqueue({ text: "second answer" });
  const t2 = await run({ project: project(onMistral), message: "second", state: parseState(t1.done.state) });
  expect(fake().requests[1].body.messages).toEqual([
    { role: "user", content: "first" },
    { role: "assistant", content: "first answer" },
    { role: "user", content: "second" },
  ]);
  expect(t2.done.state.previous_response_id).toBeUndefined();

  // And back: the old response id would miss turn 2, so the whole history goes as input.
  fake().enqueue({ text: "third answer" });
  const t3 = await run({ project: project(onOpenAI), message: "third", state: parseState(t2.done.state) });
  expect(fake().requests[2].body.previous_response_id).toBeUndefined();
  expect(fake().requests[2].body.input).toEqual([
    user("first"), { role: "assistant", content: "first answer" },
    user("second"), { role: "assistant", content: "second answer" },
    user("third"),
  ]);
  // From here on the response id is used again.
  await run({ project: project(onOpenAI), message: "fourth", state: parseState(t3.done.state) });
  expect(fake().requests[3].body).toMatchObject({ previous_response_id: fake().requests[2].responseId, input: [user("fourth")] });
});

test("the history stays bounded and never starts with an orphan tool output", async () => {
  const history: unknown[] = [];
  for (let i = 0; history.length < MAX_HISTORY_ITEMS + 20; i++) {
    history.push(
      { role: "user", content: `q${i}` },
      { type: "function_call", call_id: `c${i}`, name: "f", arguments: "{}" },
      { type: "function_call_output", call_id: `c${i}`, output: "r" },
      { role: "assistant", content: `a${i}` },
    );
  }
  const { done } = await run({ project: project(agents({ name: "A", model: "mistral/m" })), message: "last", state: parseState({ conversation_history: history }) });
  const kept = done.state.conversation_history!;
  expect(kept.length).toBeLessThanOrEqual(MAX_HISTORY_ITEMS);
  expect(kept[0]).toMatchObject({ role: "user" });
  expect(kept.at(-1)).toEqual({ role: "assistant", content: "Echo: last" });
});

test("store:false in extraBody makes a Responses agent send the transcript instead of a response id", async () => {
  const team = agents({ name: "A", model: "gpt-5.2", modelSettings: { extraBody: { store: false } } });
  const t1 = await run({ project: project(team), message: "one" });
  expect(t1.done.state.previous_response_id).toBeUndefined();
  await run({ project: project(team), message: "two", state: parseState(t1.done.state) });
  expect(fake().requests[1].body.previous_response_id).toBeUndefined();
  expect(fake().requests[1].body.input).toEqual([user("one"), { role: "assistant", content: "Echo: one" }, user("two")]);
});

test("the history also stays under its byte budget, dropping the oldest exchanges first", async () => {
  const big = "x".repeat(20_000);
  const history: unknown[] = [];
  for (let i = 0; i < 30; i++) history.push({ role: "user", content: `q${i} ${big}` }, { role: "assistant", content: `a${i}` });
  const { done } = await run({ project: project(agents({ name: "A", model: "mistral/m" })), message: "last", state: parseState({ conversation_history: history }) });
  const kept = done.state.conversation_history!;
  expect(JSON.stringify(kept).length).toBeLessThanOrEqual(MAX_HISTORY_BYTES);
  expect(kept[0]).toMatchObject({ role: "user", content: expect.stringMatching(/^q\d+ x/) });
  expect(kept.length).toBeLessThan(history.length);
  expect(kept.at(-1)).toEqual({ role: "assistant", content: "Echo: last" });
});
