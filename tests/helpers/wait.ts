/** Small waiting and reading helpers for tests that drive streams over real sockets. */

/** Polls `condition` every 10 ms; rejects with `what` after `timeoutMs` (a bound, not a timing assertion). */
export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reads a fetch body until `pattern` shows up in the text so far; returns that text (the body stays open). */
export async function readUntil(res: Response, pattern: RegExp, timeoutMs = 5000): Promise<string> {
  const body = bodyReader(res);
  const text = await body.until(pattern, timeoutMs);
  body.release();
  return text;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads a fetch body step by step: `until` a pattern shows up, then the `rest` to the end. */
export function bodyReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    async until(pattern: RegExp, timeoutMs = 5000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > deadline) throw new Error(`No ${pattern} in the stream within ${timeoutMs} ms; got: ${text.slice(0, 500)}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`Stream ended before ${pattern}; got: ${text.slice(0, 500)}`);
        text += decoder.decode(value, { stream: true });
      }
      return text;
    },
    /** Lets go of the body without reading the rest (the stream stays open). */
    release(): void {
      reader.releaseLock();
    },
    async rest(): Promise<string> {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    },
  };
}
