/**
 * Printing helpers shared by the CLI commands: colour only on a TTY without NO_COLOR, one way to report
 * an error, a tiny spinner, and the renderer that turns ChatEvents into terminal output.
 */
import type chalk from "chalk";
import { KliskError } from "../errors";
import type { ChatEvent } from "../runner/events";
import { MarkdownStream } from "./terminalMarkdown";

export type Style = chalk.Chalk;

/** NO_COLOR (any non-empty value, https://no-color.org) wins; FORCE_COLOR forces; otherwise only a TTY. */
export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0" && env.FORCE_COLOR !== "false") return true;
  return stream.isTTY === true;
}

/** Without colour every style, however chained (`style.bold.red`), returns its text unchanged. */
const PLAIN: Style = new Proxy(((...text: unknown[]) => text.join(" ")) as Style, { get: () => PLAIN });

/**
 * A chalk instance for one stream, so stdout and stderr decide their colour independently. chalk is loaded
 * only when there is colour to print: a server logging to a pipe starts without it.
 */
export function styleFor(stream: NodeJS.WriteStream): Style {
  if (!colorEnabled(stream)) return PLAIN;
  const chalk = require("chalk") as typeof import("chalk");
  return new chalk.Instance({ level: chalk.level > 0 ? chalk.level : 1 });
}

/** Prints `Error: <message>` (and the hint) on stderr and returns the exit code to use. */
export function reportError(err: unknown, stderr: NodeJS.WriteStream = process.stderr): number {
  const style = styleFor(stderr);
  if (err instanceof KliskError || isKliskLike(err)) {
    stderr.write(`${style.red("Error:")} ${err.message}\n`);
    if (err.hint) stderr.write(`${style.dim(err.hint)}\n`);
  } else {
    // Not one of ours: a bug or an environment failure; the stack is what someone needs to fix it.
    const e = err as Error;
    stderr.write(`${style.red("Error:")} ${e?.message ?? String(err)}\n`);
    if (e?.stack) stderr.write(`${style.dim(e.stack.split("\n").slice(1).join("\n"))}\n`);
  }
  return 1;
}

/** Errors thrown by another copy of this package (a project's own node_modules/klisk) carry the same shape. */
function isKliskLike(err: unknown): err is KliskError {
  return err instanceof Error && typeof (err as KliskError).code === "string" && /_error$|^aborted$/.test((err as KliskError).code);
}

export function printWarnings(warnings: readonly string[], stderr: NodeJS.WriteStream = process.stderr): void {
  const style = styleFor(stderr);
  for (const warning of warnings) stderr.write(`${style.yellow("Warning:")} ${warning}\n`);
}

export interface Spinner {
  stop(finalLine?: string): void;
}

/** An animated line on a TTY; elsewhere (CI logs, pipes) the text is printed once. */
export function startSpinner(text: string, stream: NodeJS.WriteStream = process.stdout): Spinner {
  if (!stream.isTTY) {
    stream.write(`${text}\n`);
    return { stop: (finalLine) => void (finalLine && stream.write(`${finalLine}\n`)) };
  }
  const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
  const style = styleFor(stream);
  let i = 0;
  const draw = () => stream.write(`\r${style.cyan(frames[i++ % frames.length])} ${text}`);
  draw();
  const timer = setInterval(draw, 80);
  return {
    stop(finalLine) {
      clearInterval(timer);
      stream.write("\r\x1b[2K"); // clear the spinner line
      if (finalLine) stream.write(`${finalLine}\n`);
    },
  };
}

/** Shortens one-line previews of tool arguments and results. */
export function preview(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export interface EventRenderer {
  /** Renders one event; returns false for an `error` event. */
  render(event: ChatEvent): boolean;
  /** Ends a half-written line (after a cancelled reply). */
  finish(): void;
}

/**
 * Human output for a run: answer text streams as it arrives (styled as Markdown, a line at a time, on a
 * colour TTY), thinking is dimmed and labelled (the label keeps it apart from the answer when there is no
 * colour), tool calls, results and hand-offs get one compact line each. Errors go to stderr.
 */
export function eventRenderer(out: NodeJS.WriteStream, err: NodeJS.WriteStream): EventRenderer {
  const style = styleFor(out);
  const markdown = out.isTTY === true && colorEnabled(out);
  // What the cursor is in the middle of: an answer, a thinking block, or nothing (start of a line).
  let mode: "text" | "thinking" | "line" = "line";
  let lastChar = "\n";
  // The answer being styled, from its first token to the next line of another kind.
  let answer: MarkdownStream | undefined;

  const write = (text: string, raw = text) => {
    if (raw.length === 0) return;
    out.write(text);
    lastChar = raw[raw.length - 1];
  };
  const endLine = () => {
    answer?.end();
    answer = undefined;
    if (lastChar !== "\n") write("\n");
    mode = "line";
  };
  const line = (text: string) => {
    endLine();
    write(`${text}\n`);
  };

  return {
    render(event) {
      switch (event.type) {
        case "thinking":
          if (mode !== "thinking") {
            endLine();
            write(style.dim.italic("Thinking: "), "Thinking: ");
            mode = "thinking";
          }
          write(style.dim(event.data), event.data);
          return true;
        case "token":
          if (mode !== "text") endLine();
          mode = "text";
          if (markdown) {
            answer ??= new MarkdownStream(out, style);
            answer.write(event.data);
            if (event.data) lastChar = event.data[event.data.length - 1];
          } else {
            write(event.data);
          }
          return true;
        case "tool_call":
          line(`${style.cyan("→")} ${style.cyan.bold(event.data.tool)}${style.dim(`(${preview(event.data.arguments, 80)})`)}`);
          return true;
        case "tool_result":
          line(`${style.green("←")} ${style.green(event.data.tool)}${style.dim(`: ${preview(event.data.output, 120)}`)}`);
          return true;
        case "handoff":
          line(style.yellow(`⇢ ${event.data.from} handed off to ${event.data.to}`));
          return true;
        case "done":
          endLine();
          return true;
        case "error": {
          endLine();
          err.write(`${styleFor(err).red("Error:")} ${event.data}\n`);
          return false;
        }
      }
    },
    finish: endLine,
  };
}

/**
 * Ends a one-shot command (check, run) with `code` once what it printed is flushed. Not by letting the event
 * loop drain: a project's entry may leave timers, pools or sockets open (`setInterval` in main.ts), and a
 * check in CI or a pre-commit hook must not wait on them forever.
 */
export function exitWhenFlushed(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}
