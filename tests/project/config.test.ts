import path from "node:path";
import { ConfigError } from "../../src/errors";
import { editDistance, loadConfig } from "../../src/project/config";
import { writeFiles } from "../helpers/tmp";

/** Loads a klisk.config.yaml with the given text and returns the thrown error (or fails). */
function configError(yaml: string): ConfigError {
  const dir = writeFiles({ "klisk.config.yaml": yaml });
  try {
    loadConfig(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected loadConfig to throw");
}

describe("loadConfig defaults", () => {
  test("no config file: all defaults, name is the directory name", () => {
    const dir = writeFiles();
    const { config, file, warnings } = loadConfig(dir);
    expect(file).toBeNull();
    expect(warnings).toEqual([]);
    expect(config.name).toBe(path.basename(dir));
    expect(config.entry).toBe("src/main.ts");
    expect(config.server).toEqual({});
    expect(config.deploy.api.cors_origins).toEqual(["*"]);
    expect(config.deploy.chat).toEqual({ enabled: true, title: "", welcome_message: "", attachments: true, playground: false, starters: [] });
    expect(config.deploy.widget).toMatchObject({
      enabled: true, color: "#2563eb", position: "bottom-right", width: "380px", height: "560px",
      placeholder: "Type a message...", auto_open: false, bubble_icon: "chat",
    });
    expect(config.providers).toEqual({});
    expect(config.limits).toEqual({
      max_turns: 10, run_timeout_s: 300, max_body_mb: 32, max_pending_body_mb: 128, body_timeout_s: 30, write_stall_s: 30, max_attachment_mb: 20, max_attachments: 10, max_concurrent_runs: 0,
      max_state_kb: 1024, max_message_chars: 100_000, sse_heartbeat_s: 15,
    });
  });

  test("the chat page and the widget both off: no warning", () => {
    const dir = writeFiles({ "klisk.config.yaml": "deploy:\n  chat:\n    enabled: false\n  widget:\n    enabled: false\n" });
    expect(loadConfig(dir).warnings).toEqual([]);
  });

  test("an empty file, or one with empty sections, means defaults", () => {
    for (const yaml of ["", "# only a comment\n", "server:\ndeploy:\n  chat:\n"]) {
      const dir = writeFiles({ "klisk.config.yaml": yaml });
      const { config, file, warnings } = loadConfig(dir);
      expect(file).toBe(path.join(dir, "klisk.config.yaml"));
      expect(warnings).toEqual([]);
      expect(config.name).toBe(path.basename(dir));
      expect(config.deploy.chat.enabled).toBe(true);
    }
  });

  test("the resolved config is deeply frozen", () => {
    const { config } = loadConfig(writeFiles());
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.deploy.widget)).toBe(true);
    expect(Object.isFrozen(config.deploy.api.cors_origins)).toBe(true);
    expect(() => ((config.limits as { max_turns: number }).max_turns = 99)).toThrow(TypeError);
  });
});

test("a full config (Python klisk deploy blocks, providers, limits) loads as written", () => {
  const dir = writeFiles({
    "klisk.config.yaml": `
name: support-bot
entry: agents/main.mjs
server:
  port: 9000
  host: 127.0.0.1
deploy:
  chat:
    enabled: false
    title: Support
    welcome_message: Hi!
    attachments: false
    playground: true
    starters: ["Where is my order?", "I want a refund"]
  widget:
    color: "#ff0000"
    position: bottom-left
    width: 400px
    auto_open: true
    user_message_color: "#00ff00"
    header_color: "#111111"
    bubble_icon: help
  api:
    cors_origins: ["https://example.com"]
providers:
  local:
    base_url: http://localhost:11434/v1
    api: responses
    headers: { X-Team: core }
  corp:
    base_url: https://llm.corp.example/v1
    api_key_env: CORP_KEY
limits:
  max_turns: 3
  run_timeout_s: 12.5
  max_concurrent_runs: 4
`,
  });
  const { config, warnings } = loadConfig(dir);
  // The widget embeds the chat page, so turning the page off turns the widget off too: said, not silent.
  expect(warnings).toEqual([
    "klisk.config.yaml: deploy.chat.enabled is false, so /widget.js is off too (the widget embeds the chat page). Set deploy.widget.enabled: false to say so and silence this warning.",
  ]);
  expect(config.name).toBe("support-bot");
  expect(config.entry).toBe("agents/main.mjs");
  expect(config.server).toEqual({ port: 9000, host: "127.0.0.1" });
  expect(config.deploy.chat).toEqual({ enabled: false, title: "Support", welcome_message: "Hi!", attachments: false, playground: true,
    starters: ["Where is my order?", "I want a refund"],
  });
  expect(config.deploy.widget).toEqual({
    enabled: true, color: "#ff0000", position: "bottom-left", width: "400px", height: "560px", welcome_message: "",
    placeholder: "Type a message...", auto_open: true, user_message_color: "#00ff00", header_color: "#111111", bubble_icon: "help",
  });
  expect(config.deploy.api.cors_origins).toEqual(["https://example.com"]);
  expect(config.providers).toEqual({
    local: { base_url: "http://localhost:11434/v1", api: "responses", headers: { "X-Team": "core" } },
    corp: { base_url: "https://llm.corp.example/v1", api_key_env: "CORP_KEY", api: "chat", headers: {} },
  });
  expect(config.limits).toMatchObject({ max_turns: 3, run_timeout_s: 12.5, max_concurrent_runs: 4, max_body_mb: 32 });
});

