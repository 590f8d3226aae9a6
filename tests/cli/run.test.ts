/** `klisk run` through the real binary, against the loopback fake OpenAI upstream. */
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fakeOpenAI";
import { klisk, startKlisk } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { writeFiles } from "../helpers/tmp";

let fake: FakeOpenAI;
let upstream: Record<string, string>;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  upstream = fakeUpstreamEnv(fake.url);
});
beforeEach(() => fake.reset());
afterAll(() => fake.close());

const ENTRY = `
import { defineAgent, tool, z } from "klisk";
const greet = tool({ name: "greet", parameters: z.object({ name: z.string() }), execute: ({ name }) => "Hello, " + name + "!" });
defineAgent({ name: "Assistant", instructions: "Be helpful.", tools: [greet], handoffs: ["Billing"] });
defineAgent({ name: "Billing", instructions: "You handle billing." });
`;
const projectDir = () => writeFiles({ "klisk.config.yaml": "name: runner\n", "src/main.ts": ENTRY });
const inputText = (body: any) => JSON.stringify(body.input);

describe("klisk run MESSAGE", () => {
  test("streams the answer to stdout and exits 0", async () => {
    const res = await klisk(["run", "Hello there", projectDir()], { env: upstream });
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe("Echo: Hello there\n");
    expect(res.code).toBe(0);
    expect(fake.requests[0].body.stream).toBe(true);
  });

  test("thinking, tool calls and results are compact labelled lines in plain output", async () => {
    fake.enqueue({ reasoning: "Who is it?", toolCalls: [{ name: "greet", arguments: { name: "Ada" } }] });
    const res = await klisk(["run", "I am Ada", projectDir()], { env: upstream });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      ['Thinking: Who is it?', '→ greet({"name":"Ada"})', "← greet: Hello, Ada!", "Tool said: Hello, Ada!", ""].join("\n"),
    );
    expect(res.stdout).not.toMatch(/\x1b\[/); // not a TTY: no colour codes
  });

  test("colour with FORCE_COLOR, none when NO_COLOR is set as well", async () => {
    fake.enqueue({ reasoning: "Hmm.", text: "Hi" });
    const coloured = await klisk(["run", "x", projectDir()], { env: { ...upstream, FORCE_COLOR: "1" } });
    expect(coloured.stdout).toMatch(/\x1b\[2m/); // dimmed thinking
    fake.enqueue({ reasoning: "Hmm.", text: "Hi" });
    const plain = await klisk(["run", "x", projectDir()], { env: { ...upstream, FORCE_COLOR: "1", NO_COLOR: "1" } });
    expect(plain.stdout).toBe("Thinking: Hmm.\nHi\n");
  });

  test("a hand-off is shown and the new agent answers", async () => {
    fake.enqueue({ toolCalls: [{ name: "transfer_to_billing", arguments: {} }] }, { text: "Billing here." });
    const res = await klisk(["run", "refund please", projectDir()], { env: upstream });
    expect(res.stdout).toBe("⇢ Assistant handed off to Billing\nBilling here.\n");
    expect(fake.requests[1].body.instructions).toBe("You handle billing.");
  });

  test("--json prints one SSE event per line", async () => {
    fake.enqueue({ toolCalls: [{ name: "greet", arguments: { name: "Bo" }, callId: "call_1" }] });
    const res = await klisk(["run", "--json", "hi", projectDir()], { env: upstream });
    expect(res.code).toBe(0);
    const events = res.stdout.trim().split("\n").map((line) => JSON.parse(line));
    expect(events[0]).toEqual({ type: "tool_call", data: { tool: "greet", arguments: '{"name":"Bo"}', status: "running", call_id: "call_1" } });
    expect(events[1]).toEqual({ type: "tool_result", data: { output: "Hello, Bo!", call_id: "call_1", tool: "greet" } });
    expect(events.filter((e) => e.type === "token").map((e) => e.data).join("")).toBe("Tool said: Hello, Bo!");
    const done = events[events.length - 1];
    expect(done).toMatchObject({ type: "done", data: "Tool said: Hello, Bo!", state: { current_agent_name: "Assistant" } });
    expect(done.response_id).toMatch(/^resp_/);
  });

  test("an error event exits 1: on stderr, or as the last JSON line", async () => {
    fake.enqueue({ httpError: { status: 500, message: "upstream broke" } });
    const res = await klisk(["run", "hi", projectDir()], { env: upstream });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^Error: .*upstream broke/m);

    fake.enqueue({ httpError: { status: 500, message: "upstream broke" } });
    const json = await klisk(["run", "--json", "hi", projectDir()], { env: upstream });
    expect(json.code).toBe(1);
    const last = JSON.parse(json.stdout.trim().split("\n").pop()!);
    expect(last.type).toBe("error");
    expect(last.data).toMatch(/upstream broke/);
  });

  test("a missing key is an error event, exit 1", async () => {
    const res = await klisk(["run", "hi", projectDir()], { env: { ...upstream, OPENAI_API_KEY: undefined } });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Error: OPENAI_API_KEY is not set/);
  });

  test("--agent picks the agent; an unknown one lists the agents", async () => {
    const dir = projectDir();
    const res = await klisk(["run", "--agent", "Billing", "hi", dir], { env: upstream });
    expect(res.code).toBe(0);
    expect(fake.requests[0].body.instructions).toBe("You handle billing.");

    const bad = await klisk(["run", "--agent", "Nobody", "hi", dir], { env: upstream });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("Error: Unknown agent 'Nobody'. Available agents: Assistant, Billing\n");
  });

  test("the message can come from stdin", async () => {
    const res = await klisk(["run", "-", projectDir()], { env: upstream, input: "from a pipe\n" });
    expect(res.stdout).toBe("Echo: from a pipe\n");
  });

  test("a project that does not load: Error: <message> on stderr, exit 1", async () => {
    const dir = writeFiles({ "klisk.config.yaml": "limits:\n  max_turns: -1\n", "src/main.ts": ENTRY });
    const res = await klisk(["run", "hi", dir], { env: upstream });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^Error: klisk\.config\.yaml: limits\.max_turns must be an integer >= 1/);
    expect(res.stdout).toBe("");
  });
});

