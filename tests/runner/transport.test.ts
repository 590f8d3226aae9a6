/**
 * The upstream transport (runner/models/transport.ts) seen from the wire: keep-alive reuse, the bound on
 * connections per origin (limits.upstream_connections), HTTP(S)_PROXY, and a dispatcher installed with
 * undici's setGlobalDispatcher. Every run goes through the real openai SDK to the loopback fake.
 */
import http from "node:http";
import net from "node:net";
import { ProxyAgent, getGlobalDispatcher, setGlobalDispatcher } from "undici";
import { useFakeOpenAI } from "../helpers/project";
import { collectEvents, defineAgents, doneOf, memoryProject } from "../helpers/runner";

const fake = useFakeOpenAI();

/** A TCP relay in front of the fake: counts the connections klisk opens and how many are open at once. */
async function startRelay(targetUrl: string) {
  const target = new URL(targetUrl);
  const stats = { opened: 0, open: 0, maxOpen: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    stats.opened++;
    stats.maxOpen = Math.max(stats.maxOpen, ++stats.open);
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const close = () => {
      if (sockets.delete(client)) stats.open--;
      client.destroy();
      upstream.destroy();
      sockets.delete(upstream);
    };
    client.pipe(upstream).pipe(client);
    client.on("close", close).on("error", close);
    upstream.on("close", close).on("error", close);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    stats,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A forward HTTP proxy (absolute-form requests and CONNECT tunnels), recording what it forwarded. */
async function startForwardProxy() {
  const forwarded: string[] = [];
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    forwarded.push(`${req.method} ${req.url}`);
    const out = http.request(req.url!, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    forwarded.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(":");
    const upstream = net.connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    tunnels.add(client).add(upstream);
    const close = () => (client.destroy(), upstream.destroy());
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    forwarded,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      for (const socket of tunnels) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

function run(message: string, limits: Record<string, number> = {}, stream?: boolean) {
  return collectEvents({ project: memoryProject(defineAgents({ name: "A", model: "gpt-5.2" }), { limits }), message, stream });
}

/** Each test gets its own connection bound, so its pool is its own (pools are kept per bound and proxy). */
let bound = 100;

describe("through a relay that counts connections", () => {
  let relay: Awaited<ReturnType<typeof startRelay>>;
  beforeEach(async () => {
    relay = await startRelay(fake().url);
    process.env.OPENAI_BASE_URL = relay.url;
  });
  afterEach(async () => {
    process.env.OPENAI_BASE_URL = fake().url;
    await relay.close();
  });

  test("sequential runs reuse keep-alive connections, streamed or not", async () => {
    const limits = { upstream_connections: ++bound };
    for (let i = 0; i < 6; i++) expect(doneOf(await run(`hi ${i}`, limits, i % 2 === 0)).data).toBe(`Echo: hi ${i}`);
    expect(fake().requests).toHaveLength(6);
    // A streamed answer's last bytes may still be arriving when the next call starts, so that call may open
    // a second connection; a cancelled body would instead cost one connection per streamed run.
    expect(relay.stats.opened).toBeLessThanOrEqual(2);
  });

  test("limits.upstream_connections bounds the connections per origin; calls beyond it wait, and all finish", async () => {
    const limits = { upstream_connections: 2 };
    for (let i = 0; i < 6; i++) fake().enqueue({ text: `answer ${i} of several words`, delayMs: 20 });
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => run(`q${i}`, limits)));
    expect(answers.map((events) => doneOf(events).data).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `answer ${i} of several words`));
    expect(relay.stats.maxOpen).toBe(2);
  });

  test("without the setting, max_concurrent_runs is the bound", async () => {
    const limits = { max_concurrent_runs: 3 };
    for (let i = 0; i < 6; i++) fake().enqueue({ text: `answer ${i}`, delayMs: 20 });
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => run(`q${i}`, limits)));
    expect(answers.every((events) => events.at(-1)!.type === "done")).toBe(true);
    expect(relay.stats.maxOpen).toBe(3);
  });
});

/** undici's proxy agents tunnel (CONNECT) to the upstream's host, plain HTTP included. */
const viaProxy = () => `CONNECT ${new URL(fake().url).host}`;

describe("proxies", () => {
  let proxy: Awaited<ReturnType<typeof startForwardProxy>>;
  beforeEach(async () => {
    proxy = await startForwardProxy();
  });
  afterEach(async () => {
    delete process.env.HTTP_PROXY;
    await proxy.close();
  });

  test("HTTP_PROXY set in the environment carries the upstream calls", async () => {
    process.env.HTTP_PROXY = proxy.url;
    expect(doneOf(await run("via env", { upstream_connections: ++bound })).data).toBe("Echo: via env");
    expect(proxy.forwarded).toEqual([viaProxy()]);
    delete process.env.HTTP_PROXY;
    expect(doneOf(await run("direct", { upstream_connections: bound })).data).toBe("Echo: direct");
    expect(proxy.forwarded).toHaveLength(1);
  });

  test("a ProxyAgent installed with undici's setGlobalDispatcher is used", async () => {
    const previous = getGlobalDispatcher();
    const agent = new ProxyAgent(proxy.url);
    setGlobalDispatcher(agent);
    try {
      expect(doneOf(await run("via global", { upstream_connections: ++bound })).data).toBe("Echo: via global");
      expect(proxy.forwarded).toEqual([viaProxy()]);
    } finally {
      setGlobalDispatcher(previous);
      await agent.close();
    }
  });
});
