// Content hashes the operator compares and writes into annotations (spec-hash, data-hash): SHA-256 of canonical
// JSON, so the same content hashes the same whatever the order of its object keys.
import { createHash } from "node:crypto";

/** JSON with object keys sorted: the API server hands objects back with their keys in its own order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** A stable hash of a JSON-able value, independent of object key order. */
export function contentHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 32);
}

/** Hash of a Secret's data (base64 values), as in the data-hash annotation. */
export function dataHash(data: Record<string, string> | undefined): string {
  return contentHash(data ?? {});
}
