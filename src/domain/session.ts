// What one AssumeRole asks for: the role ARN, the session duration (clamped under role chaining), and the session
// tags (the user's plus the operator's own, which must not collide). Pure: identity and flags come in as values.
import type { AWSAssumeRoleSpec } from "../api/schema.ts";
import type { CallerIdentity } from "./naming.ts";
import { roleArnFor } from "./naming.ts";

/** STS caps a session assumed by an assumed-role identity ("role chaining") at one hour. */
export const CHAINED_MAX_DURATION_SECONDS = 3600;
export const MIN_DURATION_SECONDS = 900;
/** STS accepts at most 50 session tags per AssumeRole. */
export const MAX_SESSION_TAGS = 50;

/**
 * The operator's own session tag keys. They differ from the transitive tags EKS Pod Identity attaches
 * (kubernetes-namespace, kubernetes-service-account, eks-cluster-arn, eks-cluster-name, kubernetes-pod-name,
 * kubernetes-pod-uid): STS rejects a session tag that repeats an inherited key.
 */
export const OperatorTagKey = {
  namespace: "aws-assume-role-namespace",
  name: "aws-assume-role-name",
  cluster: "aws-assume-role-cluster",
} as const;

export interface SessionTagOptions {
  enabled: boolean;
  clusterName?: string;
}

export class InvalidSessionError extends Error {
  override readonly name = "InvalidSessionError";
}

export function roleArnOf(
  spec: Pick<AWSAssumeRoleSpec, "roleArn" | "roleName">,
  identity: CallerIdentity,
): string {
  if (spec.roleArn) return spec.roleArn;
  if (!spec.roleName) throw new InvalidSessionError("the spec names neither roleName nor roleArn");
  return roleArnFor(identity, spec.roleName);
}

/** The duration to ask for first: the spec's, clamped to one hour when the operator's identity is an assumed role. */
export function requestedDuration(
  spec: Pick<AWSAssumeRoleSpec, "durationSeconds">,
  identity: CallerIdentity,
): {
  durationSeconds: number;
  clamped: boolean;
} {
  const wanted = spec.durationSeconds ?? MIN_DURATION_SECONDS;
  if (identity.assumedRole && wanted > CHAINED_MAX_DURATION_SECONDS) {
    return { durationSeconds: CHAINED_MAX_DURATION_SECONDS, clamped: true };
  }
  return { durationSeconds: wanted, clamped: false };
}

/** After STS rejected `rejected` seconds (above the role's MaxSessionDuration): the next duration to try, if any. */
export function fallbackDuration(rejected: number): number | undefined {
  if (rejected > CHAINED_MAX_DURATION_SECONDS) return CHAINED_MAX_DURATION_SECONDS;
  if (rejected > MIN_DURATION_SECONDS) return MIN_DURATION_SECONDS;
  return undefined;
}

/** True when an STS error message says the requested duration exceeds what the role (or chaining) allows. */
export function isDurationRejection(code: string, message: string): boolean {
  return code === "ValidationError" && /DurationSeconds|MaxSessionDuration|session duration/i.test(message);
}

/**
 * The session tags of one AssumeRole: the user's, plus (when enabled) the operator's tags naming the resource.
 * The operator's keys are reserved even when it does not add them (STS compares keys case-insensitively): a trust
 * policy that trusts aws-assume-role-namespace must never see one a tenant wrote, e.g. after --session-tags was
 * switched off by mistake. A colliding user key is an error, not overwritten.
 */
export function sessionTags(
  spec: Pick<AWSAssumeRoleSpec, "sessionTags">,
  resource: { namespace: string; name: string },
  options: SessionTagOptions,
): Record<string, string> {
  const tags: Record<string, string> = { ...(spec.sessionTags ?? {}) };
  const seen = new Map<string, string>();
  for (const key of Object.keys(tags)) {
    const other = seen.get(key.toLowerCase());
    if (other !== undefined) {
      throw new InvalidSessionError(
        `sessionTags ${other} and ${key} differ only in case; STS compares tag keys case-insensitively`,
      );
    }
    seen.set(key.toLowerCase(), key);
  }
  const reserved = new Set<string>(Object.values(OperatorTagKey));
  const clashes = Object.keys(tags).filter((k) => reserved.has(k.toLowerCase()));
  if (clashes.length > 0) {
    throw new InvalidSessionError(
      `sessionTags ${clashes.join(", ")} collide with the operator's own session tags ` +
        `(${Object.values(OperatorTagKey).join(", ")}), which are reserved; choose other keys`,
    );
  }
  if (!options.enabled) return tags;
  const ours: Record<string, string> = {
    [OperatorTagKey.namespace]: resource.namespace,
    [OperatorTagKey.name]: resource.name,
  };
  if (options.clusterName) ours[OperatorTagKey.cluster] = options.clusterName;
  const all = { ...tags, ...ours };
  const count = Object.keys(all).length;
  if (count > MAX_SESSION_TAGS) {
    throw new InvalidSessionError(
      `sessionTags has ${Object.keys(tags).length} tags; with the operator's own ${Object.keys(ours).length} ` +
        `that makes ${count}, above STS's limit of ${MAX_SESSION_TAGS}; remove some`,
    );
  }
  return all;
}

/** The session policy, checked to be a JSON object (the CRD can only check its first character). */
export function sessionPolicy(spec: Pick<AWSAssumeRoleSpec, "sessionPolicy">): string | undefined {
  if (spec.sessionPolicy === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(spec.sessionPolicy);
  } catch (err) {
    throw new InvalidSessionError(`sessionPolicy is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new InvalidSessionError("sessionPolicy must be a JSON object (an IAM policy document)");
  }
  return spec.sessionPolicy;
}
