// The Ready condition's reasons (one place, PascalCase) and how a condition list is updated without losing the
// lastTransitionTime of a condition whose status did not change.
import type { Condition, ConditionStatus } from "../api/schema.ts";

export const READY = "Ready";

export const Reason = {
  /** Credentials are in the Secret and will be refreshed before they expire. */
  CredentialsReady: "CredentialsReady",
  /** A Secret of that name exists and belongs to someone else. */
  SecretConflict: "SecretConflict",
  /** STS or ECR refused the operator (trust policy, permissions, or a role that does not exist). */
  AccessDenied: "AccessDenied",
  /** AWS rejected the request's parameters (e.g. a role name or duration it does not accept). */
  InvalidRequest: "InvalidRequest",
  /** The spec cannot be used as written. */
  InvalidSpec: "InvalidSpec",
  /** AWS throttled the operator; it retries with backoff. */
  Throttled: "Throttled",
  /** AWS could not be reached or answered with a server error; it retries with backoff. */
  AWSUnavailable: "AWSUnavailable",
  /** Any other AWS error. */
  AWSError: "AWSError",
  /** The Kubernetes API refused or failed a write. */
  KubernetesError: "KubernetesError",
  /** The namespace's permitted-roles annotation does not allow this role (--namespace-permissions). */
  RoleNotPermitted: "RoleNotPermitted",
  /** STS rejected the requested duration (above the role's MaxSessionDuration); a shorter one is tried. */
  DurationRejected: "DurationRejected",
  /**
   * AWS returned credentials or an ECR token whose expiry is already past, not a time, or implausibly soon (most
   * likely a skewed clock). The Secret is written with them, and the operator retries with growing backoff.
   */
  InvalidExpiration: "InvalidExpiration",
  /** ClusterAWSAssumeRole: no namespace matches its namespaceSelector, so no credentials are issued. */
  NoNamespacesSelected: "NoNamespacesSelected",
  /** Event only: the first Secret (or copies) of a resource was written. */
  Created: "Created",
  /** Event only: new credentials for a reason worth seeing (spec change, forced, drift, expiry), or any refresh with --refresh-events. */
  Refreshed: "Refreshed",
  /** Event only: the first successful refresh after the resource was not Ready (an AWS failure, a conflict...). */
  Recovered: "Recovered",
  /** Event only: the duration was clamped to one hour because the operator's identity is an assumed role. */
  DurationClamped: "DurationClamped",
  /** Event only: spec.serviceAccounts is set but the operator runs without --service-accounts. */
  ServiceAccountsDisabled: "ServiceAccountsDisabled",
  /** Event only: the operator could not remove its imagePullSecrets entries before letting the resource go. */
  ServiceAccountsNotCleaned: "ServiceAccountsNotCleaned",
  /** Event only: a ServiceAccount could not be patched. */
  ServiceAccountPatchFailed: "ServiceAccountPatchFailed",
  /** AWSPodIdentityAssociation: its ServiceAccount's Pods get the role's credentials from the node endpoint. */
  Associated: "Associated",
  /** AWSPodIdentityAssociation: an older association names the same ServiceAccount; this one is not served. */
  DuplicateAssociation: "DuplicateAssociation",
  /**
   * The operator runs without the flag that serves this kind (--cluster-assume-roles, --pod-identity): the resource
   * is not served. Written once per generation by a stand-in, with one Warning event.
   */
  FeatureDisabled: "FeatureDisabled",
  /** Event only (on a Pod): the Pod runs as an associated ServiceAccount but was created without the injection. */
  PodIdentityNotInjected: "PodIdentityNotInjected",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Returns the conditions with `next` set, keeping lastTransitionTime when the status did not change. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  now: Date,
): Condition[] {
  const list = conditions ?? [];
  const previous = list.find((c) => c.type === next.type);
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString();
  return [...list.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

export function readyCondition(
  status: ConditionStatus,
  reason: Reason,
  message: string,
  observedGeneration: number | undefined,
): Omit<Condition, "lastTransitionTime"> {
  return {
    type: READY,
    status,
    reason,
    message,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
}
