// What the operator should do for one AWSAssumeRole, given the Secret it found: keep it and wait, refresh
// credentials (and why), or stay away because the Secret belongs to someone else. Pure: the reconcilers passes in the
// time and the hashes it computed.
import type { SecretType } from "../api/schema.ts";
import { expectedSecretType } from "./render.ts";
import { refreshTime, stableRandom } from "./schedule.ts";

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "aws-assume-role-operator";

export const PREFIX = "aws-assume-role.pincette.net";
/** Annotations the operator writes on its Secrets (never credentials). */
export const SecretAnnotation = {
  roleArn: `${PREFIX}/role-arn`,
  durationSeconds: `${PREFIX}/duration-seconds`,
  expirationTime: `${PREFIX}/expiration-time`,
  lastRefreshTime: `${PREFIX}/last-refresh-time`,
  specHash: `${PREFIX}/spec-hash`,
  dataHash: `${PREFIX}/data-hash`,
  forceRefresh: `${PREFIX}/force-refresh`,
  ownerUid: `${PREFIX}/owner-uid`,
} as const;

/** Annotation on an AWSAssumeRole: a new value forces a refresh. */
export const FORCE_REFRESH_ANNOTATION = `${PREFIX}/force-refresh`;

export interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
  controller?: boolean;
}

/** The parts of an existing Secret that planning looks at. */
export interface ObservedSecret {
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  /** Fingerprint of the Secret's current data, computed the same way as the one written in its annotation. */
  dataHash: string;
}

export type Ownership = "ours" | "other-resource" | "foreign";

/**
 * Ours: our controller ownerReference, or (when someone removed every ownerReference) our owner-uid annotation.
 * Another AWSAssumeRole's Secret and anything else are never touched.
 */
export function ownership(secret: ObservedSecret, ownerUid: string): Ownership {
  const controller = secret.ownerReferences?.find((r) => r.controller);
  if (controller) {
    if (controller.uid === ownerUid) return "ours";
    return controller.kind === "AWSAssumeRole" ? "other-resource" : "foreign";
  }
  if (
    (secret.ownerReferences?.length ?? 0) === 0 &&
    secret.annotations?.[SecretAnnotation.ownerUid] === ownerUid
  ) {
    return "ours";
  }
  return "foreign";
}

export type RefreshCause = "missing" | "spec-changed" | "forced" | "drift" | "expired" | "due";

/** Why a refresh happened, for events and logs. */
export function describeCause(cause: RefreshCause): string {
  switch (cause) {
    case "missing":
      return "the Secret did not exist";
    case "spec-changed":
      return "the spec changed";
    case "forced":
      return "a refresh was forced";
    case "drift":
      return "the Secret had been changed by someone else";
    case "expired":
      return "the credentials had expired";
    case "due":
      return "the refresh time was reached";
  }
}

export type Plan =
  | { action: "conflict"; message: string }
  | {
      action: "refresh";
      cause: RefreshCause;
      /** the Secret's type must change: delete and create */ replace: boolean;
    }
  | { action: "keep"; lastRefreshTime: Date; expirationTime: Date; nextRefreshTime: Date };

export interface PlanInput {
  ownerUid: string;
  secretName: string;
  secretType: SecretType;
  /** Fingerprint of everything in the spec that shapes the Secret. */
  specHash: string;
  /** The AWSAssumeRole's force-refresh annotation, if any. */
  forceRefresh?: string;
  secret?: ObservedSecret;
  now: Date;
  refreshRatio: number;
  jitterFraction: number;
}

export function plan(input: PlanInput): Plan {
  const { secret } = input;
  if (!secret) return { action: "refresh", cause: "missing", replace: false };
  const owner = ownership(secret, input.ownerUid);
  if (owner !== "ours") {
    const whose =
      owner === "other-resource" ? "another AWSAssumeRole" : "something other than this AWSAssumeRole";
    return {
      action: "conflict",
      message: `Secret ${input.secretName} already exists and belongs to ${whose}; it is left untouched`,
    };
  }
  const annotations = secret.annotations ?? {};
  const replace = secret.type !== expectedSecretType(input.secretType);
  if (annotations[SecretAnnotation.specHash] !== input.specHash)
    return { action: "refresh", cause: "spec-changed", replace };
  if (replace) return { action: "refresh", cause: "drift", replace };
  if (input.forceRefresh !== undefined && input.forceRefresh !== annotations[SecretAnnotation.forceRefresh]) {
    return { action: "refresh", cause: "forced", replace: false };
  }
  const lastRefreshTime = parseTime(annotations[SecretAnnotation.lastRefreshTime]);
  const expirationTime = parseTime(annotations[SecretAnnotation.expirationTime]);
  const intact =
    secret.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE &&
    secret.ownerReferences?.some((r) => r.controller && r.uid === input.ownerUid) === true &&
    annotations[SecretAnnotation.dataHash] === secret.dataHash &&
    lastRefreshTime !== undefined &&
    expirationTime !== undefined;
  if (!intact) return { action: "refresh", cause: "drift", replace: false };
  if (input.now.getTime() >= expirationTime.getTime())
    return { action: "refresh", cause: "expired", replace: false };
  const nextRefreshTime = scheduledRefresh(input.ownerUid, lastRefreshTime, expirationTime, input);
  if (input.now.getTime() >= nextRefreshTime.getTime())
    return { action: "refresh", cause: "due", replace: false };
  return { action: "keep", lastRefreshTime, expirationTime, nextRefreshTime };
}

/** The refresh time of credentials obtained at `lastRefreshTime`; the same inputs give the same time after a restart. */
export function scheduledRefresh(
  ownerUid: string,
  lastRefreshTime: Date,
  expirationTime: Date,
  opts: { refreshRatio: number; jitterFraction: number },
): Date {
  return refreshTime({
    lastRefreshTime,
    expirationTime,
    ratio: opts.refreshRatio,
    jitterFraction: opts.jitterFraction,
    random: stableRandom(`${ownerUid}/${lastRefreshTime.toISOString()}`),
  });
}

function parseTime(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time;
}
