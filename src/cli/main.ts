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
  exitQuietlyOnClosedPipe(process.stdout);
  exitQuietlyOnClosedPipe(process.stderr);
  const program = buildProgram();
  await program.parseAsync(withoutHelpAfterUnknownCommand(program, argv));
}

/**
 * `klisk servee --help` must say that the command is unknown (with "did you mean"), as `klisk servee` does:
 * left in, the --help would print the top-level help and exit 0, so a typo in a script passes unnoticed.
 */
function withoutHelpAfterUnknownCommand(program: Command, argv: string[]): string[] {
  const first = argv[2];
  if (first === undefined || first.startsWith("-") || first === "help") return argv;
  if (program.commands.some((command) => command.name() === first || command.aliases().includes(first))) return argv;
  return argv.filter((arg, i) => i < 3 || (arg !== "--help" && arg !== "-h"));
}

/**
 * `klisk check | head -1`: once the reader has gone there is nobody left to tell anything, so we stop quietly,
 * as a C tool dies of SIGPIPE (which Node ignores, turning it into an EPIPE error with a stack).
 */
function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err; // anything else stays the failure it was
  });
}
