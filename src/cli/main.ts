/** The commander table: names, arguments and flags only. Each command's logic lives in its own file. */
import { Command } from "commander";
import { registerCheck } from "./check";
import { registerInit } from "./init";
import { registerRun } from "./run";
import { registerServe } from "./serve";

// Resolved at run time: src/cli (ts-jest) and dist/cli (built) are both two levels below package.json.
const { version } = require("../../package.json") as { version: string };

export function buildProgram(): Command {
  const program = new Command()
    .name("klisk")
    .description("Put an AI agent behind a production HTTP API: REST, SSE and WebSocket.")
    .version(version, "-v, --version", "print the klisk version")
    .showHelpAfterError("(run klisk --help for usage)");
  registerInit(program);
  registerServe(program);
  registerRun(program);
  registerCheck(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync(argv);
}
