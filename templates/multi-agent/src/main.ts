// The entry file: every agent defined here is served by `klisk serve`. The first one is the default.
// Triage answers first and hands the conversation to a specialist with a transfer_to_<agent> tool
// (transfer_to_billing, transfer_to_tech_support); the specialist then answers the following turns too.
import { defineAgent } from "klisk";
import { lookupInvoice } from "./tools/invoices";
import { serviceStatus } from "./tools/status";

defineAgent({
  name: "Triage",
  instructions:
    "You are the first contact for customers. Work out what they need and hand them over: " +
    "invoices, payments and refunds go to Billing; outages, errors and how-to questions go to Tech Support. " +
    "Ask one short question if it is unclear. Do not answer billing or technical questions yourself.",
  model: "{{model}}",
  handoffs: ["Billing", "Tech Support"],
});

defineAgent({
  name: "Billing",
  instructions:
    "You are the billing specialist. Look invoices up with the lookup_invoice tool before answering " +
    "questions about them. Be precise about amounts and dates. Hand anything else back to Triage.",
  model: "{{model}}",
  tools: [lookupInvoice],
  handoffs: ["Triage"],
});

defineAgent({
  name: "Tech Support",
  instructions:
    "You are the technical support specialist. Check the service_status tool before blaming the customer's " +
    "setup, and give short, numbered steps. Hand anything else back to Triage.",
  model: "{{model}}",
  tools: [serviceStatus],
  handoffs: ["Triage"],
});
