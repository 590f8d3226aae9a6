/**
 * Errors by blame. Each edge translates them once: the CLI prints message + hint and exits, the HTTP
 * layer maps their codes to a status and `{error}` (server/statuses.ts), a stream ends with an `error` event.
 * Exported to users from "klisk", so `err instanceof ModelError` works in their code.
 */
export class KliskError extends Error {
  readonly code: string;
  readonly hint?: string;
  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
  }
}

/** The project (config, .env, entry file) is wrong: the user must fix a file. */
export class ConfigError extends KliskError {
  constructor(message: string, hint?: string) {
    super("config_error", message, hint);
  }
}

/** The SDK was used wrongly from user code (bad tool definition, duplicate agent, ...). */
export class UserError extends KliskError {
  constructor(message: string, hint?: string) {
    super("user_error", message, hint);
  }
}

/** What went wrong upstream, for metrics: a rejected key, a rate limit, a 5xx, a timeout, the network. */
export type UpstreamErrorKind = "auth" | "rate_limit" | "server" | "client" | "timeout" | "network" | "stream";

/** The model provider failed or answered something we cannot use. */
export class ModelError extends KliskError {
  /** Upstream HTTP status, when there was one. */
  readonly status?: number;
  /** Set where the provider's error is translated; else derived from `status`, else "stream". */
  readonly kind: UpstreamErrorKind;
  constructor(message: string, status?: number, kind?: UpstreamErrorKind) {
    super("model_error", message);
    this.status = status;
    this.kind = kind ?? kindOfStatus(status);
  }
}

function kindOfStatus(status: number | undefined): UpstreamErrorKind {
  if (status === undefined) return "stream";
  if (status === 401 || status === 403) return "auth";
  if (status === 429) return "rate_limit";
  return status >= 500 ? "server" : "client";
}

/** A user tool threw while running. */
export class ToolError extends KliskError {
  readonly toolName: string;
  constructor(toolName: string, message: string) {
    super("tool_error", message);
    this.toolName = toolName;
  }
}

/** A client request is invalid; `status` is the HTTP status to answer with. */
export class RequestError extends KliskError {
  readonly status: number;
  constructor(status: number, message: string) {
    super("request_error", message);
    this.status = status;
  }
}

/** A run named an agent the project does not have. */
export class UnknownAgentError extends KliskError {
  constructor(message: string) {
    super("unknown_agent", message);
  }
}

/** The run was aborted (client went away, cancel, shutdown). */
export class AbortedError extends KliskError {
  constructor(message = "Run cancelled") {
    super("aborted", message);
  }
}
