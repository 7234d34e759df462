// Pure helpers for the AWS proxy: recognise an AWS request (service, region, action, params),
// build error responses in each protocol's real wire format, and read/rewrite the credentials and
// tokens in STS and ECR responses. No I/O; `now` and request ids are passed in.
//
// Protocols covered:
// - AWS query (STS, IAM, ...): form-encoded `Action=...&Version=...` in the POST body or query string;
//   errors are `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`,
//   which the SDK reads as `Error.Code`.
// - AWS JSON 1.0/1.1 (ECR, ...): `X-Amz-Target: <ServicePrefix>.<Operation>` and a JSON body; errors carry
//   the code in the `x-amzn-ErrorType` header and in the body's `__type`, which the SDK reads.
import { createHmac, randomBytes } from "node:crypto";
import type { IssuedCredentials } from "./types.ts";

export type WireProtocol = "query" | "json" | "unknown";

export interface RequestInfo {
  protocol: WireProtocol;
  service: string;
  region: string;
  action: string;
  params: Record<string, unknown>;
  accessKeyId?: string;
}

export interface HttpResponseParts {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Headers = Record<string, string | string[] | undefined>;

export interface CredentialScope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

const DEFAULT_REGION = "us-east-1";

/** X-Amz-Target prefixes -> signing names, used when a request carries no SigV4 scope. */
const TARGET_PREFIX_SERVICE: Record<string, string> = {
  AmazonEC2ContainerRegistry_V20150921: "ecr",
};

/** Query-protocol API versions -> signing names, used when a request carries no SigV4 scope. */
const QUERY_VERSION_SERVICE: Record<string, string> = {
  "2011-06-15": "sts",
  "2010-05-08": "iam",
};

/** Query-protocol XML namespaces per service (error responses echo them). */
const QUERY_NAMESPACE: Record<string, string> = {
  sts: "https://sts.amazonaws.com/doc/2011-06-15/",
  iam: "https://iam.amazonaws.com/doc/2010-05-08/",
};

/** STS actions whose response carries `<Credentials>` with an `<Expiration>`. */
export const STS_CREDENTIAL_ACTIONS: ReadonlySet<string> = new Set([
  "AssumeRole",
  "AssumeRoleWithWebIdentity",
  "AssumeRoleWithSAML",
  "GetSessionToken",
  "GetFederationToken",
]);

/** What AWS issues and moto does not: ECR authorization tokens live 12 hours. */
export const ECR_DEFAULT_TOKEN_SECONDS = 12 * 60 * 60;

export function header(headers: Headers, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Parses `Credential=AKID/20261128/us-east-1/sts/aws4_request` out of a SigV4 Authorization header or X-Amz-Credential value. */
export function parseCredentialScope(value: string | undefined): CredentialScope | undefined {
  if (!value) return undefined;
  const m = /(?:^|Credential=)([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request/.exec(value);
  if (!m) return undefined;
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, service: m[4]! };
}

function isFormContentType(ct: string | undefined): boolean {
  return !!ct && ct.toLowerCase().startsWith("application/x-www-form-urlencoded");
}

function isAwsJsonContentType(ct: string | undefined): boolean {
  return !!ct && /^application\/x-amz-json-1\.[01]\b/i.test(ct);
}

/** True when the proxy must buffer the request body to identify/record the request. */
export function shouldBufferRequestBody(headers: Headers): boolean {
  const ct = header(headers, "content-type");
  return isFormContentType(ct) || isAwsJsonContentType(ct) || !!header(headers, "x-amz-target");
}

/** Identifies an AWS request. `url` is the request target (path + query); `body` the buffered body ("" if not buffered). */
export function detectRequest(req: {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}): RequestInfo {
  const url = new URL(req.url, "http://proxy.invalid");
  const scope =
    parseCredentialScope(header(req.headers, "authorization")) ??
    parseCredentialScope(url.searchParams.get("X-Amz-Credential") ?? undefined);
  const target = header(req.headers, "x-amz-target");
  const ct = header(req.headers, "content-type");

  if (target) {
    const dot = target.lastIndexOf(".");
    const prefix = dot >= 0 ? target.slice(0, dot) : "";
    const action = dot >= 0 ? target.slice(dot + 1) : target;
    let params: Record<string, unknown> = {};
    if (req.body.trim() !== "") {
      try {
        const parsed: unknown = JSON.parse(req.body);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
          params = parsed as Record<string, unknown>;
      } catch {
        params = {};
      }
    }
    return {
      protocol: "json",
      service: scope?.service ?? TARGET_PREFIX_SERVICE[prefix] ?? "unknown",
      region: scope?.region ?? DEFAULT_REGION,
      action,
      params,
      ...(scope ? { accessKeyId: scope.accessKeyId } : {}),
    };
  }

  const params: Record<string, unknown> = {};
  for (const [k, v] of url.searchParams) {
    if (k.startsWith("X-Amz-")) continue; // presigning parameters are not API parameters
    params[k] = v;
  }
  if (isFormContentType(ct) && req.body !== "") {
    for (const [k, v] of new URLSearchParams(req.body)) params[k] = v;
  }
  const action = typeof params["Action"] === "string" ? params["Action"] : "";
  const version = typeof params["Version"] === "string" ? params["Version"] : "";
  const isQuery = action !== "";
  return {
    protocol: isQuery ? "query" : "unknown",
    service: scope?.service ?? QUERY_VERSION_SERVICE[version] ?? "unknown",
    region: scope?.region ?? DEFAULT_REGION,
    action,
    params: isQuery ? params : {},
    ...(scope ? { accessKeyId: scope.accessKeyId } : {}),
  };
}

export interface AwsErrorSpec {
  status: number;
  code: string;
  message: string;
  requestId: string;
}

function xmlEscape(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const l = e.toLowerCase();
    if (l === "amp") return "&";
    if (l === "lt") return "<";
    if (l === "gt") return ">";
    if (l === "quot") return '"';
    if (l === "apos") return "'";
    return String.fromCodePoint(l.startsWith("#x") ? parseInt(l.slice(2), 16) : parseInt(l.slice(1), 10));
  });
}

/** Query-protocol error, as STS/IAM send it. `Type` is Sender for 4xx, Receiver for 5xx. */
export function queryErrorResponse(service: string, e: AwsErrorSpec): HttpResponseParts {
  const ns = QUERY_NAMESPACE[service] ?? `https://${service}.amazonaws.com/doc/`;
  const type = e.status >= 500 ? "Receiver" : "Sender";
  const body =
    `<ErrorResponse xmlns="${xmlEscape(ns)}">\n` +
    `  <Error>\n` +
    `    <Type>${type}</Type>\n` +
    `    <Code>${xmlEscape(e.code)}</Code>\n` +
    `    <Message>${xmlEscape(e.message)}</Message>\n` +
    `  </Error>\n` +
    `  <RequestId>${xmlEscape(e.requestId)}</RequestId>\n` +
    `</ErrorResponse>\n`;
  return {
    status: e.status,
    headers: {
      "content-type": "text/xml",
      "x-amzn-requestid": e.requestId,
      "content-length": String(Buffer.byteLength(body)),
    },
    body,
  };
}

/** JSON-protocol error, as ECR sends it: code in `x-amzn-ErrorType` and `__type`. */
export function jsonErrorResponse(
  e: AwsErrorSpec,
  contentType = "application/x-amz-json-1.1",
): HttpResponseParts {
  const body = JSON.stringify({ __type: e.code, message: e.message });
  return {
    status: e.status,
    headers: {
      "content-type": contentType,
      "x-amzn-errortype": e.code,
      "x-amzn-requestid": e.requestId,
      "content-length": String(Buffer.byteLength(body)),
    },
    body,
  };
}

/** An error response in the request's protocol (query XML unless the request was JSON). */
export function errorResponse(
  info: Pick<RequestInfo, "protocol" | "service">,
  e: AwsErrorSpec,
): HttpResponseParts {
  return info.protocol === "json" ? jsonErrorResponse(e) : queryErrorResponse(info.service, e);
}

/** The service's real throttling error: query `Throttling`, JSON `ThrottlingException`, both 400 "Rate exceeded". */
export function throttleError(
  info: Pick<RequestInfo, "protocol" | "service">,
  requestId: string,
): HttpResponseParts {
  const code = info.protocol === "json" ? "ThrottlingException" : "Throttling";
  return errorResponse(info, { status: 400, code, message: "Rate exceeded", requestId });
}

/** 503: query `ServiceUnavailable`, JSON `ServiceUnavailableException`. */
export function unavailableError(
  info: Pick<RequestInfo, "protocol" | "service">,
  requestId: string,
): HttpResponseParts {
  const code = info.protocol === "json" ? "ServiceUnavailableException" : "ServiceUnavailable";
  return errorResponse(info, {
    status: 503,
    code,
    message: "Service is unavailable. Please try again later.",
    requestId,
  });
}

/** ISO timestamp in STS's format (whole seconds, `Z`). */
export function stsTimestamp(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Sets every `<Expiration>` in an STS credentials response to now + seconds. */
export function rewriteStsExpiration(xml: string, nowMs: number, seconds: number): string {
  const exp = stsTimestamp(nowMs + seconds * 1000);
  return xml.replace(/<Expiration>[^<]*<\/Expiration>/g, `<Expiration>${exp}</Expiration>`);
}

function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return m ? xmlUnescape(m[1]!.trim()) : undefined;
}

/** Reads `<Credentials>` out of an STS response; undefined if there are none. */
export function extractStsCredentials(xml: string): IssuedCredentials | undefined {
  const m = /<Credentials>([\s\S]*?)<\/Credentials>/.exec(xml);
  if (!m) return undefined;
  const block = m[1]!;
  const out: IssuedCredentials = {};
  const accessKeyId = xmlText(block, "AccessKeyId");
  const secretAccessKey = xmlText(block, "SecretAccessKey");
  const sessionToken = xmlText(block, "SessionToken");
  const expiration = xmlText(block, "Expiration");
  if (accessKeyId !== undefined) out.accessKeyId = accessKeyId;
  if (secretAccessKey !== undefined) out.secretAccessKey = secretAccessKey;
  if (sessionToken !== undefined) out.sessionToken = sessionToken;
  if (expiration !== undefined) out.expiration = expiration; // as sent (ISO 8601, moto adds microseconds)
  return out;
}

/**
 * Applies `edit` to every object entry of `authorizationData` of an ECR GetAuthorizationToken response. Returns the
 * body unchanged if it is not such a response.
 */
function editEcrAuthorizationData(json: string, edit: (entry: Record<string, unknown>) => void): string {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return json;
  }
  const data = (doc as { authorizationData?: unknown })?.authorizationData;
  if (!Array.isArray(data)) return json;
  for (const entry of data) if (entry && typeof entry === "object") edit(entry as Record<string, unknown>);
  return JSON.stringify(doc);
}

