// The pod-identity scenario's pure parts: the program the Secret-reading Pod runs and the parsing of what it prints,
// and the arithmetic of the report (latency rows in milliseconds, per-1,000 figures, per-fetch request counts).
import type { RequestCounts } from "../apiserver.ts";
import { summarize } from "../stats.ts";
import type { Summary } from "../stats.ts";

/** Where the reading Pod mounts the credentials Secret, and the key it reads (an AWS shared credentials file). */
export const READER_MOUNT = "/var/run/secrets/bench";
export const READER_KEY = "credentials";

/**
 * The program (CommonJS, `node -e`) of the Pod that reads the mounted Secret file READS times and parses it as the
 * SDKs parse a shared credentials file, then prints one JSON line: the first read's time and every read's, in ms.
 */
export const READER_SCRIPT = `
const { readFileSync } = require("node:fs");
const file = ${JSON.stringify(`${READER_MOUNT}/${READER_KEY}`)};
const reads = Number(process.env.READS);
const times = [];
let keys = 0;
for (let i = 0; i < reads; i++) {
  const start = process.hrtime.bigint();
  const profile = {};
  for (const line of readFileSync(file, "utf8").split("\\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) profile[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
  keys = Object.keys(profile).length;
}
process.stdout.write(JSON.stringify({ readsMs: times, keys }) + "\\n");
`;

/** A shared credentials file with values the size of real session credentials (a session token of ~1,000 chars). */
export function credentialsFile(accessKeyId: string, secretAccessKey: string, sessionToken: string): string {
  return [
    "[default]",
    `aws_access_key_id = ${accessKeyId}`,
    `aws_secret_access_key = ${secretAccessKey}`,
    `aws_session_token = ${sessionToken}`,
    "",
  ].join("\n");
}

export interface ReaderResult {
  /** The first read (a cold page cache in the Pod). */
  firstMs: number;
  /** The reads after the first. */
  rest: Summary;
  /** Keys parsed from the file at the last read (3 when the file is whole). */
  keys: number;
}

/** The reading Pod's line, found among whatever else its log holds; undefined when it is not there (yet). */
export function parseReaderLog(log: string): ReaderResult | undefined {
  for (const line of log.split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(line) as { readsMs?: unknown; keys?: unknown };
      if (!Array.isArray(parsed.readsMs) || parsed.readsMs.length === 0) continue;
      const reads = parsed.readsMs.map(Number);
      return {
        firstMs: reads[0]!,
        rest: summarize(reads.slice(1)),
        keys: Number(parsed.keys),
      };
    } catch {
      // not the reader's line
    }
  }
  return undefined;
}

/** Milliseconds, two decimals below 10 ms, one below 100, none above: latencies from µs to seconds in one column. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return value.toFixed(0);
}

/** A latency table row: label, count, p50, p99, max (ms) of `values` in ms. */
export function latencyRow(label: string, values: readonly number[]): string[] {
  const s = summarize(values);
  return [label, String(s.count), ms(s.p50), ms(s.p99), ms(s.max)];
}

/** `total` spread over `count` events, per 1,000 events. */
export function perThousand(total: number, count: number): number {
  return count > 0 ? (total * 1000) / count : NaN;
}

/** a / b as "×r" with the precision a reader needs, or "–" when it cannot be told. */
export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "–";
  const r = a / b;
  return `×${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}`;
}

/** The API server requests an authority answer costs: TokenReviews and Pod GETs per fetch, from counts of a window. */
export function requestsPerFetch(
  counts: RequestCounts,
  fetches: number,
): { tokenReviews: number; podGets: number } {
  const of = (key: string) => counts.get(key) ?? 0;
  return {
    tokenReviews: of("POST authentication.k8s.io/tokenreviews") / fetches,
    podGets: of("GET pods") / fetches,
  };
}
