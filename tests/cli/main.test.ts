/** The commander table: --version, --help, unknown commands. Spawns bin/klisk.js (built by pretest). */
import fs from "node:fs";
import path from "node:path";
import { startKlisk } from "../helpers/cli";

const { version } = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../package.json"), "utf8"));

test("--version prints the package version", async () => {
  const cli = startKlisk(["--version"]);
  expect((await cli.exited).code).toBe(0);
  expect(cli.stdout().trim()).toBe(version);
});

test("--help lists the commands", async () => {
  const cli = startKlisk(["--help"]);
  expect((await cli.exited).code).toBe(0);
  expect(cli.stdout()).toMatch(/Usage: klisk/);
  for (const command of ["init", "serve", "run", "check"]) expect(cli.stdout()).toMatch(new RegExp(`\\b${command}\\b`));
});

test("serve --help shows its flags", async () => {
  const cli = startKlisk(["serve", "--help"]);
  expect((await cli.exited).code).toBe(0);
  expect(cli.stdout()).toMatch(/--port <n>/);
  expect(cli.stdout()).toMatch(/--host <h>/);
});

test("the help shows the defaults the commands apply", async () => {
  // main.ts restates them so that --help need not load the modules that own them.
  const { DEFAULT_MODEL } = await import("../../src/sdk/agent");
  const { DEFAULT_HOST, DEFAULT_PORT } = await import("../../src/cli/serve");
  const { DEFAULT_SHUTDOWN_TIMEOUT_S } = await import("../../src/server/listen");
  const help = async (command: string) => {
    const cli = startKlisk([command, "--help"]);
    expect((await cli.exited).code).toBe(0);
    return cli.stdout().replace(/\s+/g, " "); // as one line: commander wraps at 80 columns
  };
  expect(await help("init")).toContain(`--model <model> model of the template's agents (default: "${DEFAULT_MODEL}")`);
  const serve = await help("serve");
  expect(serve).toContain(`server.port, then ${DEFAULT_PORT})`);
  expect(serve).toContain(`server.host, then ${DEFAULT_HOST})`);
  expect(serve).toContain(`seconds runs in progress get to finish (default: ${DEFAULT_SHUTDOWN_TIMEOUT_S})`);
});

test("an unknown command exits non-zero with a hint", async () => {
  const cli = startKlisk(["frobnicate"]);
  expect((await cli.exited).code).not.toBe(0);
  expect(cli.stderr()).toMatch(/unknown command 'frobnicate'/);
});

test.each([["servee", "--help"], ["servee", "-h"], ["frobnicate", "dir", "--help"]])(
  "an unknown command is an error whether or not --help follows: klisk %s %s",
  async (...args) => {
    const cli = startKlisk(args);
    expect((await cli.exited).code).toBe(1);
    expect(cli.stdout()).toBe("");
    expect(cli.stderr()).toMatch(new RegExp(`unknown command '${args[0]}'`));
    if (args[0] === "servee") expect(cli.stderr()).toMatch(/Did you mean serve\?/);
  },
);
