/** runChat: the one place that talks to models and runs tools. Every transport consumes its iterator. */
import { AbortedError, KliskError, ModelError, ToolError, UnknownAgentError } from "../errors";
import type { Agent } from "../sdk/agent";
import type { Project } from "../project/project";
import { toResponsesContent } from "./attachments";
import { addUsage, codeOfError, errorEvent, usageOf, withUsage, type Attachment, type ChatEvent, type ChatState, type RunUsage } from "./events";
import type { InputItem, ModelEvent, ModelRequest } from "./models/model";
import { resolveModel } from "./models/resolve";
import { log } from "../log";
import { handoffTargets, handoffToolSpecs } from "./handoffs";
import { runToolCalls, type ToolCall, type ToolCallEnded } from "./toolCalls";
import { agentTools } from "../project/mcp/servers";
import { boundHistory, historyBudget, historyFromState, storedUserItem } from "./history";
import type { RunTrace } from "./trace";

export interface RunChatOptions {
  project: Project;
  /** The agent for this turn when the caller has resolved it already (resolveAgent); else agentName picks. */
  agent?: Agent;
  /** Explicit agent for this turn; otherwise state.current_agent_name, otherwise the first agent. */
  agentName?: string;
  message: string;
  attachments?: readonly Attachment[];
  state?: ChatState;
  /** Aborts the model request and signals the tools. An AbortedError reason becomes the error event's text. */
  signal?: AbortSignal;
  /** false when only the final `done`/`error` matters (JSON mode): models may then answer in one piece. */
  stream?: boolean;
  /** Applied once to the final state (the server signs it with KLISK_STATE_SECRET). */
  signState?: (state: ChatState) => ChatState;
  /** Told as each model call and tool call ends (the server's metrics); absent, nothing is timed. */
  observer?: RunObserver;
  /** This run's spans (tracing, src/server/tracing/); absent when tracing is off. */
  trace?: RunTrace;
  /** Called once as the run ends with the tokens its model calls used (the request log line), when any were reported. */
  onUsage?: (usage: RunUsage) => void;
}

/**
 * What a run reports as it goes, for metrics: plain calls at the moments that matter (never once per token),
 * so a server measuring runs adds no layer to their event streams.
 */
export interface RunObserver {
  /** The run's first text token, `seconds` after it started; `agent` is the agent the run started with. */
  firstToken(agent: string, seconds: number): void;
  /** The model asked for a tool (function or hosted). */
  toolCalled(tool: string): void;
  /** A function tool ended: its time, and whether it raised. */
  toolCall: ToolCallEnded;
  /** `error` is the ModelError of a failed call; an aborted call is not reported. */
  modelCall(call: { agent: string; provider: string; model: string; error?: ModelError }): void;
  /** The run's `done` or `error`: `outcome` is "done" or the error's code; `answeredBy` the agent at the end. */
  runEnded(run: { agent: string; answeredBy: string; model: string; outcome: string; seconds: number; usage?: RunUsage }): void;
}


/**
 * Picks the agent for a turn. An unknown explicit `agentName` is an error listing the agents; a stale
 * `state.current_agent_name` (agent renamed since) falls back to the default agent.
 */
export function resolveAgent(project: Project, agentName?: string, state?: ChatState): Agent {
  if (agentName !== undefined) {
    const agent = project.agents.find((a) => a.name === agentName);
    if (!agent) {
      throw new UnknownAgentError(`Unknown agent '${agentName}'. Available agents: ${project.agents.map((a) => a.name).join(", ")}`);
    }
    return agent;
  }
  const current = state?.current_agent_name;
  return project.agents.find((a) => a.name === current) ?? project.agents[0];
}

