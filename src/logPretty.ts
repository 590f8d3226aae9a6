/**
 * A tiny pino destination for terminals: `12:03:04 INFO  message key=value ...`. It avoids pino-pretty
 * (and its dependencies) for the one thing we need; JSON lines stay the format for anything that is not a TTY.
 */
import type { DestinationStream } from "pino";
import chalk from "chalk";

const LEVELS: Record<number, [string, (s: string) => string]> = {
  10: ["TRACE", chalk.gray],
  20: ["DEBUG", chalk.gray],
  30: ["INFO ", chalk.green],
  40: ["WARN ", chalk.yellow],
  50: ["ERROR", chalk.red],
  60: ["FATAL", chalk.bgRed],
};
/** Fields every line carries that a person does not need to read. */
const HIDDEN = new Set(["level", "time", "msg", "pid", "hostname"]);

export function prettyDestination(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(line: string) {
      out.write(formatLine(line));
    },
  };
}

export function formatLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  const [name, colour] = LEVELS[entry.level as number] ?? ["LOG  ", (s: string) => s];
  const time = new Date(typeof entry.time === "number" ? entry.time : Date.now()).toTimeString().slice(0, 8);
  const extra = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${chalk.dim(`${key}=`)}${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${chalk.dim(time)} ${colour(name)} ${entry.msg ?? ""}${extra ? ` ${extra}` : ""}\n`;
}
