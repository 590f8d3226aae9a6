// Tech Support's tool. Replace the sample data with a call to your status page or monitoring.
import { tool, z } from "klisk";

const SERVICES = ["api", "dashboard", "email"] as const;
const STATUS: Record<(typeof SERVICES)[number], string> = {
  api: "operational",
  dashboard: "operational",
  email: "degraded: outgoing mail is delayed by up to 15 minutes",
};

export const serviceStatus = tool({
  name: "service_status",
  description: "The current status of one of our services.",
  parameters: z.object({
    service: z.enum(SERVICES).describe("Which service to check"),
  }),
  execute: async ({ service }) => `${service}: ${STATUS[service]}`,
});
