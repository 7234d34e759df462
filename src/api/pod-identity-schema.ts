// The AWSPodIdentityAssociation resource: a ServiceAccount in a namespace and the IAM role its Pods get from the
// node's credential endpoint (docs/pod-identity.md). Its role fields and their validation are AWSAssumeRole's, taken
// from spec-schema.ts, so the kinds cannot drift apart.
import { RESOURCE_SCHEMA, STATUS_SCHEMA } from "./status-schema.ts";
import { SPEC_SCHEMA } from "./spec-schema.ts";
import type { AWSAssumeRoleSpec, Condition, ObjectMeta } from "./schema.ts";
import { MAX_DURATION_SECONDS, MIN_DURATION_SECONDS } from "./schema.ts";
import { SECRET_NAME_PATTERN, mustMatch } from "./schema-patterns.ts";
import type { JSONSchemaProps } from "./schema-patterns.ts";

export const POD_IDENTITY_KIND = "AWSPodIdentityAssociation";
export const POD_IDENTITY_PLURAL = "awspodidentityassociations";
export const POD_IDENTITY_SINGULAR = "awspodidentityassociation";
export const POD_IDENTITY_SHORT_NAME = "awspia";
/**
 * An hour: botocore refreshes 15 minutes before expiry and on every call once 10 minutes are left, so credentials
 * served at two thirds of a 900-second session would make it fetch on every call.
 */
export const POD_IDENTITY_DEFAULT_DURATION_SECONDS = 3600;
/** At most this many Pods that missed the injection are named in status (the count covers all). */
export const MAX_LISTED_PODS = 20;

/** The role fields an association shares with AWSAssumeRole. */
export const ROLE_FIELDS = [
  "roleName",
  "roleArn",
  "externalId",
  "sessionPolicy",
  "policyArns",
  "sessionTags",
  "transitiveTagKeys",
  "region",
  "durationSeconds",
] as const satisfies readonly (keyof AWSAssumeRoleSpec)[];

export type RoleSpec = Pick<AWSAssumeRoleSpec, (typeof ROLE_FIELDS)[number]>;

export interface AWSPodIdentityAssociationSpec extends RoleSpec {
  /** A ServiceAccount in the association's namespace. */
  serviceAccount: string;
}

/** The Pods of the ServiceAccount, as the webhook left them. */
export interface PodInjectionStatus {
  /** Pods that got the endpoint's variables. */
  injected: number;
  /** Pods created without them (the webhook was down, or the association is newer than the Pod). */
  missed: number;
  /** Up to MAX_LISTED_PODS of the missed Pods' names. */
  missedNames?: string[];
}

export interface AWSPodIdentityAssociationStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  roleArn?: string;
  pods?: PodInjectionStatus;
}

export interface AWSPodIdentityAssociation {
  apiVersion: "pincette.net/v1";
  kind: typeof POD_IDENTITY_KIND;
  metadata: ObjectMeta;
  spec: AWSPodIdentityAssociationSpec;
  status?: AWSPodIdentityAssociationStatus;
}

const specProperties = SPEC_SCHEMA.properties!;
const roleProperties = Object.fromEntries(ROLE_FIELDS.map((f) => [f, specProperties[f]!]));
const RULES_OF_ROLE_FIELDS = (SPEC_SCHEMA["x-kubernetes-validations"] ?? []).filter(
  (r) => r.rule.includes("roleName") || r.rule.includes("transitiveTagKeys"),
);

export const POD_IDENTITY_SPEC_SCHEMA: JSONSchemaProps = {
  type: "object",
  description:
    "A ServiceAccount and the IAM role its Pods assume. Pods running as the ServiceAccount get the role's " +
    "temporary credentials from the credential endpoint on their node, which the AWS SDKs refresh by " +
    "themselves; no Secret holds them. Needs the operator's --pod-identity.",
  required: ["serviceAccount"],
  properties: {
    serviceAccount: {
      type: "string",
      description:
        "Name of a ServiceAccount in this namespace. Pods created as it get the endpoint's environment " +
        "variables and token from the operator's webhook. At most one association may name a ServiceAccount.",
      minLength: 1,
      maxLength: 253,
      "x-kubernetes-validations": mustMatch(
        SECRET_NAME_PATTERN,
        "must be a ServiceAccount name: lowercase letters, digits, '-' and '.'",
      ),
    },
    ...roleProperties,
    durationSeconds: {
      ...specProperties.durationSeconds!,
      description:
        `Lifetime in seconds of the credentials the Pods get, ${MIN_DURATION_SECONDS} to ${MAX_DURATION_SECONDS} ` +
        `(default ${POD_IDENTITY_DEFAULT_DURATION_SECONDS}). The endpoint serves credentials with more than 15 ` +
        "minutes left where the session allows it; shorter sessions make botocore fetch more often.",
      default: POD_IDENTITY_DEFAULT_DURATION_SECONDS,
    },
  },
  "x-kubernetes-validations": RULES_OF_ROLE_FIELDS,
};

export const POD_IDENTITY_STATUS_SCHEMA: JSONSchemaProps = {
  type: "object",
  description: "What the operator last observed. Written by the operator only.",
  properties: {
    conditions: {
      ...STATUS_SCHEMA.properties!.conditions!,
      description:
        "'Ready' is True while the association is served; when False, its reason (InvalidSpec, " +
        "RoleNotPermitted, DuplicateAssociation, AccessDenied, ...) and message say why.",
    },
    observedGeneration: STATUS_SCHEMA.properties!.observedGeneration!,
    roleArn: {
      type: "string",
      description: "Full ARN of the role, built from spec.roleName and the operator's AWS account.",
    },
    pods: {
      type: "object",
      description: "The ServiceAccount's Pods, as the webhook left them.",
      required: ["injected", "missed"],
      properties: {
        injected: {
          type: "integer",
          format: "int32",
          description: "Pods that get credentials from the node endpoint.",
          minimum: 0,
        },
        missed: {
          type: "integer",
          format: "int32",
          description:
            "Pods created without the endpoint's variables (the webhook was unavailable, or the association " +
            "is newer than the Pod). Restart them to get credentials.",
          minimum: 0,
        },
        missedNames: {
          type: "array",
          description: `Up to ${MAX_LISTED_PODS} of the Pods that missed the injection.`,
          maxItems: MAX_LISTED_PODS,
          items: { type: "string", description: "A Pod's name." },
        },
      },
    },
  },
};

export const POD_IDENTITY_RESOURCE_SCHEMA: JSONSchemaProps = {
  ...RESOURCE_SCHEMA,
  description:
    "AWSPodIdentityAssociation gives the Pods of a ServiceAccount an IAM role through the credential endpoint on " +
    "their node, as EKS Pod Identity does, on any cluster.",
  properties: {
    ...RESOURCE_SCHEMA.properties,
    spec: POD_IDENTITY_SPEC_SCHEMA,
    status: POD_IDENTITY_STATUS_SCHEMA,
  },
};
