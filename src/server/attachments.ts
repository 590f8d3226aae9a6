/** Attachments from clients: validated once at the edge (shape, base64, MIME type and signature, size). */
import { RequestError } from "../errors";
import type { Attachment } from "../runner/events";
import { attachmentList, attachmentSchema, parseRequest } from "./requestSchemas";

export const IMAGE_MIME_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"] as const;
export const SUPPORTED_MIME_TYPES: readonly string[] = [...IMAGE_MIME_TYPES, "application/pdf"];

export interface AttachmentLimits {
  /** Decoded bytes per attachment (default 20 MB). */
  maxBytes: number;
  /** Attachments per message (default 10). */
  maxCount: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_URL = /^data:([^;,]+)?(;[^,]*)?,/;

/**
 * Validates a client's `attachments` value: an array (absent/null: none) of at most limits.maxCount
 * `{mime_type, data, name}` objects (the shapes are requestSchemas.ts's zod schemas), each checked in turn:
 * plain base64 or a `data:<mime>;base64,` URL, of a supported type whose bytes start as that type's files
 * do, within the size limit. Throws RequestError: 400 (shape, base64), 413 (too large / too many), 415
 * (MIME type, or data that is not what it claims).
 */
export function parseAttachments(raw: unknown, limits: AttachmentLimits): Attachment[] {
  if (raw === undefined || raw === null) return [];
  const items = parseRequest(attachmentList(limits), raw, ["attachments"]) ?? [];
  return items.map((item, i) => parseOne(item, i, limits));
}

function parseOne(item: unknown, i: number, limits: AttachmentLimits): Attachment {
  const where = `attachments[${i}]`;
  const { mime_type, data, name } = parseRequest(attachmentSchema, item, ["attachments", i]);
  const mime = mime_type.toLowerCase().split(";")[0].trim();
  if (!SUPPORTED_MIME_TYPES.includes(mime)) {
    throw new RequestError(415, `${where}: unsupported MIME type '${mime_type}'. Supported: ${SUPPORTED_MIME_TYPES.join(", ")}`);
  }
  const base64 = stripDataUrl(data).replace(/\s+/g, "");
  if (base64.length === 0) throw new RequestError(400, `${where}.data is empty`);
  // Checked before decoding so an oversized upload costs no allocation.
  const decodedBytes = Math.floor((base64.length * 3) / 4) - (base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0);
  if (decodedBytes > limits.maxBytes) {
    throw new RequestError(413, `${where} is ${formatMb(decodedBytes)} decoded; the limit is ${formatMb(limits.maxBytes)} per attachment`);
  }
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) throw new RequestError(400, `${where}.data is not valid base64`);
  if (!hasSignature(mime, base64)) throw new RequestError(415, `${where}: the data is not ${KIND_NAMES[mime]} (declared ${mime})`);
  return { mime_type: mime, data: base64, name: name != null && name !== "" ? name : defaultName(mime, i) };
}

const KIND_NAMES: Record<string, string> = {
  "image/png": "a PNG image",
  "image/jpeg": "a JPEG image",
  "image/gif": "a GIF image",
  "image/webp": "a WebP image",
  "application/pdf": "a PDF document",
};

/** A PDF's header may follow some junk, which readers accept within the first 1024 bytes. */
const PDF_HEADER_WINDOW = 1024;

/**
 * Whether the data starts as files of `mime` do, so a provider never gets something else under an image's
 * or a PDF's name. Only the first bytes are decoded.
 */
function hasSignature(mime: string, base64: string): boolean {
  const head = Buffer.from(base64.slice(0, mime === "application/pdf" ? Math.ceil(PDF_HEADER_WINDOW / 3) * 4 : 16), "base64");
  const ascii = (from: number, to: number) => head.subarray(from, to).toString("latin1");
  switch (mime) {
    case "image/png":
      return head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    case "image/jpeg":
      return head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
    case "image/gif":
      return ascii(0, 6) === "GIF87a" || ascii(0, 6) === "GIF89a";
    case "image/webp":
      return ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP";
    case "application/pdf":
      return head.subarray(0, PDF_HEADER_WINDOW).includes("%PDF-");
    default:
      return false;
  }
}

function stripDataUrl(data: string): string {
  const match = DATA_URL.exec(data);
  return match ? data.slice(match[0].length) : data;
}

function defaultName(mime: string, i: number): string {
  return `attachment-${i + 1}.${mime === "application/pdf" ? "pdf" : mime.slice("image/".length)}`;
}

function formatMb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
