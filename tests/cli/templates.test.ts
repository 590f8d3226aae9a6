/**
 * `klisk init --template <name>` through the real binary: every template passes `klisk check`, and a scripted
 * chat (`klisk run --json` against the loopback fake OpenAI) exercises what the template is for. The `tools`
 * template's HTTP tool calls a loopback registry this file starts: nothing reaches the internet.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { TEMPLATES } from "../../src/cli/templates";
import { REPO_ROOT, klisk, runChild, startKlisk } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fakeOpenAI";
import { listFiles, tempDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

let fake: FakeOpenAI;
let upstream: Record<string, string>;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  upstream = fakeUpstreamEnv(fake.url);
});
beforeEach(() => fake.reset());
afterAll(() => fake.close());

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), "utf8");

/** `klisk init <name> --template <template> --no-install` in a new temp dir; returns the project dir. */
async function init(template: string, name = `${template}-app`): Promise<string> {
  const cwd = tempDir();
  const res = await klisk(["init", name, "--template", template, "--no-install"], { cwd });
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return path.join(cwd, name);
}

type Event = { type: string; data: any; state?: any };

/** `klisk run --json MESSAGE DIR`: the events, one per line. */
async function chat(dir: string, message: string, env: Record<string, string> = {}): Promise<Event[]> {
  const res = await klisk(["run", "--json", message, dir], { env: { ...upstream, ...env } });
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return res.stdout.trim().split("\n").map((line) => JSON.parse(line) as Event);
}

const toolNames = (body: any) => (body.tools ?? []).map((t: { name: string }) => t.name).sort();
const results = (events: Event[]) => events.filter((e) => e.type === "tool_result").map((e) => [e.data.tool, e.data.output]);