/**
 * Sets `expiresAt` (epoch seconds) of every `authorizationData` entry of an ECR GetAuthorizationToken
 * response to now + seconds. Returns the body unchanged if it is not such a response.
 */
export function rewriteEcrExpiresAt(json: string, nowMs: number, seconds: number): string {
  const expiresAt = Math.round(nowMs + seconds * 1000) / 1000;
  return editEcrAuthorizationData(json, (entry) => {
    entry["expiresAt"] = expiresAt;
  });
}

/**
 * A password the test world's registry (testenv/registry) accepts until `expiresAtSeconds`:
 * "<expiry>.<nonce>.<hex HMAC-SHA256(key, expiry.nonce)>".
 */
export function registryPassword(key: string, expiresAtSeconds: number, nonce: string): string {
  const payload = `${Math.floor(expiresAtSeconds)}.${nonce}`;
  return `${payload}.${createHmac("sha256", key).update(payload).digest("hex")}`;
}

/**
 * Replaces moto's fixed ECR token (the same for every call) with one the test world's registry checks: base64
 * "AWS:" + registryPassword, expiring with the entry's `expiresAt`. Returns the body unchanged if it is not such a
 * response.
 */
export function signEcrTokens(json: string, key: string): string {
  return editEcrAuthorizationData(json, (entry) => {
    if (typeof entry["expiresAt"] !== "number") return;
    const password = registryPassword(key, entry["expiresAt"], randomBytes(8).toString("hex"));
    entry["authorizationToken"] = Buffer.from(`AWS:${password}`).toString("base64");
  });
}