describe("klisk run -i", () => {
  test("keeps the state between turns; /clear starts over; /agent switches", async () => {
    const input = "first\nsecond\n/clear\nthird\n/agent Nobody\n/agent Billing\nfourth\n/exit\nnever sent\n";
    const res = await klisk(["run", "-i", projectDir()], { env: upstream, input });
    expect(res.code).toBe(0);
    expect(res.stdout + res.stderr).toMatch(/^Chatting with Assistant \(also here: Billing\)\. Commands: /m);
    expect(res.stdout).toMatch(/Echo: first\nEcho: second\nStarted a new conversation\.\nEcho: third\n/);
    expect(res.stdout).toMatch(/Unknown agent 'Nobody'\. Available agents: Assistant, Billing\nNow talking to Billing\.\nEcho: fourth\n/);

    const bodies = fake.requests.map((r) => r.body);
    expect(bodies.map((b) => b.input[b.input.length - 1].content[0].text)).toEqual(["first", "second", "third", "fourth"]);
    expect(bodies[0].previous_response_id).toBeUndefined();
    expect(bodies[1].previous_response_id).toBe(fake.requests[0].responseId);
    expect(bodies[2].previous_response_id).toBeUndefined(); // /clear
    expect(bodies[3].previous_response_id).toBe(fake.requests[2].responseId); // switching agent keeps the conversation
    expect(bodies[3].instructions).toBe("You handle billing.");
  });

  test("the agent that took over through a hand-off answers the next turn", async () => {
    fake.enqueue({ toolCalls: [{ name: "transfer_to_billing", arguments: {} }] }, { text: "Billing here." });
    const res = await klisk(["run", "-i", projectDir()], { env: upstream, input: "refund\nand then?\n" });
    expect(res.stdout).toMatch(/⇢ Assistant handed off to Billing\nBilling here\.\nEcho: and then\?\n/);
    expect(fake.requests[2].body.instructions).toBe("You handle billing.");
  });

  test("with --json, stdout holds only events and notices go to stderr", async () => {
    const res = await klisk(["run", "-i", "--json", projectDir()], { env: upstream, input: "one\n/clear\ntwo\n" });
    expect(res.code).toBe(0);
    const events = res.stdout.trim().split("\n").map((line) => JSON.parse(line));
    expect(events.filter((e) => e.type === "done").map((e) => e.data)).toEqual(["Echo: one", "Echo: two"]);
    expect(res.stderr).toMatch(/Started a new conversation\./);
  });

  test("a message argument is the first turn", async () => {
    const res = await klisk(["run", "-i", "opening", projectDir()], { env: upstream, input: "next\n" });
    expect(res.stdout).toMatch(/Echo: opening\nEcho: next\n/);
  });

  test("Ctrl-C cancels the reply and the chat goes on; Ctrl-C when idle exits", async () => {
    fake.enqueue({ hang: true });
    const chat = startKlisk(["run", "-i", projectDir()], { env: upstream });
    chat.child.stdin.write("wait forever\n");
    await fake.waitForRequests(1, 10000);
    chat.child.kill("SIGINT");
    await chat.waitFor(/\(cancelled\)\n/);
    expect(chat.stderr()).toBe(""); // a cancel is not an error

    chat.child.stdin.write("still here?\n");
    await chat.waitFor(/Echo: still here\?\n/);
    expect(fake.requests[0].aborted).toBe(true);
    // The cancelled turn left the state alone: the next turn continues nothing.
    expect(fake.requests[1].body.previous_response_id).toBeUndefined();

    chat.child.kill("SIGINT");
    const exit = await chat.exited;
    expect(exit.code).toBe(0);
  });

  test("an error event is reported and the chat goes on; the exit code says it happened", async () => {
    fake.enqueue({ httpError: { status: 500, message: "boom" } });
    const res = await klisk(["run", "-i", projectDir()], { env: upstream, input: "one\ntwo\n" });
    expect(res.stderr).toMatch(/Error: .*boom/);
    expect(res.stdout).toMatch(/Echo: two\n/);
    expect(res.code).toBe(1);
  });
});
