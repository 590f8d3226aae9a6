/**
 * Errors nobody caught: a tool's `void (async () => { throw … })()`, a late `Promise.reject` in a timer, a
 * throw inside a timer callback. Node ends the process on them, and with it every stream in flight. A
 * project's code is not ours to crash on: such an error is logged at error level with its stack (which names
 * the tool's file) and the server keeps serving. Only a failure of klisk itself (its own code first on the
 * stack) ends the process, and then through the normal drain. A dependency's frame does not count: zod is
 * re-exported to projects, and npm may hoist klisk's dependencies beside the project's own anyway.
 */
import path from "node:path";
import { log } from "../log";
import { stackOf } from "../runner/toolCalls";

/** The klisk package: dist/ (or src/ under ts-jest) sits one level below it. */
const KLISK_ROOT = path.resolve(__dirname, "../..");

export function keepServingOnStrayErrors(onKliskFailure: (err: unknown) => void): void {
  const handle = (kind: string) => (err: unknown) => {
    const stack = stackOf(err);
    if (isKliskFailure(stack)) {
      log.error({ kind, err: stack }, "Uncaught error in klisk itself: shutting down");
      onKliskFailure(err);
      return;
    }
    log.error({ kind, err: stack }, "Uncaught error in the project's code (a tool?); still serving");
  };
  process.on("uncaughtException", handle("uncaughtException"));
  process.on("unhandledRejection", handle("unhandledRejection"));
}

/** Whether the first frame of `stack` outside Node's internals lies in klisk's own code (dist/, src/, bin/). */
export function isKliskFailure(stack: string, kliskRoot = KLISK_ROOT): boolean {
  for (const line of stack.split("\n")) {
    const frame = /^\s+at (?:.*\()?(.+?):\d+:\d+\)?$/.exec(line);
    if (!frame || frame[1].startsWith("node:")) continue;
    const file = frame[1].replace(/^file:\/\//, "");
    const inside = path.relative(kliskRoot, file);
    return !inside.startsWith("..") && !path.isAbsolute(inside) && /^(dist|src|bin)[\\/]/.test(inside);
  }
  return false;
}