/** Reads the first authorization token out of an ECR GetAuthorizationToken response. */
export function extractEcrToken(json: string): IssuedCredentials | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return undefined;
  }
  const data = (doc as { authorizationData?: unknown })?.authorizationData;
  if (!Array.isArray(data) || data.length === 0) return undefined;
  const first = data[0] as { authorizationToken?: unknown; expiresAt?: unknown };
  const out: IssuedCredentials = {};
  if (typeof first.authorizationToken === "string") out.authorizationToken = first.authorizationToken;
  if (typeof first.expiresAt === "number") out.expiresAt = new Date(first.expiresAt * 1000).toISOString();
  else if (typeof first.expiresAt === "string") out.expiresAt = first.expiresAt;
  return out;
}

/** What the proxy does with a response body: rewrite and/or extract credentials. */
export type ResponseKind = "sts-credentials" | "ecr-token" | "none";

export function responseKind(info: Pick<RequestInfo, "service" | "action">): ResponseKind {
  if (info.service === "sts" && STS_CREDENTIAL_ACTIONS.has(info.action)) return "sts-credentials";
  if (info.service === "ecr" && info.action === "GetAuthorizationToken") return "ecr-token";
  return "none";
}

/**
 * Rewrites a successful credentials/token response body for the configured lifetime and extracts what it
 * issued. STS: Expiration = now + stsSeconds if set, otherwise untouched. ECR: expiresAt = now + ecrSeconds
 * if set, otherwise now + 12 h — moto answers with a fixed expiresAt in 2015, while AWS issues 12-hour tokens,
 * so passing moto's value through would make every token look long expired. With `ecrTokenKey`, the ECR token
 * is one the test world's registry accepts until that expiry (signEcrTokens).
 */
export function rewriteCredentialResponse(
  kind: ResponseKind,
  body: string,
  nowMs: number,
  lifetime: { stsSeconds?: number; ecrSeconds?: number; ecrPassThrough?: boolean },
  ecrTokenKey?: string,
): { body: string; issued?: IssuedCredentials } {
  if (kind === "sts-credentials") {
    const out =
      lifetime.stsSeconds !== undefined ? rewriteStsExpiration(body, nowMs, lifetime.stsSeconds) : body;
    const issued = extractStsCredentials(out);
    return issued ? { body: out, issued } : { body: out };
  }
  if (kind === "ecr-token") {
    let out = lifetime.ecrPassThrough
      ? body
      : rewriteEcrExpiresAt(body, nowMs, lifetime.ecrSeconds ?? ECR_DEFAULT_TOKEN_SECONDS);
    if (ecrTokenKey !== undefined && !lifetime.ecrPassThrough) out = signEcrTokens(out, ecrTokenKey);
    const issued = extractEcrToken(out);
    return issued ? { body: out, issued } : { body: out };
  }
  return { body };
}
