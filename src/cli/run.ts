/** `klisk run ["message"] [dir]`: chat with a project's agent from the terminal, over the server's runner. */
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { ConfigError } from "../errors";
import { loadProject } from "../project/load";
import type { Project } from "../project/project";
import type { ChatEvent, ChatState } from "../runner/events";
import { runChat } from "../runner/run";
import { eventRenderer, exitWhenFlushed, printWarnings, reportError, styleFor } from "./output";
import { withWireUsage } from "../server/usage";
import { processTracing, stopTracing } from "../server/tracing/tracing";

export interface RunOptions {
  cwd: string;
  message?: string;
  dir?: string;
  agent?: string;
  interactive?: boolean;
  json?: boolean;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

/** The flags of `klisk run`, as commander parses them (they are declared in main.ts). */
export interface RunFlags {
  agent?: string;
  interactive?: boolean;
  json?: boolean;
}

/** What `klisk run ["message"] [dir]` runs. */
export async function runCommand(message: string | undefined, dir: string, opts: RunFlags): Promise<void> {
  exitWhenFlushed(await run({ cwd: process.cwd(), message, dir, ...opts }));
}

/** Returns the exit code: 1 when the run ends with an error event or the project does not load. */
export async function run(options: RunOptions): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stderr = options.stderr ?? process.stderr;
  let { message, dir } = options;
  const interactive = options.interactive === true || (message === undefined && stdin.isTTY === true);
  // `klisk run -i my-agent`: with -i the only argument may be the project directory.
  if (interactive && message !== undefined && (dir === undefined || dir === ".") && isDirectory(options.cwd, message)) {
    [message, dir] = [undefined, message];
  }
  let project: Project | undefined;
  try {
    project = await loadProject(path.resolve(options.cwd, dir ?? "."));
    printWarnings(project.warnings, stderr);
    if (options.agent !== undefined && !project.agents.some((a) => a.name === options.agent)) {
      throw new ConfigError(`Unknown agent '${options.agent}'. Available agents: ${agentNames(project)}`);
    }
    if (interactive) return await chatLoop(project, { ...options, message });
    if (message === undefined || message === "-") message = (await readAll(stdin)).trim();
    if (!message) throw new ConfigError('Nothing to send: pass a message (klisk run "Hello"), pipe one in, or use -i.');
    const sink = eventSink(options);
    const ok = await runTurn(project, { message, agentName: options.agent }, sink);
    return ok ? 0 : 1;
  } catch (err) {
    return reportError(err, stderr);
  } finally {
    await project?.mcp?.close(); // MCP servers' child processes end with the command
    await stopTracing(); // the spans still buffered go out before the process exits
  }
}

type Sink = (event: ChatEvent) => boolean;

/** --json prints the events as the SSE stream carries them; otherwise the human renderer. */
function eventSink(options: RunOptions): Sink & { finish(): void } {
  const stdout = options.stdout ?? process.stdout;
  if (options.json) {
    return Object.assign((event: ChatEvent) => (stdout.write(`${JSON.stringify(withWireUsage(event))}\n`), event.type !== "error"), {
      finish() {},
    });
  }
  const renderer = eventRenderer(stdout, options.stderr ?? process.stderr);
  return Object.assign((event: ChatEvent) => renderer.render(event), { finish: renderer.finish });
}

interface Turn {
  message: string;
  agentName?: string;
  state?: ChatState;
  signal?: AbortSignal;
  onDone?: (state: ChatState) => void;
}

async function runTurn(project: Project, turn: Turn, sink: Sink): Promise<boolean> {
  let ok = true;
  // Tracing (OTEL_* in the shell or the project's .env): each turn is a trace of its own.
  for await (const event of runChat({ project, ...turn, trace: processTracing(project.name)?.run() })) {
    if (!sink(event)) ok = false;
    if (event.type === "done") turn.onDone?.(event.state);
  }
  return ok;
}

const HELP = "Commands: /clear (new conversation), /agent NAME (switch agent), /exit. Ctrl-C cancels a reply.";

