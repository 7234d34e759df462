// When the transport sends a request again, as client-go does: after 429 Too Many Requests (the API server's
// priority and fairness, or max-in-flight) for as long as its Retry-After says, and once after a reset on a reused
// keep-alive socket, but only for a request that cannot be applied twice (a read, or a write with a precondition).
import type { IncomingHttpHeaders } from "node:http";

/** How many 429 answers one request waits out before the 429 is the answer (client-go allows 10 in total). */
export const MAX_THROTTLE_RETRIES = 3;

/**
 * The wait a 429's Retry-After asks for, in milliseconds: delay-seconds or an HTTP date (RFC 9110 10.2.3); undefined
 * without a usable one (client-go then does not retry). Node parses no Retry-After itself (undici's RetryHandler does,
 * but node:http does not expose it), hence these lines.
 */
export function retryAfterMs(headers: IncomingHttpHeaders, nowMs: number): number | undefined {
  const value = headers["retry-after"]?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Every HTTP-date form starts with the day's name; Date.parse alone would also take "-1" or "1.5" for a date.
  const at = /^[A-Za-z]/.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * A socket the keep-alive pool handed out again was closed by the server (its idle timeout) while this request
 * was being written, before any byte of an answer: Node's documented case for `request.reusedSocket`.
 */
export class ResetOnReusedSocketError extends Error {
  constructor(cause: Error) {
    super(`the API server closed a reused connection: ${cause.message}`, { cause });
    this.name = "ResetOnReusedSocketError";
  }
}

const RESET_CODES = new Set(["ECONNRESET", "EPIPE"]);

/** True for the errors a keep-alive socket the server closed meanwhile gives ("socket hang up" is ECONNRESET). */
export function isConnectionReset(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && RESET_CODES.has(code);
}

/**
 * Whether sending this request twice cannot apply it twice: a read, or a write the server refuses (409) once the
 * object changed, because it names the resourceVersion it expects (a replace or patch carrying
 * metadata.resourceVersion, a delete with preconditions). A create or an unconditional write never is.
 */
export function safeToResend(method: string, body: unknown): boolean {
  if (method === "GET" || method === "HEAD") return true;
  const b = body as
    | {
        metadata?: { resourceVersion?: unknown };
        preconditions?: { uid?: unknown; resourceVersion?: unknown };
      }
    | undefined;
  if (method === "PUT" || method === "PATCH") return nonEmpty(b?.metadata?.resourceVersion);
  if (method === "DELETE")
    return nonEmpty(b?.preconditions?.uid) || nonEmpty(b?.preconditions?.resourceVersion);
  return false;
}

const nonEmpty = (value: unknown) => typeof value === "string" && value !== "";
