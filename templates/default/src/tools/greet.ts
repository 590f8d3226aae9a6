// A tool is a typed function the model can call. Its arguments are validated against `parameters` first.
import { tool, z } from "klisk";

export const greet = tool({
  name: "greet",
  description: "Greet a person by name.",
  parameters: z.object({
    name: z.string().describe("The person's name"),
  }),
  execute: async ({ name }) => `Hello, ${name}! Welcome aboard.`,
});
