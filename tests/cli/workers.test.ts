/**
 * `klisk serve --workers 2`: two processes share the port and nothing else. A conversation whose turns
 * alternate between the workers continues as if one server answered (its state travels with the client),
 * a worker that dies is replaced, and SIGTERM to the primary drains both and exits 0.
 */
import http from "node:http";
import { startKlisk, stopChildren, type Child } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", model: "gpt-5.2" });\n';
let cli: Child | undefined;

afterEach(stopChildren);

interface Reply {
  status: number;
  worker: string;
  body: string;
}

/** One request on `agent`: keep-alive with one socket, so every request of an agent reaches the same worker. */
function request(url: string, agent: http.Agent, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${url}${path}`, { method, agent, headers: data ? { "content-type": "application/json" } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, worker: String(res.headers["x-klisk-worker"]), body: text }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

/** Opens connections until one reaches each of `count` distinct workers (none of `exclude`): one agent per worker id. */
async function agentPerWorker(url: string, count: number, exclude: string[] = []): Promise<Map<string, http.Agent>> {
  const agents = new Map<string, http.Agent>();
  const deadline = Date.now() + 15_000;
  while (agents.size < count) {
    if (Date.now() > deadline) throw new Error(`only reached workers ${[...agents.keys()]} (excluding ${exclude})`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const { status, worker, body } = await request(url, agent, "GET", "/health");
    // 503 "starting" until every worker listens (see the test below).
    expect(status === 200 || (status === 503 && JSON.parse(body).status === "starting")).toBe(true);
    if (status !== 200 || agents.has(worker) || exclude.includes(worker)) {
      agent.destroy();
      await new Promise((r) => setTimeout(r, 50)); // the other worker may still be starting
    } else {
      agents.set(worker, agent);
    }
  }
  return agents;
}

test("turns alternate between two workers and the conversation carries on; a dead worker is replaced; SIGTERM drains both", async () => {
  // (the first worker starts alone, then the second: two start-ups in a row)
  const dir = writeProjectDir({ config: "name: scaled\n", entry: ENTRY });
  cli = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1", "--workers", "2"], {
    env: { ...fakeUpstreamEnv(fake().url), KLISK_LOG_LEVEL: "info" },
  });
  const [, url] = await cli.waitFor(/URL: (http:\/\/\S+)/);
  expect(cli.stdout()).toMatch(/Workers: 2/);
  // One banner for the cluster, not one per worker.
  expect(cli.stdout().match(/is running/g)).toHaveLength(1);

  const agents = await agentPerWorker(url, 2);
  const [first, second] = [...agents.keys()];
  let state: unknown;
  const served: string[] = [];
  for (const [turn, worker] of [first, second, first, second].entries()) {
    const stream = turn === 3; // the last turn over SSE: it carries the state too
    const reply = await request(url, agents.get(worker)!, "POST", "/api/chat", { message: `turn ${turn}`, stream, state });
    expect(reply.status).toBe(200);
    served.push(reply.worker);
    if (stream) {
      const events = reply.body.split("\n\n").filter((f) => f.startsWith("data: {")).map((f) => JSON.parse(f.slice(6)));
      expect(events.at(-1)).toMatchObject({ type: "done", data: `Echo: turn ${turn}` });
      state = events.at(-1).state;
    } else {
      const body = JSON.parse(reply.body);
      expect(body.response).toBe(`Echo: turn ${turn}`);
      state = body.state;
    }
  }
  expect(served).toEqual([first, second, first, second]);
  // Every turn after the first continued the previous one, whichever worker had answered it.
  const calls = fake().requests.filter((r) => r.path === "/v1/responses");
  expect(calls).toHaveLength(4);
  for (let i = 1; i < calls.length; i++) expect(calls[i].body.previous_response_id).toBe(calls[i - 1].responseId);
  expect((state as { conversation_history: unknown[] }).conversation_history).toHaveLength(8);

  // Kill one worker: the primary starts a new one (a new id) and it serves the next turn.
  const pids = JSON.parse(cli.stderr().split("\n").find((line) => line.includes("All workers ready"))!).workerPids as number[];
  expect(pids).toHaveLength(2);
  for (const agent of agents.values()) agent.destroy();
  process.kill(pids[0], "SIGKILL");
  // Probe once the replacement is up: a connection handed to the dying worker would hang, as for any crash.
  await waitFor(() => cli!.stderr().split("All workers ready").length === 3, 15_000, "a replacement worker");
  const [replacement, agent] = [...(await agentPerWorker(url, 1, [first, second]))][0];
  const reply = await request(url, agent, "POST", "/api/chat", { message: "after the crash", stream: false, state });
  expect(JSON.parse(reply.body)).toMatchObject({ response: "Echo: after the crash" });
  expect(reply.worker).toBe(replacement);
  agent.destroy();
  expect(cli.stderr()).toMatch(/Worker died; starting a new one/);

  cli.child.kill("SIGTERM");
  expect(await cli.exited).toEqual({ code: 0, signal: null });
  for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
});

test("--workers rejects a bad value", async () => {
  cli = startKlisk(["serve", writeProjectDir({ entry: ENTRY }), "--workers", "0"]);
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr()).toMatch(/Invalid --workers "0"/);
});

test("a project that fails to load is reported once and the primary exits 1 without retrying", async () => {
  const dir = writeProjectDir({ entry: "export const broken = ;\n" });
  cli = startKlisk(["serve", dir, "--port", "0", "--workers", "3"], { env: { KLISK_LOG_LEVEL: "info" } });
  expect((await cli.exited).code).toBe(1);
  expect(cli.stderr().match(/Syntax error/g)).toHaveLength(1);
  expect(cli.stderr()).toMatch(/A worker failed to start; stopping/);
});

test("/health says 503 starting until every worker listens, so the first burst is not sent to one worker", async () => {
  const dir = writeProjectDir({ config: "name: starting\n", entry: ENTRY });
  cli = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1", "--workers", "2"], {
    env: { ...fakeUpstreamEnv(fake().url), KLISK_LOG_LEVEL: "info" },
  });
  const [, url] = await cli.waitFor(/URL: (http:\/\/\S+)/);
  // The first worker listens (it printed the banner) while the second starts.
  const early = await request(url, new http.Agent(), "GET", "/health");
  expect([early.status, JSON.parse(early.body)]).toEqual([503, { status: "starting" }]);
  await waitFor(() => cli!.stderr().includes("All workers ready"), 15_000, "all workers ready");
  const agents = await agentPerWorker(url, 2);
  for (const agent of agents.values()) {
    expect((await request(url, agent, "GET", "/health")).status).toBe(200);
    agent.destroy();
  }
});
