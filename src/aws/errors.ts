// AWS SDK errors → a typed failure the credential steps can act on: which status reason, whether retrying can help, and
// a message fit for status and events (the AWS message with anything credential-shaped removed).
import { Reason } from "../domain/conditions.ts";

export class AwsFailure extends Error {
  override readonly name = "AwsFailure";
  readonly reason: Reason;
  /** Retrying later may succeed (throttling, outages); otherwise retrying only helps once something is fixed. */
  readonly temporary: boolean;
  /** The AWS error code, e.g. "AccessDenied". */
  readonly code: string;

  /** No answer before the request's or the reconcile's deadline. */
  get timedOut(): boolean {
    return this.code === "AbortError" || this.code === "TimeoutError";
  }

  constructor(reason: Reason, code: string, message: string, temporary: boolean) {
    super(message);
    this.reason = reason;
    this.code = code;
    this.temporary = temporary;
  }
}

const THROTTLING = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "SlowDown",
]);
const DENIED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "IDPRejectedClaim",
]);
const INVALID = new Set([
  "ValidationError",
  "ValidationException",
  "InvalidParameterValue",
  "InvalidParameterException",
  "MalformedPolicyDocument",
  "PackedPolicyTooLarge",
  "RegionDisabledException",
  "InvalidIdentityToken",
]);
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

export function classifyAwsError(err: unknown, what: string): AwsFailure {
  if (err instanceof AwsFailure) return err;
  const e = (err ?? {}) as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $fault?: string;
  };
  const code = e.Code ?? e.name ?? "Error";
  if (code === "AbortError" || code === "TimeoutError") {
    // The request deadline or the reconcile's deadline passed without an answer.
    return new AwsFailure(
      Reason.AWSUnavailable,
      code,
      `${what}: no answer before the deadline (${code})`,
      true,
    );
  }
  const status = e.$metadata?.httpStatusCode;
  const message = `${what}: ${code}: ${redact(e.message ?? String(err))}`;
  if (THROTTLING.has(code) || status === 429) return new AwsFailure(Reason.Throttled, code, message, true);
  if (DENIED.has(code)) return new AwsFailure(Reason.AccessDenied, code, message, false);
  if (INVALID.has(code)) return new AwsFailure(Reason.InvalidRequest, code, message, false);
  const network = typeof e.code === "string" && NETWORK.has(e.code);
  if (
    network ||
    (status !== undefined && status >= 500) ||
    e.$fault === "server" ||
    code === "TimeoutError"
  ) {
    return new AwsFailure(Reason.AWSUnavailable, code, message, true);
  }
  if (status === undefined && !e.$metadata) {
    // No HTTP answer at all: the connection failed in a way the SDK did not label.
    return new AwsFailure(Reason.AWSUnavailable, code, message, true);
  }
  return new AwsFailure(Reason.AWSError, code, message, true);
}

/** Removes anything that looks like an access key id, a secret key or a token from text meant for people. */
export function redact(text: string): string {
  return text
    .replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, "[redacted]")
    .replace(/[A-Za-z0-9+/=]{40,}/g, "[redacted]");
}
