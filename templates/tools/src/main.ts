// The entry file: every agent defined here is served by `klisk serve`. The first one is the default.
import { defineAgent } from "klisk";
import { daysUntil } from "./tools/dates";
import { packageInfo } from "./tools/packageInfo";
import { createTicket } from "./tools/tickets";

defineAgent({
  name: "Assistant",
  instructions:
    "You are a concise assistant for a software team. Use package_info to look npm packages up, " +
    "days_until for date arithmetic, and create_ticket to file a ticket when someone asks for one. " +
    "If a tool reports an error, fix the arguments and try again, or explain the problem.",
  model: "{{model}}",
  tools: [packageInfo, daysUntil, createTicket],
});
