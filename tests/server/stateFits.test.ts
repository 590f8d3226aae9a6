/** A state the server returns is always one it accepts back, however large the turn's items were. */
import { tool } from "../../src/index";
import type { RunningServer } from "../../src/server/listen";
import { json, makeProject, postChat, serve, useFakeOpenAI } from "../helpers/project";

const fake = useFakeOpenAI({ env: { KLISK_STATE_SECRET: "fits-secret" } });

const big = tool({ name: "big", execute: () => "y".repeat(1_500_000) });

async function withServer(configYaml: string, fn: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await serve(makeProject([{ name: "Assistant", tools: [big] }], configYaml));
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

async function turn(server: RunningServer, body: object): Promise<{ status: number; body: any }> {
  const res = await postChat(server.url, { stream: false, ...body });
  return { status: res.status, body: await json(res) };
}

test.each([
  ["the default max_state_kb", "", 1024],
  ["a small max_state_kb", "limits:\n  max_state_kb: 20\n", 20],
])("a 1.5 MB tool output under %s: the signed state fits, is accepted back, and shows what was cut", (_name, config, limitKb) =>
  withServer(config, async (server) => {
    fake().enqueue({ toolCalls: [{ name: "big", arguments: {} }] }, { text: "z".repeat(300_000) });
    const first = await turn(server, { message: "fetch it" });
    expect(first.status).toBe(200);
    expect(Buffer.byteLength(JSON.stringify(first.body.state))).toBeLessThanOrEqual(limitKb * 1024);
    const text = JSON.stringify(first.body.state.conversation_history);
    expect(text).toMatch(/… \[truncated \d+ characters\]/);
    expect(first.body.state.conversation_history.at(-1)).toMatchObject({ role: "assistant" });

    const second = await turn(server, { message: "and now?", state: first.body.state });
    expect(second.status).toBe(200);
    expect(second.body.response).toBe("Echo: and now?");
  }),
);
