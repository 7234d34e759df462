// The OpenAPI schema of an AWSAssumeRole's status and conditions, and the whole resource's openAPIV3Schema.
import { CONDITION_STATUSES, MAX_LISTED_RESTARTS, MAX_LISTED_SERVICE_ACCOUNTS } from "./schema.ts";
import type { JSONSchemaProps } from "./schema-patterns.ts";
import { SPEC_SCHEMA } from "./spec-schema.ts";

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
