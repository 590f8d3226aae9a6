// onError: "return" sends what the tool threw back to the model as the tool's result ("Tool 'days_until'
// raised: Error: ..."), so it can correct itself, instead of ending the run with an error event.
import { tool, z } from "klisk";

const DAY_MS = 24 * 60 * 60 * 1000;

export const daysUntil = tool({
  name: "days_until",
  description: "How many days from today (UTC) until a date; negative for a date in the past.",
  parameters: z.object({
    date: z.string().describe("The date as YYYY-MM-DD"),
  }),
  onError: "return",
  execute: async ({ date }) => {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
    const when = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : NaN;
    if (!match || new Date(when).getUTCDate() !== Number(match[3])) {
      throw new Error(`'${date}' is not a date: use YYYY-MM-DD, e.g. 2030-01-31`);
    }
    const now = new Date();
    const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const days = Math.round((when - today) / DAY_MS);
    return `${days} day${Math.abs(days) === 1 ? "" : "s"} until ${date}`;
  },
});
