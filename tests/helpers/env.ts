/** The one environment scrubber for child processes (tests/helpers/cli.ts gives every child this). */

/** Variables that change klisk's behaviour or its colours: a child never inherits them from the test runner. */
const SCRUBBED = /^(OPENAI_|KLISK_|OTEL_|FORCE_COLOR$|NO_COLOR$|PORT$|HOST$)/;

/**
 * The test runner's environment without OPENAI_*, KLISK_*, OTEL_*, FORCE_COLOR, NO_COLOR, PORT and HOST, with quiet
 * logs (KLISK_LOG_LEVEL=silent), then `extra` on top (a value of undefined removes the variable).
 */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!SCRUBBED.test(key)) env[key] = value;
  }
  env.KLISK_LOG_LEVEL = "silent";
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Points the OpenAI client at a fake upstream (tests/helpers/fakeOpenAI.ts) with a dummy key and no retries. */
export function fakeUpstreamEnv(url: string): Record<string, string> {
  return { OPENAI_BASE_URL: url, OPENAI_API_KEY: "test", KLISK_MAX_RETRIES: "0" };
}
