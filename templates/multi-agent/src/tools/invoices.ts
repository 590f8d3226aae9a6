// Billing's tool. Replace the sample data with a call to your billing system.
import { tool, z } from "klisk";

const INVOICES: Record<string, { amount: string; status: string; due: string }> = {
  "INV-1001": { amount: "$49.00", status: "paid", due: "2025-01-31" },
  "INV-1002": { amount: "$129.00", status: "overdue", due: "2025-02-28" },
};

export const lookupInvoice = tool({
  name: "lookup_invoice",
  description: "Look an invoice up by its number (e.g. INV-1001): amount, status and due date.",
  parameters: z.object({
    invoice_id: z.string().describe("The invoice number, e.g. INV-1001"),
  }),
  execute: async ({ invoice_id }) => {
    const id = invoice_id.trim().toUpperCase();
    const invoice = INVOICES[id];
    return invoice ? { invoice_id: id, ...invoice } : `No invoice ${id} was found.`;
  },
});
