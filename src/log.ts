/**
 * The process logger: pino, one JSON line per entry on stderr (stdout stays free for program output such
 * as `klisk run --json`), or a short human line when stderr is a terminal. The level comes from
 * configureLogger (the `--log-level` flag), else KLISK_LOG_LEVEL, else info. Whatever the call site
 * passes, API keys and Authorization headers are redacted.
 */
import type { DestinationStream, Logger } from "pino";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
type Fields = Record<string, unknown>;

/**
 * Field names censored in every entry, at any of the first MAX_CENSOR_DEPTH levels (`key`, `headers.authorization`,
 * `req.headers["x-api-key"]`, ...), compared case-insensitively: a key must never reach a log file, whoever logs it.
 */
const SECRET_FIELDS = new Set(["key", "apikey", "api_key", "authorization", "x-api-key"]);
const MAX_CENSOR_DEPTH = 3;
const CENSOR = "[redacted]";

/**
 * `fields` with every secret field censored; the same object when there is none (the usual case), else a copy
 * along the censored paths, so the caller's objects are never changed. Our own walk rather than pino's
 * `redact`: its wildcard paths run a stringifier on every field of every entry, ~25 µs of CPU per request-log line
 * (an A/B under the bench's JSON load), where this is a few key lookups.
 */
function censorSecrets(fields: Fields, depth = 1): Fields {
  let copy: Fields | undefined;
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    let replacement = value;
    if (SECRET_FIELDS.has(name.toLowerCase())) replacement = CENSOR;
    else if (depth < MAX_CENSOR_DEPTH && isPlainObject(value)) replacement = censorSecrets(value, depth + 1);
    if (replacement !== value) (copy ??= { ...fields })[name] = replacement;
  }
  return copy ?? fields;
}

function isPlainObject(value: unknown): value is Fields {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export interface LoggerOptions {
  /** One of LOG_LEVELS; defaults to KLISK_LOG_LEVEL, then info. */
  level?: string;
  /** Where lines go (tests capture them here); defaults to stderr. */
  destination?: DestinationStream;
  /** Human-readable lines instead of JSON; defaults to whether stderr is a TTY. */
  pretty?: boolean;
}

let settings: LoggerOptions = {};
let current: Logger | undefined;

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * Sets how the logger is made: by `klisk serve` for --log-level, by tests to capture lines. The logger
 * itself (and pino) is created at the first entry: a server that has nothing to log yet starts without it.
 */
export function configureLogger(options: LoggerOptions = {}): void {
  settings = options;
  current = undefined;
}

function createLogger(options: LoggerOptions): Logger {
  const pino = require("pino") as typeof import("pino");
  const envLevel = process.env.KLISK_LOG_LEVEL?.trim().toLowerCase();
  const wanted = options.level ?? envLevel ?? "info";
  const level = isLogLevel(wanted) ? wanted : "info";
  const pretty = options.pretty ?? (options.destination === undefined && process.stderr.isTTY === true);
  const destination =
    options.destination ??
    (pretty ? (require("./logPretty") as typeof import("./logPretty")).prettyDestination(process.stderr) : pino.destination({ dest: 2, sync: true }));
  const logger = pino({ level, base: { pid: process.pid }, formatters: { log: censorSecrets } }, destination);
  if (!isLogLevel(wanted)) logger.warn({ level: wanted }, `Unknown log level; using info (one of ${LOG_LEVELS.join(", ")})`);
  return logger;
}

function logger(): Logger {
  return (current ??= createLogger(settings));
}

/** The interface every module logs through: `log.info({ fields }, "message")`. */
export const log = {
  debug: (fields: Fields, message: string) => logger().debug(fields, message),
  info: (fields: Fields, message: string) => logger().info(fields, message),
  warn: (fields: Fields, message: string) => logger().warn(fields, message),
  error: (fields: Fields, message: string) => logger().error(fields, message),
};
