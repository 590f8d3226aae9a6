// A zod schema both describes the arguments to the model (as JSON Schema) and validates what the model sends:
// execute only ever sees valid, typed arguments. Invalid ones go back to the model with the reasons
// ("Invalid arguments for tool 'create_ticket': priority: ..."), and it usually retries with better ones.
import { tool, z } from "klisk";

let lastTicket = 1000;

export const createTicket = tool({
  name: "create_ticket",
  description: "File a ticket for the team.",
  parameters: z.object({
    title: z.string().min(5).max(120).describe("A one-line summary"),
    priority: z.enum(["low", "normal", "high"]).default("normal"),
    labels: z.array(z.string().regex(/^[a-z0-9-]+$/, "lowercase words joined by '-'")).max(5).default([]),
    reporter_email: z.string().email().optional().describe("Who to tell when it is fixed"),
  }),
  execute: async ({ title, priority, labels, reporter_email }) => {
    // Replace with a call to your tracker (GitHub, Jira, Linear...), passing ctx.signal to fetch.
    const id = `TICKET-${++lastTicket}`;
    return { id, title, priority, labels, reporter_email: reporter_email ?? null };
  },
});
