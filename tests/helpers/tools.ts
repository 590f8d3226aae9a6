/**
 * The tools the HTTP protocol suites (chat, AI SDK, AG-UI, OpenAI-compatible) give their agents: `weather`
 * answers and records each city asked, `explode` throws "boom", `slow` never answers and keeps its run's
 * signal so a test can see the client's abort reach it.
 */
import { tool, z } from "../../src/index";

export interface TestTools {
  readonly weather: ReturnType<typeof tool>;
  readonly explode: ReturnType<typeof tool>;
  readonly slow: ReturnType<typeof tool>;
  /** The cities `weather` was called with, in order. */
  readonly weatherCalls: string[];
  /** The signal of `slow`'s latest call. */
  slowSignal: AbortSignal | undefined;
}

export function testTools(): TestTools {
  const tools: TestTools = {
    weather: tool({
      name: "weather",
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        tools.weatherCalls.push(city);
        return `Sunny in ${city}`;
      },
    }),
    explode: tool({ name: "explode", execute: () => { throw new Error("boom"); } }),
    slow: tool({
      name: "slow",
      execute: (_args, ctx) => new Promise<string>((_resolve, reject) => {
        tools.slowSignal = ctx.signal;
        ctx.signal.addEventListener("abort", () => reject(new Error("aborted")));
      }),
    }),
    weatherCalls: [],
    slowSignal: undefined,
  };
  return tools;
}
