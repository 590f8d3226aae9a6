/**
 * The serialized size and nesting depth of a value a client sent, found in one pass without recursion.
 * A client's JSON may nest thousands deep (JSON.parse copes; JSON.stringify and any recursive walk overflow
 * the stack or go quadratic), so anything deep must be refused before code that recurses sees it.
 */
export interface JsonMeasure {
  /** UTF-8 bytes of JSON.stringify(value). */
  bytes: number;
  /** 1 for a scalar, 1 + the deepest member for an array or object. */
  depth: number;
}

export function measureJson(value: unknown): JsonMeasure {
  let bytes = 0;
  let depth = 0;
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [item, level] = pending.pop()!;
    if (level > depth) depth = level;
    if (Array.isArray(item)) {
      bytes += 2 + Math.max(0, item.length - 1); // brackets and commas
      for (const member of item) pending.push([member === undefined ? null : member, level + 1]);
    } else if (item !== null && typeof item === "object") {
      const record = item as Record<string, unknown>;
      let members = 0;
      for (const key of Object.keys(record)) {
        if (record[key] === undefined) continue; // left out, as JSON.stringify does
        members++;
        bytes += Buffer.byteLength(JSON.stringify(key)) + 1; // "key":
        pending.push([record[key], level + 1]);
      }
      bytes += 2 + Math.max(0, members - 1);
    } else {
      bytes += typeof item === "string" ? Buffer.byteLength(JSON.stringify(item)) : (JSON.stringify(item) ?? "null").length;
    }
  }
  return { bytes, depth };
}
