// What the agent answers: the JSON error bodies the SDKs expect ({"Code","Message"}), the agent's own refusals as a
// type, and the check of the authority's answer before it is served or cached.

export interface AgentAnswer {
  status: number;
  /** JSON text. */
  body: string;
}

/** The codes the agent itself answers with; the authority's own codes pass through unchanged. */
export const AgentCode = {
  MissingToken: "MissingToken",
  InvalidHost: "InvalidHost",
  AuthorityUnavailable: "AuthorityUnavailable",
  ServiceUnavailable: "ServiceUnavailable",
  NotFound: "NotFound",
  MethodNotAllowed: "MethodNotAllowed",
  InternalError: "InternalError",
} as const;
export type AgentCode = (typeof AgentCode)[keyof typeof AgentCode];

/** The agent could not get an answer from the authority (unreachable, not set up yet, answered nonsense). */
export class AgentRefusal extends Error {
  override readonly name = "AgentRefusal";
  readonly status: number;
  readonly code: AgentCode;
  constructor(status: number, code: AgentCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function errorAnswer(status: number, code: string, message: string): AgentAnswer {
  return { status, body: JSON.stringify({ Code: code, Message: message }) };
}

/** A checked answer of the authority: credentials to serve (and maybe cache), or its refusal to pass through. */
export type AuthorityAnswer =
  | { kind: "credentials"; body: string; expirationMs: number }
  | { kind: "refusal"; status: number; body: string };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Checks the authority's status and body; throws AgentRefusal (502) when it is not what the SDKs can use. */
export function checkAuthorityAnswer(status: number, body: string): AuthorityAnswer {
  const malformed = (why: string) =>
    new AgentRefusal(
      502,
      AgentCode.AuthorityUnavailable,
      `the credential authority answered ${status} ${why}`,
    );
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw malformed("with a body that is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed("with a body that is not a JSON object");
  }
  const fields = value as Record<string, unknown>;
  const isText = (name: string) => typeof fields[name] === "string" && fields[name] !== "";
  if (status === 200) {
    const missing = ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"].filter((n) => !isText(n));
    if (missing.length > 0) throw malformed(`without ${missing.join(", ")}`);
    if (fields.AccountId !== undefined && typeof fields.AccountId !== "string") {
      throw malformed("with an AccountId that is not a string");
    }
    const expiration = fields.Expiration as string;
    const expirationMs = Date.parse(expiration);
    if (!RFC3339.test(expiration) || !Number.isFinite(expirationMs)) {
      throw malformed("with an Expiration that is not an RFC 3339 time");
    }
    return { kind: "credentials", body, expirationMs };
  }
  if (status < 400 || status > 599) throw malformed("(not 200, not an error status)");
  if (!isText("Code") || typeof fields.Message !== "string") throw malformed("without Code and Message");
  return { kind: "refusal", status, body };
}
