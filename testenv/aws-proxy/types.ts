// Types shared by the AWS proxy (testenv/aws-proxy/proxy.ts) and its HTTP client
// (test/support/aws-proxy-client.ts).

/** Credentials or tokens an AWS response handed out, as the client received them (after any rewrite). */
export interface IssuedCredentials {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** STS `Expiration` as sent (ISO 8601). */
  expiration?: string;
  /** ECR `authorizationToken` (base64 `AWS:<password>`). */
  authorizationToken?: string;
  /** ISO timestamp (ECR `expiresAt`, which AWS sends as epoch seconds). */
  expiresAt?: string;
}

export interface ProxyRecord {
  /** Increasing sequence number, starting at 1, never reused (not even after clearRecords/reset). */
  seq: number;
  /** ISO time the request arrived. */
  time: string;
  /** Signing name from the SigV4 credential scope, e.g. "sts", "ecr" ("unknown" if none). */
  service: string;
  region: string;
  /** Query `Action` or the operation part of `X-Amz-Target` ("" if none). */
  action: string;
  /** Query protocol: decoded form fields, flat. JSON protocol: the parsed body. */
  params: Record<string, unknown>;
  /** Access key id of the signer, from the Authorization header (or X-Amz-Credential). */
  accessKeyId?: string;
  /** RoleSessionName of the AssumeRole(WithWebIdentity) the proxy saw issue `accessKeyId`. */
  callerSession?: string;
  /** HTTP status returned to the client; 0 when the connection was dropped. */
  status: number;
  /** Kind of the injected fault, if any ("throttle", "unavailable", "latency", "drop", "error", "hang"). */
  fault?: string;
  /** Set when the proxy answered itself instead of forwarding: "ExpiredToken" (see Lifetime.rejectExpired). */
  rejected?: string;
  /** Set when the upstream could not be reached (the client then got a 502). */
  upstreamError?: string;
  durationMs: number;
  issued?: IssuedCredentials;
}

export interface RecordFilter {
  service?: string;
  action?: string;
  /** Only records with seq > sinceSeq. */
  sinceSeq?: number;
}

/** "hang": hold the request without ever answering, until the client gives up (or the proxy closes). */
export type FaultKind = "throttle" | "unavailable" | "latency" | "drop" | "error" | "hang";

export interface FaultRule {
  /** Match only this service (signing name, e.g. "sts", "ecr"). */
  service?: string;
  /** Match only this action (e.g. "AssumeRole", "GetAuthorizationToken"). */
  action?: string;
  /** Match only requests whose RoleSessionName starts with this (AssumeRole of chosen resources). */
  sessionPrefix?: string;
  kind: FaultKind;
  /** Chance that a matching request is faulted, 0..1 (default 1). A request that escapes the roll goes on to the next rule. */
  probability?: number;
  /** Fault only this many matching requests, then the rule stops applying. */
  count?: number;
  /** kind "latency": delay before forwarding (default 1000). */
  latencyMs?: number;
  /** kind "error": HTTP status (default 400). */
  httpStatus?: number;
  /** kind "error": AWS error code (default "ValidationError"). */
  code?: string;
  /** kind "error": message (default "Injected by aws-proxy"). */
  message?: string;
}

export interface Lifetime {
  /** Rewrite STS credential Expiration to now + stsSeconds (undefined: keep moto's expiry; negative: in the past). */
  stsSeconds?: number;
  /** Rewrite ECR expiresAt to now + ecrSeconds (undefined: now + 12 h, what AWS issues). */
  ecrSeconds?: number;
  /** Pass moto's ECR answer through unchanged (its tokens expired on 2015-01-01); ecrSeconds is then ignored. */
  ecrPassThrough?: boolean;
  /**
   * Answer a request signed with STS credentials this proxy saw issued, after their Expiration, with 403
   * `ExpiredToken` as AWS does (moto accepts expired credentials). Default false.
   */
  rejectExpired?: boolean;
}

export interface ProxyHealth {
  ok: true;
  upstream: string;
  records: number;
  faults: number;
  lifetime: Lifetime;
}
