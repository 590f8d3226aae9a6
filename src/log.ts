/**
 * A minimal structured logger (one JSON-ish line per call on stderr). Level from KLISK_LOG_LEVEL
 * (debug|info|warn|error|silent; default info). Kept behind this interface so pino can replace it.
 */
type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function threshold(): number {
  const level = (process.env.KLISK_LOG_LEVEL ?? "info").toLowerCase() as Level | "silent";
  return ORDER[level] ?? ORDER.info;
}

function write(level: Level, fields: Record<string, unknown>, message: string): void {
  if (ORDER[level] < threshold()) return;
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  process.stderr.write(`[klisk] ${level}: ${message}${extra ? ` ${extra}` : ""}\n`);
}

export const log = {
  debug: (fields: Record<string, unknown>, message: string) => write("debug", fields, message),
  info: (fields: Record<string, unknown>, message: string) => write("info", fields, message),
  warn: (fields: Record<string, unknown>, message: string) => write("warn", fields, message),
  error: (fields: Record<string, unknown>, message: string) => write("error", fields, message),
};