/** Yields token/thinking/tool events and ends with exactly one `done` or `error`. Never throws. */
export async function* runChat(options: RunChatOptions): AsyncGenerator<ChatEvent, void, undefined> {
  // The state handed back must fit what the server accepts back (limits.max_state_kb).
  const { max_turns: maxTurns, run_timeout_s: timeoutS, max_state_kb: maxStateKb } = options.project.config.limits;
  // One controller for the whole run: the client's signal, the run timeout, and the consumer stopping
  // early (finally below) all end the model request and signal the tools.
  const run = new AbortController();
  // The caller says why (cancel, shutdown, the server's run deadline); anything else reads as a plain cancel.
  const onClientAbort = () => run.abort(options.signal?.reason instanceof KliskError ? options.signal.reason : new AbortedError());
  options.signal?.addEventListener("abort", onClientAbort, { once: true });
  if (options.signal?.aborted) onClientAbort();
  const timer = setTimeout(() => run.abort(runTimeoutError(timeoutS)), timeoutS * 1000);
  timer.unref();
  // Once the answer is out nothing is left running, and aborting would only cost an error and its listeners.
  let answered = false;
  const observer = options.observer;
  const started = observer ? performance.now() : 0;
  // True once there is nothing left to report (always, without an observer): one check per token.
  let tokenSeen = observer === undefined;
  const firstAgent = options.agent?.name ?? options.agentName;
  let agent: Agent | undefined;
  let usage: RunUsage | undefined;
  const trace = options.trace;
  let endReported = false;
  const ended = (event: ChatEvent): ChatEvent => {
    endReported = true;
    if (usage) options.onUsage?.(usage);
    trace?.runEnded(event);
    if (!observer) return event;
    const startedBy = firstAgent ?? agent?.name ?? "unknown";
    observer.runEnded({
      agent: startedBy,
      answeredBy: agent?.name ?? startedBy,
      model: agent?.model ?? "unknown",
      outcome: event.type === "done" ? "done" : codeOfError(event),
      seconds: (performance.now() - started) / 1000,
      usage: usageOf(event),
    });
    return event;
  };
  const firstToken = (current: Agent) => {
    tokenSeen = true;
    observer!.firstToken(firstAgent ?? current.name, (performance.now() - started) / 1000);
  };

  try {
    agent = options.agent ?? resolveAgent(options.project, options.agentName, options.state);
    trace?.agentStarted(agent);
    const { providers, limits } = options.project.config;
    const upstream = { connections: limits.upstream_connections ?? (limits.max_concurrent_runs || undefined) };
    const attachments = options.attachments ?? [];
    const history = historyFromState(options.state);
    const userItem = userInput(options.message, attachments);
    // The whole conversation (for Chat models and the state) and the part a Responses model has not
    // seen yet. previousResponseId is only kept while it covers everything but `unseen`.
    const transcript: InputItem[] = [...history, userItem];
    let unseen: InputItem[] = [userItem];
    let previousResponseId = options.state?.previous_response_id;

    for (let turn = 0; turn < maxTurns; turn++) {
      const model = resolveModel(agent.model, providers, upstream);
      // store:false responses cannot be continued by id, so such a model always gets the transcript.
      const chained = model.api === "responses" && agent.modelSettings.extraBody?.store !== false;
      const transfers = handoffTargets(agent, options.project);
      // Read each turn: an MCP server's tool list may change between turns.
      const tools = agentTools(options.project, agent);
      const calls: ToolCall[] = [];
      const handoffCalls: ToolCall[] = [];
      const modelCalls: ToolCall[] = [];
      let completed: Extract<ModelEvent, { type: "completed" }> | undefined;
      let streamedText = false;
      const request: ModelRequest = {
        instructions: agent.instructions,
        input: chained && previousResponseId ? unseen : transcript,
        previousResponseId: chained ? previousResponseId : undefined,
        tools: [
          ...tools.map((t) => ({ name: t.name, description: t.description, parameters: t.jsonSchema })),
          ...handoffToolSpecs(transfers),
        ],
        builtinTools: agent.builtinToolConfigs,
        settings: agent.modelSettings,
        signal: run.signal,
        stream: options.stream,
      };
      const traced = trace?.modelCall(model, request);
      if (traced) request.headers = traced.headers;
      // The model call is reported around the loop, not by wrapping its stream: no extra hop per token.
      try {
        for await (const event of model.stream(request)) {
          if (event.type === "text_delta") {
            streamedText = true;
            if (!tokenSeen) firstToken(agent);
            yield { type: "token", data: event.delta };
          } else if (event.type === "reasoning_delta") {
            yield { type: "thinking", data: event.delta };
          } else if (event.type === "hosted_tool") {
            // Already run by the provider: shown to the client, nothing to execute or send back.
            observer?.toolCalled(event.name);
            yield { type: "tool_call", data: { tool: event.name, arguments: event.arguments, status: "running", call_id: event.callId } };
            yield { type: "tool_result", data: { output: event.output, call_id: event.callId, tool: event.name } };
          } else if (event.type === "function_call") {
            modelCalls.push(event);
            if (transfers.has(event.name)) {
              handoffCalls.push(event);
              continue;
            }
            calls.push(event);
            observer?.toolCalled(event.name);
            yield { type: "tool_call", data: { tool: event.name, arguments: event.arguments, status: "running", call_id: event.callId } };
          } else {
            completed = event;
          }
        }
        if (!completed) throw new ModelError(`The ${model.provider} stream ended before the response completed`);
      } catch (err) {
        traced?.ended({ error: err });
        if (observer && !run.signal.aborted) observer.modelCall({ agent: agent.name, provider: model.provider, model: model.name, error: err instanceof ModelError ? err : new ModelError(String(err)) });
        throw err;
      }
      traced?.ended({ completed, calls: modelCalls });
      observer?.modelCall({ agent: agent.name, provider: model.provider, model: model.name });
      if (completed.usage) {
        log.debug({ agent: agent.name, model: agent.model, ...completed.usage }, "model usage");
        usage = addUsage(usage, completed.usage);
      }
      previousResponseId = chained ? completed.responseId : undefined;
      unseen = [];
      if (completed.text) transcript.push({ role: "assistant", content: completed.text });
      for (const call of modelCalls) transcript.push({ type: "function_call", call_id: call.callId, name: call.name, arguments: call.arguments });

      if (calls.length === 0 && handoffCalls.length === 0) {
        // A provider that sent no deltas still gets its text to streaming clients.
        if (!streamedText && completed.text) {
          if (!tokenSeen) firstToken(agent);
          yield { type: "token", data: completed.text };
        }
        const unsigned: ChatState = {
          ...(previousResponseId ? { previous_response_id: previousResponseId } : {}),
          conversation_history: boundHistory(storedTranscript(transcript, history.length, options.message, attachments), historyBudget(maxStateKb * 1024)),
          current_agent_name: agent.name,
        };
        const state = options.signState ? options.signState(unsigned) : unsigned;
        answered = true;
        const done = withUsage({ type: "done", data: completed.text, ...(previousResponseId ? { response_id: previousResponseId } : {}), state } as ChatEvent, usage);
        yield ended(done);
        return;
      }
      const outputs = new Map<string, string>();
      for await (const result of runToolCalls(agent, calls, run.signal, tools, options.observer?.toolCall, trace?.toolCall)) {
        yield { type: "tool_result", data: { output: result.output, call_id: result.callId, tool: result.name } };
        outputs.set(result.callId, result.output);
      }
      // Only the first transfer counts; the model gets an answer for every call it made.
      handoffCalls.forEach((call, i) => {
        const target = transfers.get(call.name)!;
        outputs.set(call.callId, i === 0 ? JSON.stringify({ assistant: target.name }) : "Ignored: the conversation was already handed off.");
      });
      if (handoffCalls.length > 0) {
        const target = transfers.get(handoffCalls[0].name)!;
        yield { type: "handoff", data: { from: agent.name, to: target.name } };
        trace?.agentStarted(target, agent.name);
        agent = target;
      }
      // Outputs go back in the order the model made the calls.
      unseen = modelCalls.map((call) => ({ type: "function_call_output", call_id: call.callId, output: outputs.get(call.callId) ?? "" }));
      transcript.push(...unseen);
    }
    yield ended(errorEvent(`Max turns (${maxTurns}) exceeded: the agent kept calling tools without answering`, "max_turns"));
  } catch (err) {
    yield ended(toErrorEvent(run.signal.aborted && !(err instanceof ToolError) ? run.signal.reason ?? err : err));
  } finally {
    // The consumer stopped reading before the end (a `return` on this generator): the spans still end.
    if (!endReported) trace?.runEnded(errorEvent("The run was stopped before it ended", "aborted"));
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onClientAbort);
    if (!answered && !run.signal.aborted) run.abort(new AbortedError());
  }
}

/** Why a run over limits.run_timeout_s ends (here, and in the server, which also counts time spent writing). */
export function runTimeoutError(seconds: number): ModelError {
  return new ModelError(`The run timed out after ${seconds} s`);
}

function userInput(message: string, attachments: readonly Attachment[]): InputItem {
  const content: Array<Record<string, unknown>> = [];
  if (message) content.push({ type: "input_text", text: message });
  content.push(...toResponsesContent(attachments));
  return { role: "user", content };
}

/** The transcript as the state keeps it: this turn's attachments become placeholders naming the files. */
function storedTranscript(transcript: readonly InputItem[], userIndex: number, message: string, attachments: readonly Attachment[]): InputItem[] {
  if (attachments.length === 0) return [...transcript];
  const stored = [...transcript];
  stored[userIndex] = storedUserItem(message, attachments);
  return stored;
}

function toErrorEvent(err: unknown): ChatEvent {
  if (err instanceof KliskError) return errorEvent(err.message, err.code);
  // A bug of ours: details go to the log, not to the client.
  log.error({ err: (err as Error)?.stack ?? String(err) }, "Unexpected error in runChat");
  return errorEvent("Internal error while running the agent", "internal");
}
