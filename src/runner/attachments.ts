/** Attachments (validated at the edge, server/attachments.ts) as Responses API user-content parts. */
import type { Attachment } from "./events";

/** Responses API user-content parts for the attachments. */
export function toResponsesContent(attachments: readonly Attachment[]): Array<Record<string, unknown>> {
  return attachments.map((a) =>
    a.mime_type.startsWith("image/")
      ? { type: "input_image", image_url: `data:${a.mime_type};base64,${a.data}`, detail: "auto" }
      : { type: "input_file", filename: a.name ?? "file.pdf", file_data: `data:${a.mime_type};base64,${a.data}` },
  );
}