describe("bad values name the file, the key path and what is accepted", () => {
  test.each([
    ["server:\n  port: abc\n", 'klisk.config.yaml: server.port must be an integer between 1 and 65535 (got "abc")'],
    ["server:\n  port: 70000\n", "klisk.config.yaml: server.port must be an integer between 1 and 65535 (got 70000)"],
    ["limits:\n  max_turns: 0\n", "klisk.config.yaml: limits.max_turns must be an integer >= 1 (got 0)"],
    ["limits:\n  run_timeout_s: -1\n", "klisk.config.yaml: limits.run_timeout_s must be a number greater than 0 (got -1)"],
    ["deploy:\n  chat:\n    enabled: yes please\n", 'klisk.config.yaml: deploy.chat.enabled must be true or false (got "yes please")'],
    ["deploy:\n  api:\n    cors_origins: [1]\n", "klisk.config.yaml: deploy.api.cors_origins[0] must be a string (got 1)"],
    ["deploy: 3\n", "klisk.config.yaml: deploy must be a mapping of keys (got 3)"],
    ["providers:\n  x:\n    base_url: ftp://x\n", 'klisk.config.yaml: providers.x.base_url must be an http(s) URL such as https://api.example.com/v1 (got "ftp://x")'],
    ["providers:\n  x:\n    base_url: http://x\n    api: soap\n", 'klisk.config.yaml: providers.x.api must be "chat" or "responses" (got "soap")'],
    ["- a\n- b\n", "klisk.config.yaml must contain a mapping of keys (got a list)"],
    ["limits:\n  max_state_kb: 0\n", "klisk.config.yaml: limits.max_state_kb must be a number greater than 0 (got 0)"],
    ["limits:\n  max_message_chars: 1.5\n", "klisk.config.yaml: limits.max_message_chars must be an integer >= 1 (got 1.5)"],
    ["limits:\n  rate_limit: 10\n", "klisk.config.yaml: limits.rate_limit must be a mapping with window_s and max (got 10)"],
    ["limits:\n  rate_limit:\n    window_s: 60\n    max: 0\n", "klisk.config.yaml: limits.rate_limit.max must be an integer >= 1 (got 0)"],
    ["deploy:\n  chat:\n    starters: Hi\n", 'klisk.config.yaml: deploy.chat.starters must be a list of at most 6 prompts (strings) (got "Hi")'],
    ["deploy:\n  chat:\n    starters: [\"  \"]\n", 'klisk.config.yaml: deploy.chat.starters[0] must be a non-empty string of at most 200 characters (got "  ")'],
    [`deploy:\n  chat:\n    starters: [ok, ${"x".repeat(201)}]\n`, `klisk.config.yaml: deploy.chat.starters[1] must be a non-empty string of at most 200 characters (got "${"x".repeat(201)}")`],
    ["deploy:\n  chat:\n    starters: [a, b, c, d, e, f, g]\n", "klisk.config.yaml: deploy.chat.starters must be a list of at most 6 prompts (got a list)"],
    ["server:\n  trust_proxy: [1]\n", 'klisk.config.yaml: server.trust_proxy must be true/false, a number of hops, or addresses such as "loopback" (got a list)'],
  ])("%j", (yaml, message) => {
    expect(configError(yaml).message).toBe(message);
  });

  test("every bad value is reported at once", () => {
    const { message } = configError("server:\n  port: 0\nlimits:\n  max_attachments: 1.5\n");
    expect(message.split("\n")).toEqual([
      "klisk.config.yaml: server.port must be an integer between 1 and 65535 (got 0)",
      "klisk.config.yaml: limits.max_attachments must be an integer >= 0 (got 1.5)",
    ]);
  });

  test("a provider name with '/' is rejected (models are named provider/model)", () => {
    expect(configError("providers:\n  a/b:\n    base_url: http://x\n").message).toMatch(/^klisk\.config\.yaml: providers: the name "a\/b" must use only/);
  });
});

