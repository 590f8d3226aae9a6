/** mcp_servers in klisk.config.yaml, ${ENV} substitution, and defineAgent's mcpServers / allowedTools. */
import { ConfigError, UserError } from "../../../src/errors";
import { loadConfig, resolveConfig } from "../../../src/project/config";
import { writeProjectDir } from "../../helpers/tmp";
import { substituteEnv } from "../../../src/project/mcp/substitute";
import { defineAgents } from "../../helpers/runner";

const mcp = (servers: unknown) => () => resolveConfig({ mcp_servers: servers }, "t");

test("stdio and Streamable HTTP servers are read with their defaults", () => {
  const config = resolveConfig({ mcp_servers: { fs: { command: "npx", args: ["-y", "server"] }, gh: { url: "https://mcp.example.com/mcp", headers: { Authorization: "Bearer ${GH}" } } } }, "t");
  expect(config.mcp_servers).toEqual({
    fs: { command: "npx", args: ["-y", "server"], env: {}, optional: false },
    gh: { url: "https://mcp.example.com/mcp", headers: { Authorization: "Bearer ${GH}" }, optional: false },
  });
  expect(resolveConfig({}, "t").mcp_servers).toEqual({});
  expect(resolveConfig({ mcp_servers: { x: { url: "${MCP_URL}" } } }, "t").mcp_servers.x).toMatchObject({ url: "${MCP_URL}" });
});

test("a bad server entry names the key and what is accepted", () => {
  expect(mcp({ a: { command: "x", url: "http://y" } })).toThrow("klisk.config.yaml: mcp_servers.a must be a mapping with either command (a stdio server) or url (a Streamable HTTP server), not both (got a mapping)");
  expect(mcp({ a: "node server.js" })).toThrow('mcp_servers.a must be a mapping with either command');
  expect(mcp({ a: { command: "" } })).toThrow("klisk.config.yaml: mcp_servers.a.command must be a non-empty string");
  expect(mcp({ a: { command: "x", args: "y" } })).toThrow("klisk.config.yaml: mcp_servers.a.args must be a list of strings");
  expect(mcp({ a: { url: "ftp://x" } })).toThrow('klisk.config.yaml: mcp_servers.a.url must be an http(s) URL such as https://mcp.example.com/mcp (got "ftp://x")');
  expect(mcp({ a: { url: "http://x", optional: "yes" } })).toThrow("klisk.config.yaml: mcp_servers.a.optional must be true or false");
  expect(mcp({ "a b": { url: "http://x" } })).toThrow(`klisk.config.yaml: mcp_servers: the name "a b" must use only letters`);
  expect(mcp({ a: { url: "http://x" } })).not.toThrow(ConfigError);
});

test("${NAME}, ${NAME:-fallback} and $${ are substituted; an unset name is a ConfigError naming the key", () => {
  const env = { TOKEN: "abc", EMPTY: "" };
  expect(substituteEnv("Bearer ${TOKEN}", "k", env)).toBe("Bearer abc");
  expect(substituteEnv("${EMPTY:-x}-${MISSING:-y}", "k", env)).toBe("x-y");
  expect(substituteEnv("$${TOKEN}", "k", env)).toBe("${TOKEN}");
  expect(() => substituteEnv("${MISSING}", "mcp_servers.a.env.KEY", env)).toThrow(new ConfigError("klisk.config.yaml: mcp_servers.a.env.KEY uses ${MISSING}, which is not set"));
  expect(() => substituteEnv("${not a name}", "k", env)).toThrow(/is not a variable reference/);
});

test("defineAgent takes mcpServers and allowedTools as lists of names", () => {
  const [a, b] = defineAgents({ name: "A", mcpServers: ["fs", "fs"], allowedTools: ["read"] }, { name: "B" });
  expect(a.mcpServers).toEqual(["fs"]);
  expect(a.allowedTools).toEqual(["read"]);
  expect(b.mcpServers).toEqual([]);
  expect(b.allowedTools).toBeUndefined();
  expect(() => defineAgents({ name: "C", mcpServers: "fs" as never })).toThrow(UserError);
  expect(() => defineAgents({ name: "C", allowedTools: [""] })).toThrow("Agent 'C': 'allowedTools' must be a list of MCP tool names");
});

test("an unknown key inside a server entry is a warning with a suggestion", () => {
  const dir = writeProjectDir({ config: "mcp_servers:\n  fs:\n    command: npx\n    argz: [x]\n  gh:\n    url: https://x/mcp\n    header: {}\n" });
  expect(loadConfig(dir).warnings).toEqual([
    "klisk.config.yaml: unknown key 'mcp_servers.fs.argz' (did you mean 'mcp_servers.fs.args'?)",
    "klisk.config.yaml: unknown key 'mcp_servers.gh.header' (did you mean 'mcp_servers.gh.headers'?)",
  ]);
});