/**
 * The interactive loop. State from each `done` feeds the next turn, so hand-offs and previous_response_id
 * carry over. Ctrl-C during a reply aborts it; Ctrl-C when idle (or a second one) exits.
 */
async function chatLoop(project: Project, options: RunOptions): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const style = styleFor(stdout);
  const sink = eventSink(options);
  const terminal = stdin.isTTY === true && stdout.isTTY === true;
  const rl = readline.createInterface({ input: stdin, output: stdout, terminal, prompt: style.bold.cyan("› ") });
  // Created now, not lazily: lines that arrive while the first turn runs must be queued, not dropped.
  const typed = rl[Symbol.asyncIterator]();

  let startAgent = options.agent ?? project.agents[0].name;
  let state: ChatState = { current_agent_name: startAgent };
  let reply: AbortController | undefined;
  let exitCode = 0;

  // With --json, stdout carries only events; notices go to stderr.
  const notices = options.json ? options.stderr ?? process.stderr : stdout;
  const info = (text: string) => notices.write(`${styleFor(notices).dim(text)}\n`);
  const onInterrupt = () => {
    if (reply && !reply.signal.aborted) {
      reply.abort();
      return;
    }
    // Idle, or a second Ctrl-C while a cancelled reply winds down: leave now.
    rl.close();
    if (reply) process.exit(130);
  };
  rl.on("SIGINT", onInterrupt); // terminal mode: readline turns Ctrl-C into this event
  process.on("SIGINT", onInterrupt); // piped stdin: a real signal
  const prompt = () => terminal && rl.prompt();

  // "Chatting with Assistant (Assistant available)" said nothing: the others are listed only when there are others.
  const others = project.agents.map((a) => a.name).filter((name) => name !== startAgent);
  info(`Chatting with ${startAgent}${others.length ? ` (also here: ${others.join(", ")})` : ""}. ${HELP}`);
  const lines: string[] = options.message ? [options.message] : [];
  try {
    prompt();
    for await (const input of withFirst(lines, typed)) {
      const line = input.trim();
      if (!line) {
        prompt();
        continue;
      }
      if (line.startsWith("/")) {
        const [command, ...rest] = line.slice(1).split(/\s+/);
        const arg = rest.join(" ");
        if (command === "exit" || command === "quit") break;
        if (command === "clear") {
          state = { current_agent_name: startAgent };
          info("Started a new conversation.");
        } else if (command === "agent" && arg) {
          if (project.agents.some((a) => a.name === arg)) {
            // Keep the conversation; the chosen agent answers from now on (until it hands off).
            startAgent = arg;
            state = { ...state, current_agent_name: arg };
            info(`Now talking to ${arg}.`);
          } else {
            info(`Unknown agent '${arg}'. Available agents: ${agentNames(project)}`);
          }
        } else {
          info(command === "agent" ? `Current agent: ${state.current_agent_name}. ${HELP}` : HELP);
        }
        prompt();
        continue;
      }
      reply = new AbortController();
      const ok = await runTurn(project, { message: line, state, signal: reply.signal, onDone: (next) => (state = next) }, (event) => {
        // A cancelled reply is the user's choice, not a failure worth an error line.
        if (event.type === "error" && reply?.signal.aborted) return true;
        return sink(event);
      });
      if (reply.signal.aborted) {
        sink.finish();
        info("(cancelled)");
      } else if (!ok) {
        exitCode = 1;
      }
      reply = undefined;
      prompt();
    }
  } finally {
    process.off("SIGINT", onInterrupt);
    rl.close();
  }
  return exitCode;
}

/** The message given on the command line (if any) is the first turn, then the typed lines. */
async function* withFirst(first: string[], typed: AsyncIterator<string>): AsyncGenerator<string> {
  yield* first;
  for (let next = await typed.next(); !next.done; next = await typed.next()) yield next.value;
}

function agentNames(project: Project): string {
  return project.agents.map((a) => a.name).join(", ");
}

function isDirectory(cwd: string, candidate: string): boolean {
  return fs.statSync(path.resolve(cwd, candidate), { throwIfNoEntry: false })?.isDirectory() === true;
}

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}