describe("klisk init --template", () => {
  test("templates.ts lists exactly the directories under templates/", () => {
    const dirs = fs.readdirSync(path.join(__dirname, "../../templates")).sort();
    expect(TEMPLATES.map((t) => t.name).sort()).toEqual(dirs);
    for (const t of TEMPLATES) {
      if (t.base) expect(dirs).toContain(t.base);
      for (const file of t.omit ?? []) expect(fs.existsSync(path.join(__dirname, "../../templates", t.base!, file))).toBe(true);
    }
  });

  test("--help lists the templates", async () => {
    const res = await klisk(["init", "--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/--template <name>/);
    for (const t of TEMPLATES) expect(res.stdout).toMatch(new RegExp(`^  ${t.name}\\s+${t.description.slice(0, 20)}`, "m"));
  });

  test("an unknown template is an error listing the templates, and writes nothing", async () => {
    const cwd = tempDir();
    const res = await klisk(["init", "app", "--template", "nope", "--no-install"], { cwd });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^Error: Unknown template 'nope'\. The templates are:\n  default .*\n  multi-agent .*\n  tools .*\n/);
    expect(fs.existsSync(path.join(cwd, "app"))).toBe(false);
  });

  test("--template default writes the same files as no --template", async () => {
    const plain = await init("default", "same");
    const cwd = tempDir();
    expect((await klisk(["init", "same", "--no-install"], { cwd })).code).toBe(0);
    const files = listFiles(plain);
    expect(listFiles(path.join(cwd, "same"))).toEqual(files);
    for (const file of files.filter((f) => f !== ".env")) expect(read(path.join(cwd, "same"), file)).toBe(read(plain, file));
  });

  test("the other templates share default's files but for src/ and README.md", async () => {
    const base = await init("default", "shared");
    for (const template of ["multi-agent", "tools"]) {
      const dir = await init(template, "shared");
      const files = listFiles(dir);
      expect(files).not.toContain("src/tools/greet.ts");
      for (const file of [".dockerignore", ".env.example", ".gitignore", "Dockerfile", "klisk.config.yaml", "package.json", "tsconfig.json"]) {
        expect(read(dir, file)).toBe(read(base, file));
      }
      expect(read(dir, ".env")).toMatch(/^KLISK_STATE_SECRET=[0-9a-f]{64}$/m);
      for (const file of files) expect(read(dir, file)).not.toMatch(/\{\{\w+\}\}/);
      expect(read(dir, "README.md")).toMatch(/^# shared$/m);
    }
  });

  test.each(TEMPLATES.map((t) => t.name))("%s: klisk check passes, with --model applied to every agent", async (template) => {
    const cwd = tempDir();
    const init = await klisk(["init", "checked", "--template", template, "--model", "gpt-5-mini", "--no-install"], { cwd });
    expect(init.code).toBe(0);
    const res = await klisk(["check", "checked"], { cwd, env: { OPENAI_API_KEY: "sk-test" } });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split("\n").pop()).toMatch(/^✔ checked: \d+ agents?, \d+ tools?, ready to serve\.$/);
    expect(res.stdout).not.toMatch(/gpt-5\.2/);
    expect(read(path.join(cwd, "checked"), "src/main.ts")).toMatch(/model: "gpt-5-mini"/);
  });

  test.each(TEMPLATES.map((t) => t.name))("%s: the project type-checks with its own tsconfig.json", async (template) => {
    // Without --no-install: from this clone, init links it (its dist/*.d.ts from `npm run build`) as node_modules/klisk.
    const cwd = tempDir();
    const created = await klisk(["init", "typed", "--template", template], { cwd });
    expect(created.code).toBe(0);
    const dir = path.join(cwd, "typed");
    const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const res = await runChild(process.execPath, [tsc, "-p", dir]);
    expect(res.stdout + res.stderr).toBe("");
    expect(res.code).toBe(0);
  }, 30_000);
});

describe("scripted chats", () => {
  test("default: the Assistant greets with its tool", async () => {
    const dir = await init("default");
    fake.enqueue({ toolCalls: [{ name: "greet", arguments: { name: "Ada" } }] }, { text: "Hi Ada!" });
    const events = await chat(dir, "I'm Ada");
    expect(results(events)).toEqual([["greet", "Hello, Ada! Welcome aboard."]]);
    expect(events.at(-1)?.type).toBe("done");
  });

  test("multi-agent: Triage hands off to Billing, which looks the invoice up", async () => {
    const dir = await init("multi-agent");
    fake.enqueue(
      { toolCalls: [{ name: "transfer_to_billing", arguments: {} }] },
      { toolCalls: [{ name: "lookup_invoice", arguments: { invoice_id: "inv-1002" } }] },
      { text: "INV-1002 is overdue." },
    );
    const events = await chat(dir, "Is invoice INV-1002 paid?");
    expect(events.filter((e) => e.type === "handoff").map((e) => e.data)).toEqual([{ from: "Triage", to: "Billing" }]);
    const [[tool, output]] = results(events);
    expect(tool).toBe("lookup_invoice");
    expect(JSON.parse(output)).toEqual({ invoice_id: "INV-1002", amount: "$129.00", status: "overdue", due: "2025-02-28" });
    const done = events.at(-1)!;
    expect(done.type).toBe("done");
    expect(done.state.current_agent_name).toBe("Billing");

    // Triage offers both specialists and no tool of its own; Billing gets its tool and the way back.
    expect(toolNames(fake.requests[0].body)).toEqual(["transfer_to_billing", "transfer_to_tech_support"]);
    expect(fake.requests[0].body.instructions).toMatch(/first contact/);
    expect(fake.requests[1].body.instructions).toMatch(/billing specialist/);
    expect(toolNames(fake.requests[1].body)).toEqual(["lookup_invoice", "transfer_to_triage"]);
  });

  test("multi-agent: Triage hands off to Tech Support, which checks the service status", async () => {
    const dir = await init("multi-agent");
    fake.enqueue(
      { toolCalls: [{ name: "transfer_to_tech_support", arguments: {} }] },
      { toolCalls: [{ name: "service_status", arguments: { service: "email" } }] },
      { text: "Email is delayed." },
    );
    const events = await chat(dir, "My emails are late");
    expect(events.filter((e) => e.type === "handoff").map((e) => e.data)).toEqual([{ from: "Triage", to: "Tech Support" }]);
    expect(results(events)).toEqual([["service_status", "email: degraded: outgoing mail is delayed by up to 15 minutes"]]);
    expect(toolNames(fake.requests[1].body)).toEqual(["service_status", "transfer_to_triage"]);
  });

  describe("tools", () => {
    let registry: http.Server;
    let registryUrl: string;
    const seen: Array<{ url: string; closedEarly: boolean }> = [];

    beforeAll(async () => {
      registry = http.createServer((req, res) => {
        const record = { url: req.url ?? "", closedEarly: false };
        seen.push(record);
        res.on("close", () => (record.closedEarly = !res.writableEnded));
        if (req.url === "/@acme%2fwidgets/latest") {
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(JSON.stringify({ name: "@acme/widgets", version: "2.1.0", description: "Widgets", license: "MIT", homepage: "https://example.test" }));
        }
        if (req.url === "/slow/latest") return; // never answers: only an aborted fetch ends this request
        res.writeHead(404).end("{}");
      });
      await new Promise<void>((resolve) => registry.listen(0, "127.0.0.1", resolve));
      registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      registry.closeAllConnections();
      await new Promise((resolve) => registry.close(resolve));
    });
    beforeEach(() => (seen.length = 0));

    test("the HTTP tool, the onError: \"return\" tool and the zod-validated tool", async () => {
      const dir = await init("tools");
      fake.enqueue(
        { toolCalls: [{ name: "package_info", arguments: { name: "@acme/widgets" } }] },
        { toolCalls: [{ name: "package_info", arguments: { name: "missing-pkg" } }] },
        { toolCalls: [{ name: "days_until", arguments: { date: "next tuesday" } }] },
        { toolCalls: [{ name: "days_until", arguments: { date: "2099-01-01" } }] },
        { toolCalls: [{ name: "create_ticket", arguments: { title: "Slow", priority: "urgent" } }] },
        { toolCalls: [{ name: "create_ticket", arguments: { title: "Login page is slow", priority: "high", labels: ["perf"] } }] },
        { text: "Done." },
      );
      const events = await chat(dir, "Go", { PACKAGE_REGISTRY_URL: `${registryUrl}/` });
      expect(events.at(-1)?.type).toBe("done");
      const out = results(events);
      expect(out.map(([tool]) => tool)).toEqual(["package_info", "package_info", "days_until", "days_until", "create_ticket", "create_ticket"]);

      expect(seen.map((r) => r.url)).toEqual(["/@acme%2fwidgets/latest", "/missing-pkg/latest"]);
      expect(JSON.parse(out[0][1])).toEqual({ name: "@acme/widgets", version: "2.1.0", description: "Widgets", license: "MIT", homepage: "https://example.test" });
      expect(out[1][1]).toBe("There is no npm package named missing-pkg.");

      // onError: "return": the throw went back to the model and the run went on.
      expect(out[2][1]).toBe("Tool 'days_until' raised: Error: 'next tuesday' is not a date: use YYYY-MM-DD, e.g. 2030-01-31");
      expect(out[3][1]).toMatch(/^\d+ days until 2099-01-01$/);

      // zod: bad arguments never reach execute; the model is told why.
      expect(out[4][1]).toMatch(/^Invalid arguments for tool 'create_ticket': title: .*; priority: /);
      expect(JSON.parse(out[5][1])).toEqual({ id: "TICKET-1001", title: "Login page is slow", priority: "high", labels: ["perf"], reporter_email: null });

      // The model saw the error as the result of its call, in the request after it.
      const input = fake.requests[3].body.input as any[];
      expect(input.filter((item) => item.type === "function_call_output").map((item) => item.output)).toEqual([out[2][1]]);
    });

    test("the HTTP tool passes ctx.signal to fetch: a run that times out aborts its request", async () => {
      // Through `klisk serve`, which outlives the run: the registry must see the request aborted while the
      // process is still up (an exiting `klisk run` would close the socket whatever the tool did).
      const dir = await init("tools");
      fs.appendFileSync(path.join(dir, "klisk.config.yaml"), "\nlimits:\n  run_timeout_s: 1\n");
      const server = startKlisk(["serve", dir, "--port", "0", "--host", "127.0.0.1"], {
        env: { ...upstream, PACKAGE_REGISTRY_URL: registryUrl },
      });
      try {
        const [, url] = await server.waitFor(/URL: (http:\/\/\S+)/);
        fake.enqueue({ toolCalls: [{ name: "package_info", arguments: { name: "slow" } }] });
        const res = await fetch(`${url}/api/chat`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ message: "slow?", stream: false }),
        });
        expect(res.ok).toBe(false);
        expect(JSON.stringify(await res.json())).toMatch(/time|abort/i);
        expect(seen.map((r) => r.url)).toEqual(["/slow/latest"]);
        await waitFor(() => seen[0].closedEarly, 5000, "the registry request aborted");
        expect(server.child.exitCode).toBeNull(); // still serving: it was the signal that ended the request
      } finally {
        server.child.kill("SIGKILL");
        await server.exited;
      }
    });
  });
});
