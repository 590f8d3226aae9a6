/** Hosted tools (web search, file search, code interpreter, image generation) on the Responses API. */
import { type Agent, type AgentOptions } from "../../src/sdk/agent";
import { useFakeOpenAI } from "../helpers/project";
import { collectEvents, defineAgents, memoryProject } from "../helpers/runner";

const fake = useFakeOpenAI();

const agent = (def: AgentOptions) => defineAgents(def);
const collect = (agents: Agent[], message = "go") => collectEvents({ project: memoryProject(agents), message });

test("hosted tools are sent in request shape, with the includes that bring back sources, hits and logs", async () => {
  await collect(agent({
    name: "A",
    builtinTools: ["web_search", { type: "file_search", vector_store_ids: ["vs_docs"], max_num_results: 3 }, "code_interpreter", "image_generation"],
  }));
  const body = fake().requests[0].body;
  expect(body.tools).toEqual([
    { type: "web_search" },
    { type: "file_search", vector_store_ids: ["vs_docs"], max_num_results: 3 },
    { type: "code_interpreter", container: { type: "auto" } },
    { type: "image_generation" },
  ]);
  expect(body.include).toEqual(["web_search_call.action.sources", "file_search_call.results", "code_interpreter_call.outputs"]);
});

test("hosted tool output items become tool_call/tool_result pairs, and the run answers without a second call", async () => {
  fake().enqueue({
    hosted: [
      { type: "web_search_call", id: "ws_1", action: { type: "search", query: "klisk typescript", sources: [{ type: "url", url: "https://example.com/a" }] } },
      { type: "file_search_call", id: "fs_1", queries: ["refund policy"], results: [{ file_id: "file_1", filename: "policy.md", score: 0.92, text: "30 days", attributes: {} }] },
      { type: "code_interpreter_call", id: "ci_1", code: "print(6*7)", container_id: "cntr_1", outputs: [{ type: "logs", logs: "42\n" }] },
      { type: "image_generation_call", id: "ig_1", result: "iVBORw0KGgo=", output_format: "png", revised_prompt: "a red cat" },
    ],
    text: "All done",
  });
  const events = await collect(agent({ name: "A", builtinTools: ["web_search", "code_interpreter", "image_generation"] }));
  const shown = events.filter((e) => e.type === "tool_call" || e.type === "tool_result").map((e) => ({ type: e.type, ...(e.data as object) }));
  expect(shown).toEqual([
    { type: "tool_call", tool: "web_search", arguments: '{"type":"search","query":"klisk typescript"}', status: "running", call_id: "ws_1" },
    { type: "tool_result", tool: "web_search", output: '{"status":"completed","sources":[{"type":"url","url":"https://example.com/a"}]}', call_id: "ws_1" },
    { type: "tool_call", tool: "file_search", arguments: '{"queries":["refund policy"]}', status: "running", call_id: "fs_1" },
    {
      type: "tool_result", tool: "file_search", call_id: "fs_1",
      output: '{"status":"completed","results":[{"file_id":"file_1","filename":"policy.md","score":0.92,"text":"30 days"}]}',
    },
    { type: "tool_call", tool: "code_interpreter", arguments: '{"code":"print(6*7)"}', status: "running", call_id: "ci_1" },
    { type: "tool_result", tool: "code_interpreter", output: '{"status":"completed","logs":"42\\n","images":[]}', call_id: "ci_1" },
    { type: "tool_call", tool: "image_generation", arguments: '{"prompt":"a red cat"}', status: "running", call_id: "ig_1" },
    { type: "tool_result", tool: "image_generation", output: "data:image/png;base64,iVBORw0KGgo=", call_id: "ig_1" },
  ]);
  expect(events.at(-1)).toMatchObject({ type: "done", data: "All done" });
  expect(fake().requests).toHaveLength(1);
  // Hosted calls ran upstream: they are not part of the history a Chat model would be sent.
  const done = events.at(-1)!;
  expect(done.type === "done" && done.state.conversation_history).toEqual([
    { role: "user", content: [{ type: "input_text", text: "go" }] },
    { role: "assistant", content: "All done" },
  ]);
});
