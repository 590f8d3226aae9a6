/** `klisk serve --workers 2` with metrics on: a scrape reaching either worker shows both workers' series, summed. */
import http from "node:http";
import { startKlisk, stopChildren } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();
const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", model: "gpt-5.2" });\n';

afterEach(stopChildren);

/** One request on a fresh connection (no keep-alive), so the cluster hands each to a worker in turn. */
function request(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; worker: string; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${url}${path}`, { method, agent: false, headers: data ? { "content-type": "application/json" } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, worker: String(res.headers["x-klisk-worker"]), body: text }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

const runsDone = (text: string) => Number(/^klisk_runs_total\{agent="Assistant",outcome="done"\} (\d+)$/m.exec(text)?.[1]);

test("a scrape of either worker counts the runs of both", async () => {
  const dir = writeProjectDir({ config: "deploy:\n  metrics:\n    enabled: true\n", entry: ENTRY });
  const cli = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1", "--workers", "2"], {
    env: { ...fakeUpstreamEnv(fake().url), KLISK_LOG_LEVEL: "info" },
  });
  const [, url] = await cli.waitFor(/URL: (http:\/\/\S+)/);
  await waitFor(() => cli.stderr().includes("All workers ready"), 15_000, "all workers ready");

  const served = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const reply = await request(url, "POST", "/api/chat", { message: `turn ${i}`, stream: false });
    expect(reply.status).toBe(200);
    served.add(reply.worker);
  }
  expect(served.size).toBe(2);

  const scrapedBy = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const scrape = await request(url, "GET", "/metrics");
    expect(scrape.status).toBe(200);
    expect(runsDone(scrape.body)).toBe(6);
    scrapedBy.add(scrape.worker);
  }
  expect(scrapedBy.size).toBe(2);

  cli.child.kill("SIGTERM");
  expect((await cli.exited).code).toBe(0);
});
