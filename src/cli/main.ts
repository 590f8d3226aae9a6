/**
 * The commander table: names, arguments, flags and help texts. Each command's logic lives in its own file,
 * loaded only when that command runs (as Vite's CLI does): `klisk --version` and `klisk --help` load
 * commander and little else, not the project loader, zod or the server.
 */
import { Command } from "commander";
import { LOG_LEVELS } from "../log";
import type { InitFlags } from "./init";
import type { RunFlags } from "./run";
import type { ServeFlags } from "./serve";
import { DEFAULT_TEMPLATE, templateList } from "./templates";

// Resolved at run time: src/cli (ts-jest) and dist/cli (built) are both two levels below package.json.
const { version } = require("../../package.json") as { version: string };

/**
 * Defaults the help shows. Each belongs to the code that applies it (sdk/agent.ts, serve.ts,
 * server/listen.ts), which is what --help must not load; tests/cli/main.test.ts checks that they agree.
 * The model is also commander's default for `init --model`.
 */
const DEFAULT_MODEL = "gpt-5.2";
const DEFAULT_PORT = 8080;
const DEFAULT_HOST = "0.0.0.0";
const DEFAULT_SHUTDOWN_TIMEOUT_S = 10;

export function buildProgram(): Command {
  const program = new Command()
    .name("klisk")
    .description("Put an AI agent behind a production HTTP API: REST, SSE and WebSocket.")
    .version(version, "-v, --version", "print the klisk version")
    .showHelpAfterError("(run klisk --help for usage)");

  program
    .command("init")
    .description("Create a new agent project")
    .argument("[dir]", "directory to create the project in", ".")
    .option("--name <name>", "project name, a valid npm package name (default: the directory name)")
    .option("--model <model>", "model of the template's agents", DEFAULT_MODEL)
    .option("--template <name>", "project template, one of those listed below", DEFAULT_TEMPLATE)
    .option("--force", "write into a non-empty directory, overwriting template files (never .env)")
    .option("--no-install", "skip `npm install` (from a clone of klisk: skip linking it into node_modules)")
    .addHelpText("after", `\nTemplates:\n${templateList()}`)
    .action(async (dir: string, opts: InitFlags) => (await import("./init")).initCommand(dir, opts));

  program
    .command("serve")
    .description("Serve the project's agents over HTTP (REST + SSE) and WebSocket")
    .argument("[dir]", "project directory", ".")
    .option("-p, --port <n>", `port to listen on (default: $PORT, server.port, then ${DEFAULT_PORT})`)
    .option("--host <h>", `host to bind (default: $HOST, server.host, then ${DEFAULT_HOST})`)
    .option("--shutdown-timeout <s>", `on SIGTERM/SIGINT, seconds runs in progress get to finish (default: ${DEFAULT_SHUTDOWN_TIMEOUT_S})`)
    .option("--log-level <level>", `${LOG_LEVELS.join("|")} (default: $KLISK_LOG_LEVEL, then info)`)
    .option("--workers <n>", "processes sharing the port, restarted if they crash: a number, or auto for one per core (default: 1)")
    .action(async (dir: string, opts: ServeFlags) => (await import("./serve")).serveCommand(dir, opts));

  const dev = program
    .command("dev")
    .description("Serve like `klisk serve` and reload the project in place on every change (sources, config, .env)")
    .argument("[dir]", "project directory", ".")
    .action(async (dir: string, opts: ServeFlags) => (await import("./dev")).devCommand(dir, opts));
  // The same flags as serve (--workers is refused: dev is one process).
  for (const option of program.commands.find((command) => command.name() === "serve")?.options ?? []) dev.addOption(option);

  program
    .command("run")
    .description("Chat with an agent in the terminal")
    .argument("[message]", "message to send; '-' or none reads it from stdin (a pipe)")
    .argument("[dir]", "project directory", ".")
    .option("--agent <name>", "agent to talk to (default: the first agent)")
    .option("-i, --interactive", "multi-turn chat: /clear, /agent NAME, /exit; Ctrl-C cancels a reply")
    .option("--json", "print one JSON event per line (the SSE events)")
    .action(async (message: string | undefined, dir: string, opts: RunFlags) => (await import("./run")).runCommand(message, dir, opts));

  program
    .command("check")
    .description("Validate the config, load the agents and report problems")
    .argument("[dir]", "project directory", ".")
    .action(async (dir: string) => (await import("./check")).checkCommand(dir));

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
