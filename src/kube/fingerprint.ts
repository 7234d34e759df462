// Stable fingerprints of JSON-able values (sha256 of canonical JSON, key order ignored): spec hashes, status
// comparison, and the fingerprint of a Secret's data that the cache keeps instead of the data itself.
import { createHash } from "node:crypto";

/** JSON with object keys sorted: the API server hands objects back with their keys in its own order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** A stable fingerprint of a JSON-able value, independent of object key order. */
export function fingerprint(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 32);
}

/** Fingerprint of a Secret's data (base64 values). */
export function dataFingerprint(data: Record<string, string> | undefined): string {
  return fingerprint(data ?? {});
}