test("invalid YAML names the file, line and column", () => {
  const { message } = configError("name: bot\nserver:\n  port: 8080\n  host: [oops\n");
  expect(message).toMatch(/^klisk\.config\.yaml:\d+:\d+: Invalid YAML: /);
  expect(configError("name: bot\nkey: value\n  bad: indent\n").message).toMatch(/^klisk\.config\.yaml:2:\d+: Invalid YAML: /);
});

/** The "billion laughs": each level aliases the one before nine times, 9^6 strings once expanded. */
const ALIAS_BOMB = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]", ..."bcdef".split("").map((k, i) => {
  const prev = "abcdef"[i];
  return `${k}: &${k} [${Array(9).fill(`*${prev}`).join(", ")}]`;
}), ""].join("\n");

test("an alias bomb is a ConfigError naming the file, not yaml's ReferenceError", () => {
  expect(configError(ALIAS_BOMB).message).toMatch(/^klisk\.config\.yaml: Invalid YAML: too many aliases \(Excessive alias count/);
});

describe("unknown keys are warnings with a suggestion", () => {
  test("at every level of the schema, including inside a provider", () => {
    const dir = writeFiles({
      "klisk.config.yaml": [
        "server:", "  prot: 8080", "deploy:", "  widget:", "    colour: red",
        "providers:", "  x:", "    base_url: http://x", "    apikey_env: K", "totally_unrelated: 1", "",
      ].join("\n"),
    });
    const { config, warnings } = loadConfig(dir);
    expect(warnings).toEqual([
      "klisk.config.yaml: unknown key 'server.prot' (did you mean 'server.port'?)",
      "klisk.config.yaml: unknown key 'deploy.widget.colour' (did you mean 'deploy.widget.color'?)",
      "klisk.config.yaml: unknown key 'providers.x.apikey_env' (did you mean 'providers.x.api_key_env'?)",
      "klisk.config.yaml: unknown key 'totally_unrelated' (known keys: name, entry, server, deploy, providers, mcp_servers, limits)",
    ]);
    expect(config.server).toEqual({}); // the misspelt key is not applied
  });

  test("the Python klisk's studio/api keys load with a warning, not an error", () => {
    const dir = writeFiles({ "klisk.config.yaml": "studio:\n  port: 3000\napi:\n  port: 8321\n" });
    const { warnings } = loadConfig(dir);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/'api' is a Python klisk setting and is ignored \(set the port with 'server.port'\)/);
  });

  test("edit distance counts a swap of neighbours as one edit", () => {
    expect(editDistance("prot", "port")).toBe(1);
    expect(editDistance("colour", "color")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
  });
});

test("hardening limits and server.trust_proxy load as written", () => {
  const dir = writeFiles({
    "klisk.config.yaml": "server:\n  trust_proxy: loopback\nlimits:\n  max_state_kb: 64\n  ws_max_payload_mb: 2\n  sse_heartbeat_s: 5\n  rate_limit:\n    window_s: 60\n    max: 100\n",
  });
  const { config, warnings } = loadConfig(dir);
  expect(warnings).toEqual([]);
  expect(config.server.trust_proxy).toBe("loopback");
  expect(config.limits).toMatchObject({ max_state_kb: 64, ws_max_payload_mb: 2, sse_heartbeat_s: 5, rate_limit: { window_s: 60, max: 100 } });
});
