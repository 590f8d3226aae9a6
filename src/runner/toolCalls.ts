/** Runs one model turn's function calls concurrently and yields each result as it finishes. */
import { AbortedError, ToolError } from "../errors";
import type { Agent } from "../sdk/agent";
import type { Tool } from "../sdk/tool";
import { log } from "../log";

export interface ToolCall {
  callId: string;
  name: string;
  arguments: string;
}

export interface ToolCallResult {
  callId: string;
  name: string;
  output: string;
}

/**
 * A tool that throws (with the default onError) ends the run: the ToolError propagates after the other
 * calls are signalled. Invalid arguments and unknown tools are the model's mistake: the message goes
 * back to the model as the output so it can correct itself.
 */
/** Told when each tool call ends: its time, and whether the tool raised (metrics). */
export type ToolCallEnded = (tool: string, seconds: number, failed: boolean) => void;

/** Runs one call's `run` inside something of its own (tracing: the call's span). */
export type ToolCallWrapper = (call: ToolCall, run: () => Promise<ToolCallResult>) => Promise<ToolCallResult>;

export async function* runToolCalls(
  agent: Agent,
  calls: readonly ToolCall[],
  signal: AbortSignal,
  tools: readonly Tool[] = agent.tools,
  onEnded?: ToolCallEnded,
  wrap?: ToolCallWrapper,
): AsyncGenerator<ToolCallResult> {
  const batch = new AbortController();
  const onAbort = () => batch.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    batch.signal.addEventListener("abort", () => reject(batch.signal.reason ?? new AbortedError()), { once: true });
  });
  aborted.catch(() => {}); // observed below through Promise.race; avoid an unhandled rejection

  const pending = new Map<string, Promise<ToolCallResult>>();
  for (const call of calls) {
    const run = () => runOne(agent, call, batch.signal, tools);
    const result = wrap ? wrap(call, run) : run();
    pending.set(call.callId, onEnded ? timed(result, call.name, onEnded) : result);
  }
  try {
    while (pending.size > 0) {
      // A tool that ignores its signal must not keep the run alive after an abort.
      const result = await Promise.race([...pending.values(), aborted]);
      pending.delete(result.callId);
      yield result;
    }
  } catch (err) {
    batch.abort(err instanceof ToolError ? new AbortedError("Another tool failed") : err);
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (!batch.signal.aborted) batch.abort(new AbortedError());
  }
}

async function timed(result: Promise<ToolCallResult>, tool: string, onEnded: ToolCallEnded): Promise<ToolCallResult> {
  const started = performance.now();
  try {
    const done = await result;
    onEnded(tool, (performance.now() - started) / 1000, raised(done));
    return done;
  } catch (err) {
    onEnded(tool, (performance.now() - started) / 1000, err instanceof ToolError);
    throw err;
  }
}

/** A result whose tool raised (with onError: "return", the message went back to the model as its output). */
export function raised(result: ToolCallResult): boolean {
  return result.output.startsWith(`Tool '${result.name}' raised: `);
}

async function runOne(agent: Agent, call: ToolCall, signal: AbortSignal, tools: readonly Tool[]): Promise<ToolCallResult> {
  const result = (output: string): ToolCallResult => ({ callId: call.callId, name: call.name, output });
  const tool = tools.find((t) => t.name === call.name);
  if (!tool) return result(`Tool '${call.name}' not found. Available tools: ${tools.map((t) => t.name).join(", ") || "none"}`);
  const parsed = tool.parseArguments(call.arguments);
  if (!parsed.ok) return result(parsed.message);
  try {
    const value = await tool.execute(parsed.args, {
      signal,
      agentName: agent.name,
      callId: call.callId,
      log: (message) => log.info({ tool: tool.name, agent: agent.name }, message),
    });
    return result(toolOutputToString(value));
  } catch (err) {
    const message = `Tool '${tool.name}' raised: ${describeThrown(err)}`;
    // The model (or the client) sees only the message: the operator needs the stack, whatever onError says.
    // A tool stopped by a cancelled run has not failed, so that is not logged.
    if (!signal.aborted) log.error({ agent: agent.name, tool: tool.name, callId: call.callId, err: stackOf(err) }, "Tool failed");
    if (tool.onError === "return") return result(message);
    throw new ToolError(tool.name, message);
  }
}

/**
 * Duck-typed: a project's code may run in another realm (jiti under jest), where instanceof Error fails.
 * Total: anything can be thrown, including values that throw again when read (a `message` getter that
 * throws, an `Object.create(null)` that String() cannot convert), and describing it must not fail.
 */
export function describeThrown(err: unknown): string {
  try {
    const e = err as { name?: unknown; message?: unknown } | null;
    if (typeof e === "object" && e !== null && typeof e.message === "string") {
      const name = typeof e.name === "string" && e.name ? e.name : "Error";
      return e.message ? `${name}: ${e.message}` : name;
    }
    return `Error: ${String(err)}`;
  } catch {
    try {
      return `Error: ${Object.prototype.toString.call(err)}`; // "[object Object]"; throws only for a revoked Proxy
    } catch {
      return "Error: (a value that cannot be described)";
    }
  }
}

/** The thrown value's stack for a log line, else its description; total like describeThrown. */
export function stackOf(err: unknown): string {
  try {
    const stack = (err as { stack?: unknown } | null)?.stack;
    if (typeof stack === "string" && stack) return stack;
  } catch {
    // a `stack` getter that throws: fall back to the description
  }
  return describeThrown(err);
}

/** Tool results travel to the model and to clients as strings. */
export function toolOutputToString(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
