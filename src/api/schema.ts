// The AWSAssumeRole resource: its identity and the TypeScript types the rest of the operator codes against. Its
// OpenAPI v3 schema (the source of the CRD) is in spec-schema.ts and status-schema.ts; schema.test.ts keeps them in step.

export const GROUP = "pincette.net";
export const VERSION = "v1";
export const KIND = "AWSAssumeRole";
export const PLURAL = "awsassumeroles";
export const SINGULAR = "awsassumerole";
export const SHORT_NAME = "aar";
export const API_VERSION = "pincette.net/v1";

export const SECRET_TYPES = ["Map", "File", "EcrDockerConfigJson"] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

export const CONDITION_STATUSES = ["True", "False", "Unknown"] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

// STS accepts 900 s up to the role's MaxSessionDuration, which IAM caps at 12 hours.
export const DEFAULT_DURATION_SECONDS = 900;
export const MIN_DURATION_SECONDS = 900;
export const MAX_DURATION_SECONDS = 43200;

/** The desired state, as the user writes it. Field names match the original operator's manifests. */
export interface AWSAssumeRoleSpec {
  /** Exactly one of roleName and roleArn is set. */
  roleName?: string;
  roleArn?: string;
  externalId?: string;
  sessionPolicy?: string;
  policyArns?: string[];
  sessionTags?: Record<string, string>;
  transitiveTagKeys?: string[];
  region?: string;
  secretTemplate?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };
  profile?: string;
  secretName: string;
  secretType: SecretType;
  ecrRepositoryUrl?: string;
  /** More registries in the same dockerconfigjson. */
  ecrRepositoryUrls?: string[];
  /** ServiceAccounts (in the Secret's namespace) whose imagePullSecrets get the Secret; EcrDockerConfigJson only. */
  serviceAccounts?: string[];
  /** Optional in the type because objects built in code may omit it; the API server always defaults it. */
  durationSeconds?: number;
  /** Restart the workloads that read the Secret after each refresh (issue 12; docs/rollout-restart.md). */
  rolloutRestart?: RolloutRestartSpec;
}

export const ROLLOUT_RESTART_CONSUMERS = ["None", "Env", "All"] as const;
export type RolloutRestartConsumers = (typeof ROLLOUT_RESTART_CONSUMERS)[number];
export const WORKLOAD_KINDS = ["Deployment", "StatefulSet", "DaemonSet"] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];
/** At most this many workloads are listed in status.rolloutRestart.restarts (the most recent ones). */
export const MAX_LISTED_RESTARTS = 20;

export interface RolloutRestartTarget {
  kind: WorkloadKind;
  name: string;
}

export interface RolloutRestartSpec {
  /** Which discovered consumers to restart: None (default), Env (env/envFrom) or All (also volume mounts). */
  consumers?: RolloutRestartConsumers;
  /** Workloads restarted in addition to the discovered ones (in the Secret's namespace). */
  targets?: RolloutRestartTarget[];
}

/** One workload's last restart (or attempt), in status.rolloutRestart.restarts. */
export interface WorkloadRestart {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  /** Restarted, Failed, Forbidden or NotFound. */
  outcome: string;
  /** RFC 3339 date-time. */
  time: string;
  message?: string;
}

export interface RolloutRestartStatus {
  /** One condition, WorkloadsRestarted: True while every restart due was done in time. */
  conditions?: Condition[];
  restarts?: WorkloadRestart[];
}

/** One entry of status.conditions, shaped like metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  /** RFC 3339 date-time. */
  lastTransitionTime: string;
}

/** What the operator last observed and did. Times are RFC 3339 date-time strings. */
export interface AWSAssumeRoleStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  roleArn?: string;
  secretName?: string;
  expirationTime?: string;
  lastRefreshTime?: string;
  nextRefreshTime?: string;
  effectiveDurationSeconds?: number;
  serviceAccounts?: ServiceAccountsStatus;
  /** Written by the rollout restarter only (its own merge patch), never by the credential reconcile. */
  rolloutRestart?: RolloutRestartStatus;
}

/** How the wiring of spec.serviceAccounts stands (written apart from the rest of status, by its own merge patch). */
export interface ServiceAccountsStatus {
  /** ServiceAccounts whose imagePullSecrets hold the Secret. */
  wired: number;
  /** Listed ServiceAccounts that do not exist (yet): they get the entry when they are created. */
  missing: number;
  /** Up to MAX_LISTED_SERVICE_ACCOUNTS of the missing ones, as namespace/name. */
  missingNames?: string[];
  /** For the person running kubectl describe, e.g. that the feature is off. */
  message: string;
}

/** At most this many ServiceAccount names per resource, and listed in status. */
export const MAX_SERVICE_ACCOUNTS = 32;
export const MAX_LISTED_SERVICE_ACCOUNTS = 20;

/**
 * The part of ObjectMeta the operator reads. Kept local so the domain can use these types without
 * depending on the Kubernetes client; @kubernetes/client-node's V1ObjectMeta is assignable to it.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  finalizers?: string[];
}

export interface AWSAssumeRole {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: AWSAssumeRoleSpec;
  status?: AWSAssumeRoleStatus;
}

// Runtime lists of the type's keys, so a test can compare them with the schema's properties.
export const SPEC_KEYS = [
  "roleName",
  "roleArn",
  "externalId",
  "sessionPolicy",
  "policyArns",
  "sessionTags",
  "transitiveTagKeys",
  "region",
  "secretTemplate",
  "profile",
  "secretName",
  "secretType",
  "ecrRepositoryUrl",
  "ecrRepositoryUrls",
  "serviceAccounts",
  "durationSeconds",
  "rolloutRestart",
] as const satisfies readonly (keyof AWSAssumeRoleSpec)[];

export const STATUS_KEYS = [
  "conditions",
  "observedGeneration",
  "roleArn",
  "secretName",
  "expirationTime",
  "lastRefreshTime",
  "nextRefreshTime",
  "effectiveDurationSeconds",
  "serviceAccounts",
  "rolloutRestart",
] as const satisfies readonly (keyof AWSAssumeRoleStatus)[];

export const CONDITION_KEYS = [
  "type",
  "status",
  "reason",
  "message",
  "observedGeneration",
  "lastTransitionTime",
] as const satisfies readonly (keyof Condition)[];

// Compile-time half of the check: each list must name every key of its type (satisfies covers the other way).
type Missing<T, K extends readonly unknown[]> = Exclude<keyof T, K[number]>;
const _specKeysComplete: [Missing<AWSAssumeRoleSpec, typeof SPEC_KEYS>] extends [never] ? true : never = true;
const _statusKeysComplete: [Missing<AWSAssumeRoleStatus, typeof STATUS_KEYS>] extends [never] ? true : never =
  true;
const _conditionKeysComplete: [Missing<Condition, typeof CONDITION_KEYS>] extends [never] ? true : never =
  true;
