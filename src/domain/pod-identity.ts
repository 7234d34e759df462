// What the credential authority decides from plain values: who a reviewed ServiceAccount token names (its
// ServiceAccount, the Pod and node it is bound to), whether an asking agent is the trusted one, which association
// serves a ServiceAccount when several name it, and the refusals with their HTTP status and code (docs/pod-identity.md).

/** The audience of the Pods' projected tokens (injected volume, TokenReview). */
export const POD_TOKEN_AUDIENCE = "aws-assume-role.pincette.net/pod";
/** The audience of the node agent's projected token. */
export const AGENT_TOKEN_AUDIENCE = "aws-assume-role.pincette.net/agent";

/** The keys of a bound token's `user.extra` in a TokenReview answer (Kubernetes 1.32+ for the node ones). */
export const TokenExtra = {
  podName: "authentication.kubernetes.io/pod-name",
  podUid: "authentication.kubernetes.io/pod-uid",
  nodeName: "authentication.kubernetes.io/node-name",
} as const;

/** A TokenReview's answer, reduced to what the authority reads. */
export interface ReviewedToken {
  authenticated: boolean;
  username?: string;
  audiences?: string[];
  extra?: Record<string, string[]>;
  error?: string;
}

/** Who a valid ServiceAccount token names. */
export interface TokenIdentity {
  namespace: string;
  serviceAccount: string;
  /** The Pod the token is bound to; undefined for a token not bound to a Pod. */
  pod: { name: string; uid: string } | undefined;
  /** The node of the bound Pod, as the token says. */
  nodeName: string | undefined;
}

export const Refusal = {
  MissingToken: { status: 401, code: "MissingToken" },
  AgentNotTrusted: { status: 403, code: "AgentNotTrusted" },
  InvalidToken: { status: 403, code: "InvalidToken" },
  WrongNode: { status: 403, code: "WrongNode" },
  NoAssociation: { status: 404, code: "NoAssociation" },
  AssociationNotReady: { status: 403, code: "AssociationNotReady" },
  RoleNotPermitted: { status: 403, code: "RoleNotPermitted" },
  AssumeRoleFailed: { status: 403, code: "AssumeRoleFailed" },
  ServiceUnavailable: { status: 503, code: "ServiceUnavailable" },
} as const;
export type RefusalKind = (typeof Refusal)[keyof typeof Refusal];

/** A request the authority answers with an error: an HTTP status, a code and a message for the SDK's log. */
export class RefusedError extends Error {
  override readonly name = "RefusedError";
  readonly status: number;
  readonly code: string;

  constructor(kind: RefusalKind, message: string) {
    super(message);
    this.status = kind.status;
    this.code = kind.code;
  }
}

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([a-z0-9][-a-z0-9]*):([a-z0-9][-.a-z0-9]*)$/;

/** The identity of a reviewed token with the expected audience, or why it is not one. */
export function tokenIdentity(review: ReviewedToken, audience: string): TokenIdentity | { problem: string } {
  if (!review.authenticated) {
    return { problem: `the token is not valid${review.error ? ` (${review.error})` : ""}` };
  }
  if (!(review.audiences ?? []).includes(audience)) {
    return { problem: `the token is not for the audience ${audience}` };
  }
  const match = SERVICE_ACCOUNT_USER.exec(review.username ?? "");
  if (!match) return { problem: "the token is not a ServiceAccount's" };
  const first = (key: string) => review.extra?.[key]?.[0];
  const podName = first(TokenExtra.podName);
  const podUid = first(TokenExtra.podUid);
  return {
    namespace: match[1]!,
    serviceAccount: match[2]!,
    pod: podName && podUid ? { name: podName, uid: podUid } : undefined,
    nodeName: first(TokenExtra.nodeName),
  };
}

/** The node an agent token speaks for, when it is the trusted agent's (`namespace/name`) and bound to a Pod on a node. */
export function agentNode(
  review: ReviewedToken,
  agent: { namespace: string; serviceAccount: string },
): { nodeName: string } | { problem: string } {
  const identity = tokenIdentity(review, AGENT_TOKEN_AUDIENCE);
  if ("problem" in identity) return { problem: `agent token: ${identity.problem}` };
  if (identity.namespace !== agent.namespace || identity.serviceAccount !== agent.serviceAccount) {
    return {
      problem:
        `the asking token is ServiceAccount ${identity.namespace}/${identity.serviceAccount}'s, ` +
        `not the node agent's (${agent.namespace}/${agent.serviceAccount})`,
    };
  }
  if (!identity.pod || !identity.nodeName) {
    return { problem: "the agent's token is not bound to a Pod on a node" };
  }
  return { nodeName: identity.nodeName };
}

/** Orders associations naming one ServiceAccount: the oldest serves, the others are duplicates. */
export function servingOrder<A extends { metadata: { name?: string; creationTimestamp?: string | Date } }>(
  candidates: readonly A[],
): A[] {
  const time = (a: A) => {
    const t = a.metadata.creationTimestamp;
    return t === undefined ? Number.MAX_SAFE_INTEGER : new Date(t).getTime();
  };
  return [...candidates].sort(
    (a, b) => time(a) - time(b) || (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
  );
}

/** The JSON the SDKs' container credential providers read. */
export interface ContainerCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  /** RFC 3339. */
  Expiration: string;
  AccountId?: string;
}

/** The account of an IAM role ARN (arn:partition:iam::account:role/...), if it is one. */
export function accountOfRoleArn(roleArn: string): string | undefined {
  return /^arn:[^:]+:iam::(\d{12}):role\//.exec(roleArn)?.[1];
}
