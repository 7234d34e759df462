// The AWSAssumeRole resource in one place: its identity, its OpenAPI v3 schema (the source of the CRD) and
// the TypeScript types the rest of the operator codes against. schema.test.ts keeps the two in step.

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

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps this schema uses. */
export interface JSONSchemaProps {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  format?: string;
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  enum?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  additionalProperties?: JSONSchemaProps;
  pattern?: string;
  "x-kubernetes-validations"?: { rule: string; message: string }[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
}

// IAM role names use [\w+=,.@-] (at most 64 characters); a path adds '/'-separated segments in front.
// The whole value is at most 512 characters, IAM's limit for a path.
export const ROLE_NAME_PATTERN = "^([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$";
export const SECRET_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
// https://<12-digit account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] with an optional path such as /v2/my-repo.
export const ECR_REPOSITORY_URL_PATTERN =
  "^https://[0-9]{12}\\.dkr\\.ecr(-fips)?\\.[a-z]{2}(-[a-z]+)+-[0-9]+\\.amazonaws\\.com(\\.cn)?(/[a-zA-Z0-9._~-]+)*/?$";

export const ROLE_ARN_PATTERN =
  "^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$";
export const POLICY_ARN_PATTERN =
  "^arn:aws(-cn|-us-gov)?:iam::([0-9]{12}|aws):policy/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,128}$";
// STS: external ids use [\w+=,.@:/-]; tag keys letters, digits, spaces and _.:/=+-@ (1–128), values (0–256).
// Length is checked by minLength/maxLength: RE2 does not allow repetition counts above 1000.
export const EXTERNAL_ID_PATTERN = "^[\\w+=,.@:/-]+$";
export const TAG_KEY_PATTERN = "^[\\p{L}\\p{Z}\\p{N}_.:/=+@-]{1,128}$";
export const TAG_VALUE_PATTERN = "^[\\p{L}\\p{Z}\\p{N}_.:/=+@-]{0,256}$";
export const REGION_PATTERN = "^[a-z]{2}(-[a-z]+)+-[0-9]+$";
export const PROFILE_PATTERN = "^[\\w.+@-]{1,64}$";
export const MANAGED_BY_LABEL_KEY = "app.kubernetes.io/managed-by";

const stringMap = (description: string, maxProperties: number, maxValueLength: number): JSONSchemaProps => ({
  type: "object",
  description,
  additionalProperties: { type: "string", maxLength: maxValueLength },
  maxProperties,
});

const ECR_RULE_MESSAGE =
  "ecrRepositoryUrl (or ecrRepositoryUrls) is required when secretType is EcrDockerConfigJson, and only allowed then";
const ECR_URL_MESSAGE =
  "must be an ECR registry URL, https://<12-digit account>.dkr.ecr.<region>.amazonaws.com with an " +
  "optional repository path, such as 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo'";

/**
 * A pattern as a CEL rule with a message. The API server answers a failed `pattern` by quoting the regular
 * expression; a rule lets it say in words what is accepted. Patterns go into a CEL raw string: no single quotes.
 */
export function mustMatch(pattern: string, message: string): { rule: string; message: string }[] {
  if (pattern.includes("'")) throw new Error(`pattern ${pattern} cannot be embedded in a CEL raw string`);
  return [{ rule: `self.matches(r'${pattern}')`, message }];
}

const WORKLOAD_NAME_MESSAGE =
  "must be a workload name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";

export const ROLLOUT_RESTART_SCHEMA: JSONSchemaProps = {
  type: "object",
  description:
    "Restart the workloads that read the Secret once per new set of credentials, as 'kubectl rollout restart' " +
    "does (a Pod template annotation), after the new Secret is written. Restarts of several workloads are " +
    "spread out; an operator restart restarts nothing. Needs the operator's --rollout-restart.",
  properties: {
    consumers: {
      type: "string",
      description:
        "Which workloads in the Secret's namespace are found and restarted: 'None' (default) none; 'Env' the " +
        "Deployments, StatefulSets and DaemonSets whose Pod template reads the Secret through " +
        "env[].valueFrom.secretKeyRef or envFrom[].secretRef; 'All' also those mounting it as a volume (for SDKs " +
        "that never re-read a credentials file).",
      enum: [...ROLLOUT_RESTART_CONSUMERS],
      default: "None",
    },
    targets: {
      type: "array",
      description:
        "Workloads in the Secret's namespace to restart in addition to the discovered ones. A named workload " +
        "that does not exist is reported in status and events.",
      maxItems: 32,
      "x-kubernetes-list-type": "atomic",
      items: {
        type: "object",
        description: "A Deployment, StatefulSet or DaemonSet by name.",
        required: ["kind", "name"],
        properties: {
          kind: {
            type: "string",
            description: "Deployment, StatefulSet or DaemonSet.",
            enum: [...WORKLOAD_KINDS],
          },
          name: {
            type: "string",
            description: "Name of the workload, in the Secret's namespace.",
            minLength: 1,
            maxLength: 253,
            "x-kubernetes-validations": mustMatch(SECRET_NAME_PATTERN, WORKLOAD_NAME_MESSAGE),
          },
        },
      },
      "x-kubernetes-validations": [
        {
          rule: "self.all(a, self.exists_one(b, a.kind == b.kind && a.name == b.name))",
          message: "each workload may be named only once in targets",
        },
      ],
    },
  },
};

export const SPEC_SCHEMA: JSONSchemaProps = {
  type: "object",
  description:
    "The IAM role to assume and the Secret to keep filled with its temporary credentials. The operator " +
    "assumes the role with AWS STS and rewrites the Secret before the credentials expire.",
  required: ["secretName", "secretType"],
  properties: {
    roleArn: {
      type: "string",
      description:
        "Full ARN of the IAM role to assume, in any account and partition, for example " +
        "'arn:aws:iam::210987654321:role/reader' or 'arn:aws-cn:iam::123456789012:role/app'. Use instead of " +
        "roleName for a role outside the operator's own account.",
      maxLength: 2048,
      "x-kubernetes-validations": mustMatch(
        ROLE_ARN_PATTERN,
        "must be an IAM role ARN, arn:<aws|aws-cn|aws-us-gov>:iam::<12-digit account>:role/<path/name>",
      ),
    },
    externalId: {
      type: "string",
      description:
        "External ID to pass to AssumeRole, when the role's trust policy requires one (sts:ExternalId). " +
        "2 to 1224 characters: letters, digits and +=,.@:/-_.",
      minLength: 2,
      maxLength: 1224,
      "x-kubernetes-validations": mustMatch(
        EXTERNAL_ID_PATTERN,
        "must be 2 to 1224 characters of letters, digits and +=,.@:/-_",
      ),
    },
    sessionPolicy: {
      type: "string",
      description:
        "An inline IAM policy (JSON) that further restricts the session: the credentials get the " +
        "intersection of the role's policies and this one. At most 2048 characters.",
      minLength: 2,
      maxLength: 2048,
      "x-kubernetes-validations": [
        { rule: "self.trim().startsWith('{')", message: "must be a JSON policy document (a JSON object)" },
      ],
    },
    policyArns: {
      type: "array",
      description: "ARNs of managed policies that further restrict the session (at most 10).",
      maxItems: 10,
      items: {
        type: "string",
        description: "A managed policy ARN, such as 'arn:aws:iam::aws:policy/ReadOnlyAccess'.",
        maxLength: 2048,
        "x-kubernetes-validations": mustMatch(
          POLICY_ARN_PATTERN,
          "must be an IAM policy ARN, arn:<partition>:iam::<account or aws>:policy/<path/name>",
        ),
      },
    },
    sessionTags: {
      ...stringMap(
        "Session tags to pass to AssumeRole (at most 50), usable in the role's policies as " +
          "aws:PrincipalTag. Keys: 1–128 letters, digits, spaces and _.:/=+-@; values: up to 256 of the same. " +
          "Keys may not repeat the operator's own tags (see --session-tags).",
        50,
        256,
      ),
      "x-kubernetes-validations": [
        {
          rule: `self.all(k, k.matches(r'${TAG_KEY_PATTERN}'))`,
          message: "session tag keys must be 1 to 128 letters, digits, spaces and _.:/=+-@",
        },
        {
          rule: `self.all(k, self[k].matches(r'${TAG_VALUE_PATTERN}'))`,
          message: "session tag values must be at most 256 letters, digits, spaces and _.:/=+-@",
        },
      ],
    },
    transitiveTagKeys: {
      type: "array",
      description: "Keys of sessionTags that persist into sessions this one assumes in turn (role chaining).",
      maxItems: 50,
      "x-kubernetes-list-type": "set",
      items: { type: "string", description: "A key of sessionTags.", maxLength: 128 },
    },
    region: {
      type: "string",
      description:
        "AWS region whose regional STS endpoint assumes the role (default: the operator's region). For File " +
        "Secrets it is also written as the profile's region. ECR always uses the registry's own region.",
      maxLength: 32,
      "x-kubernetes-validations": mustMatch(REGION_PATTERN, "must be an AWS region name such as 'eu-west-1'"),
    },
    secretTemplate: {
      type: "object",
      description: "Extra metadata for the generated Secret.",
      properties: {
        metadata: {
          type: "object",
          description: "Labels and annotations to put on the Secret, e.g. for a reloader that restarts pods.",
          properties: {
            labels: stringMap(
              "Labels for the Secret. The operator's own label cannot be overridden.",
              64,
              63,
            ),
            annotations: stringMap(
              "Annotations for the Secret. The operator's own annotations win.",
              64,
              4096,
            ),
          },
          "x-kubernetes-validations": [
            {
              rule: `!has(self.labels) || !('${"app.kubernetes.io/managed-by"}' in self.labels)`,
              message:
                "labels may not set app.kubernetes.io/managed-by: the operator sets it on every Secret it owns",
            },
          ],
        },
      },
    },
    profile: {
      type: "string",
      description: "Profile name in the credentials file of a File Secret (default 'default').",
      maxLength: 64,
      "x-kubernetes-validations": mustMatch(
        PROFILE_PATTERN,
        "must be a profile name: letters, digits and _.+@-",
      ),
    },
    roleName: {
      type: "string",
      description:
        "Name of the IAM role to assume, in the operator's own AWS account (exactly one of roleName and " +
        "roleArn), for example " +
        "'my-secrets-manager-role'. A role with a path is written without the leading slash: " +
        "'team/app/my-role'. The role's trust policy must allow the operator's identity to assume it.",
      minLength: 1,
      maxLength: 512,
      "x-kubernetes-validations": mustMatch(
        ROLE_NAME_PATTERN,
        "must be an IAM role name (letters, digits and +=,.@_-, at most 64 characters), optionally after a " +
          "path without a leading slash, such as 'my-role' or 'team/app/my-role'",
      ),
    },
    secretName: {
      type: "string",
      description:
        "Name of the Secret, in the same namespace, that receives the credentials. The operator creates " +
        "it, owns it and overwrites it on every refresh.",
      minLength: 1,
      maxLength: 253,
      "x-kubernetes-validations": mustMatch(
        SECRET_NAME_PATTERN,
        "must be a valid Secret name: lowercase letters, digits, '-' and '.', starting and ending with a " +
          "letter or digit, such as 'my-role-credentials'",
      ),
    },
    secretType: {
      type: "string",
      description:
        "Layout of the Secret. 'Map': an Opaque Secret with the keys awsAccessKeyId, awsSecretAccessKey and " +
        "awsSessionToken. 'File': an Opaque Secret with one key, 'credentials', holding an AWS shared " +
        "credentials file with a [default] profile (mount it and point AWS_SHARED_CREDENTIALS_FILE at it). " +
        "'EcrDockerConfigJson': a kubernetes.io/dockerconfigjson Secret with an ECR login for " +
        "ecrRepositoryUrl, usable as an imagePullSecret.",
      enum: [...SECRET_TYPES],
    },
    ecrRepositoryUrl: {
      type: "string",
      description:
        "URL of the ECR registry or repository to log in to, for example " +
        "'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo'. Required when secretType is " +
        "EcrDockerConfigJson and not allowed otherwise. FIPS endpoints (dkr.ecr-fips) and China regions " +
        "(amazonaws.com.cn) are accepted. The URL is used verbatim as the key under 'auths'.",
      maxLength: 2048,
      "x-kubernetes-validations": mustMatch(ECR_REPOSITORY_URL_PATTERN, ECR_URL_MESSAGE),
    },
    ecrRepositoryUrls: {
      type: "array",
      description:
        "More ECR registries (or repositories) to log in to, in the same dockerconfigjson: one entry under " +
        "'auths' per URL, next to ecrRepositoryUrl if that is set too. One GetAuthorizationToken is made per " +
        "region (an ECR token serves every registry the role may access in its region, also in other accounts).",
      minItems: 1,
      maxItems: 32,
      "x-kubernetes-list-type": "set",
      items: {
        type: "string",
        description: "An ECR registry URL, as for ecrRepositoryUrl.",
        maxLength: 2048,
        "x-kubernetes-validations": mustMatch(ECR_REPOSITORY_URL_PATTERN, ECR_URL_MESSAGE),
      },
    },
    serviceAccounts: {
      type: "array",
      description:
        "Names of ServiceAccounts, in the Secret's namespace, whose imagePullSecrets get the Secret (only with " +
        "secretType EcrDockerConfigJson). ServiceAccounts created later get it too; the entry is removed again " +
        "when the name leaves this list or the resource is deleted. Other imagePullSecrets entries are never " +
        "touched. Needs the operator's --service-accounts flag (Helm: serviceAccounts.enabled).",
      minItems: 1,
      maxItems: MAX_SERVICE_ACCOUNTS,
      "x-kubernetes-list-type": "set",
      items: {
        type: "string",
        description: "A ServiceAccount name, such as 'default'.",
        minLength: 1,
        maxLength: 253,
        "x-kubernetes-validations": mustMatch(
          SECRET_NAME_PATTERN,
          "must be a valid ServiceAccount name: lowercase letters, digits, '-' and '.', starting and ending " +
            "with a letter or digit, such as 'default'",
        ),
      },
    },
    durationSeconds: {
      type: "integer",
      format: "int32",
      description:
        "Requested lifetime of the temporary credentials in seconds, from 900 (15 minutes) to 43200 " +
        "(12 hours). The role's maximum session duration may shorten it; status.effectiveDurationSeconds " +
        "shows what was granted. The Secret is refreshed well before the credentials expire.",
      default: DEFAULT_DURATION_SECONDS,
      minimum: MIN_DURATION_SECONDS,
      maximum: MAX_DURATION_SECONDS,
    },
    rolloutRestart: ROLLOUT_RESTART_SCHEMA,
  },
  "x-kubernetes-validations": [
    {
      rule: "(has(self.ecrRepositoryUrl) || has(self.ecrRepositoryUrls)) == (self.secretType == 'EcrDockerConfigJson')",
      message: ECR_RULE_MESSAGE,
    },
    {
      rule: "has(self.roleName) != has(self.roleArn)",
      message: "exactly one of roleName and roleArn is required",
    },
    {
      rule: "!has(self.transitiveTagKeys) || self.transitiveTagKeys.all(k, has(self.sessionTags) && k in self.sessionTags)",
      message: "every transitiveTagKeys entry must be a key of sessionTags",
    },
    {
      rule: "!has(self.profile) || self.secretType == 'File'",
      message: "profile is only allowed when secretType is File",
    },
    {
      rule: "!has(self.serviceAccounts) || self.secretType == 'EcrDockerConfigJson'",
      message:
        "serviceAccounts is only allowed when secretType is EcrDockerConfigJson: only a pull secret belongs in imagePullSecrets",
    },
  ],
};

// The same shape and limits as metav1.Condition, so generic tooling (kubectl wait, kstatus) understands it.
export const CONDITION_SCHEMA: JSONSchemaProps = {
  type: "object",
  description: "One aspect of the resource's state at a point in time. 'Ready' summarises all of them.",
  required: ["type", "status", "reason", "message", "lastTransitionTime"],
  properties: {
    type: {
      type: "string",
      description: "Kind of condition in CamelCase, for example 'Ready'. Unique within the list.",
      maxLength: 316,
      pattern:
        "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    },
    status: {
      type: "string",
      description: "Whether the condition holds: True, False or Unknown.",
      enum: [...CONDITION_STATUSES],
    },
    reason: {
      type: "string",
      description:
        "Machine-readable CamelCase reason for the last transition, for example 'CredentialsReady', 'AccessDenied' or 'SecretConflict'.",
      minLength: 1,
      maxLength: 1024,
      pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    },
    message: {
      type: "string",
      description: "Human-readable explanation of the last transition. It never contains credentials.",
      maxLength: 32768,
    },
    observedGeneration: {
      type: "integer",
      format: "int64",
      description: "metadata.generation of the resource that this condition was computed from.",
      minimum: 0,
    },
    lastTransitionTime: {
      type: "string",
      format: "date-time",
      description: "When the condition last changed from one status to another.",
    },
  },
};

export const STATUS_SCHEMA: JSONSchemaProps = {
  type: "object",
  description: "What the operator last observed and did. Written by the operator only.",
  properties: {
    conditions: {
      type: "array",
      description:
        "Current state as a list of conditions. 'Ready' is True while the Secret holds valid credentials; " +
        "when it is False, its reason and message say what went wrong.",
      maxItems: 16,
      items: CONDITION_SCHEMA,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    },
    observedGeneration: {
      type: "integer",
      format: "int64",
      description: "metadata.generation of the spec the operator last acted on.",
      minimum: 0,
    },
    roleArn: {
      type: "string",
      description: "Full ARN of the assumed role, built from spec.roleName and the operator's AWS account.",
    },
    secretName: {
      type: "string",
      description: "Name of the Secret the operator last wrote, in the resource's namespace.",
    },
    expirationTime: {
      type: "string",
      format: "date-time",
      description:
        "When the credentials now in the Secret expire. For EcrDockerConfigJson this is the earlier of the " +
        "role credentials' and the ECR token's expiry.",
    },
    lastRefreshTime: {
      type: "string",
      format: "date-time",
      description: "When the operator last wrote fresh credentials to the Secret.",
    },
    nextRefreshTime: {
      type: "string",
      format: "date-time",
      description:
        "When the operator plans to refresh the credentials next: about two thirds into their lifetime, " +
        "spread a little so that many resources do not refresh at the same moment.",
    },
    effectiveDurationSeconds: {
      type: "integer",
      format: "int32",
      description:
        "Lifetime in seconds that STS granted for the current credentials; lower than spec.durationSeconds " +
        "when the role's maximum session duration is shorter.",
      minimum: 0,
    },
    serviceAccounts: {
      type: "object",
      description:
        "How the Secret stands in the imagePullSecrets of the ServiceAccounts spec.serviceAccounts lists.",
      required: ["wired", "missing", "message"],
      properties: {
        wired: {
          type: "integer",
          format: "int32",
          description: "ServiceAccounts whose imagePullSecrets hold the Secret.",
          minimum: 0,
        },
        missing: {
          type: "integer",
          format: "int32",
          description:
            "Listed ServiceAccounts that do not exist yet; each gets the Secret once it is created.",
          minimum: 0,
        },
        missingNames: {
          type: "array",
          description: `Up to ${MAX_LISTED_SERVICE_ACCOUNTS} of the missing ServiceAccounts, as namespace/name.`,
          maxItems: MAX_LISTED_SERVICE_ACCOUNTS,
          items: { type: "string", description: "A missing ServiceAccount, as namespace/name." },
        },
        message: { type: "string", description: "The state in words, for example that the feature is off." },
      },
    },
    rolloutRestart: {
      type: "object",
      description:
        "What spec.rolloutRestart did: whether restarts are done in time, and the latest per workload.",
      properties: {
        conditions: {
          type: "array",
          description:
            "'WorkloadsRestarted': True while every restart due was done and fits the old credentials' " +
            "remaining lifetime; False with the reason (RestartWindowShort, RestartForbidden, TargetNotFound, " +
            "RestartFailed) otherwise.",
          maxItems: 4,
          items: CONDITION_SCHEMA,
          "x-kubernetes-list-type": "map",
          "x-kubernetes-list-map-keys": ["type"],
        },
        restarts: {
          type: "array",
          description: `The latest restart (or attempt) per workload, most recent first, at most ${MAX_LISTED_RESTARTS}.`,
          maxItems: MAX_LISTED_RESTARTS,
          items: {
            type: "object",
            description: "One workload's latest restart or attempt.",
            required: ["namespace", "kind", "name", "outcome", "time"],
            properties: {
              namespace: { type: "string", description: "The workload's namespace." },
              kind: { type: "string", description: "Deployment, StatefulSet or DaemonSet." },
              name: { type: "string", description: "The workload's name." },
              outcome: {
                type: "string",
                description:
                  "Restarted, Failed, Forbidden (RBAC) or NotFound (a named target that does not exist).",
              },
              time: { type: "string", format: "date-time", description: "When it happened." },
              message: { type: "string", description: "Details of a failure.", maxLength: 1024 },
            },
          },
        },
      },
    },
  },
};

/** The resource's openAPIV3Schema, as the CRD's v1 version carries it. */
export const RESOURCE_SCHEMA: JSONSchemaProps = {
  type: "object",
  description:
    "AWSAssumeRole keeps a Secret filled with temporary AWS credentials for an IAM role. The operator " +
    "assumes the role with AWS STS and refreshes the Secret before the credentials expire.",
  required: ["spec"],
  properties: {
    apiVersion: {
      type: "string",
      description:
        "APIVersion defines the versioned schema of this representation of an object. Servers should " +
        "convert recognized schemas to the latest internal value, and may reject unrecognized values.",
    },
    kind: {
      type: "string",
      description:
        "Kind is a string value representing the REST resource this object represents. Servers may infer " +
        "this from the endpoint the client submits requests to. In CamelCase.",
    },
    // The API server documents metadata itself and rejects a CRD that says anything more than its type.
    metadata: { type: "object" },
    spec: SPEC_SCHEMA,
    status: STATUS_SCHEMA,
  },
};
