// The ClusterAWSAssumeRole resource: the AWSAssumeRole spec plus a namespaceSelector, cluster-scoped. One
// definition keeps the Secret `secretName` in every selected namespace with credentials issued once per refresh.
// Its schema reuses the namespaced kind's (schema.ts), so the two kinds cannot drift apart.
import { RESOURCE_SCHEMA, STATUS_SCHEMA } from "./status-schema.ts";
import { SPEC_SCHEMA } from "./spec-schema.ts";
import type { AWSAssumeRoleSpec, AWSAssumeRoleStatus, ObjectMeta } from "./schema.ts";
import type { JSONSchemaProps } from "./schema-patterns.ts";

export const CLUSTER_KIND = "ClusterAWSAssumeRole";
export const CLUSTER_PLURAL = "clusterawsassumeroles";
export const CLUSTER_SINGULAR = "clusterawsassumerole";
export const CLUSTER_SHORT_NAME = "caar";
/** At most this many failing namespaces are listed in status (the counts cover all of them). */
export const MAX_FAILING_NAMESPACES = 20;

export const LABEL_SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
export type LabelSelectorOperator = (typeof LABEL_SELECTOR_OPERATORS)[number];

/** metav1.LabelSelector. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: LabelSelectorOperator; values?: string[] }[];
}

export interface ClusterAWSAssumeRoleSpec extends AWSAssumeRoleSpec {
  /** Namespaces that get the Secret; `{}` selects every namespace. */
  namespaceSelector: LabelSelector;
}

/** A selected namespace without a working Secret, and why. */
export interface NamespaceFailure {
  namespace: string;
  reason: string;
  message: string;
}

export interface NamespaceCounts {
  selected: number;
  ready: number;
  conflicts: number;
  denied: number;
  failing?: NamespaceFailure[];
}

export interface ClusterAWSAssumeRoleStatus extends AWSAssumeRoleStatus {
  namespaces?: NamespaceCounts;
}

export interface ClusterAWSAssumeRole {
  apiVersion: "pincette.net/v1";
  kind: typeof CLUSTER_KIND;
  metadata: ObjectMeta;
  spec: ClusterAWSAssumeRoleSpec;
  status?: ClusterAWSAssumeRoleStatus;
}

const LABEL_SELECTOR_SCHEMA: JSONSchemaProps = {
  type: "object",
  description:
    "Namespaces whose labels match get the Secret (a standard label selector, as in a NetworkPolicy). " +
    "'{}' selects every namespace; a namespace that starts matching gets the Secret within seconds, one that " +
    "stops matching loses it.",
  properties: {
    matchLabels: {
      type: "object",
      description: "Labels a namespace must have, all of them, with these values.",
      additionalProperties: { type: "string", maxLength: 63 },
      maxProperties: 64,
    },
    matchExpressions: {
      type: "array",
      description: "Requirements on namespace labels; all must hold.",
      maxItems: 32,
      items: {
        type: "object",
        description: "One requirement: a label key, an operator and (for In and NotIn) values.",
        required: ["key", "operator"],
        properties: {
          key: { type: "string", description: "The label key.", minLength: 1, maxLength: 317 },
          operator: {
            type: "string",
            description: "In, NotIn, Exists or DoesNotExist.",
            enum: [...LABEL_SELECTOR_OPERATORS],
          },
          values: {
            type: "array",
            description: "Values for In and NotIn (at least one); empty for Exists and DoesNotExist.",
            maxItems: 64,
            items: { type: "string", description: "A label value.", maxLength: 63 },
          },
        },
        "x-kubernetes-validations": [
          {
            rule: "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
            message: "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
          },
        ],
      },
    },
  },
};

export const CLUSTER_SPEC_SCHEMA: JSONSchemaProps = {
  ...SPEC_SCHEMA,
  description:
    "The IAM role to assume, the Secret to keep filled with its temporary credentials, and the namespaces " +
    "that get a copy. The operator assumes the role once per refresh and writes the same credentials to every " +
    "selected namespace.",
  required: [...(SPEC_SCHEMA.required ?? []), "namespaceSelector"],
  properties: {
    ...SPEC_SCHEMA.properties,
    secretName: {
      ...SPEC_SCHEMA.properties!.secretName!,
      description:
        "Name of the Secret that receives the credentials in every selected namespace. The operator creates " +
        "each copy, owns it and overwrites it on every refresh; a same-named Secret it does not own is left alone.",
    },
    serviceAccounts: {
      ...SPEC_SCHEMA.properties!.serviceAccounts!,
      description:
        "Names of ServiceAccounts whose imagePullSecrets get the Secret in every selected namespace (only with " +
        "secretType EcrDockerConfigJson), ServiceAccounts and namespaces that appear later included. The entry is " +
        "removed again when the name leaves this list, the namespace stops matching or the resource is deleted. " +
        "Other imagePullSecrets entries are never touched. Needs the operator's --service-accounts flag.",
    },
    namespaceSelector: LABEL_SELECTOR_SCHEMA,
  },
};

export const CLUSTER_STATUS_SCHEMA: JSONSchemaProps = {
  ...STATUS_SCHEMA,
  properties: {
    ...STATUS_SCHEMA.properties,
    namespaces: {
      type: "object",
      description: "How the fan-out stands: namespaces selected, served, and those without a working Secret.",
      properties: {
        selected: {
          type: "integer",
          format: "int32",
          description: "Namespaces that match namespaceSelector (and are watched by the operator).",
          minimum: 0,
        },
        ready: {
          type: "integer",
          format: "int32",
          description: "Selected namespaces whose Secret holds the current credentials.",
          minimum: 0,
        },
        conflicts: {
          type: "integer",
          format: "int32",
          description:
            "Selected namespaces where a Secret of that name belongs to someone else (left untouched).",
          minimum: 0,
        },
        denied: {
          type: "integer",
          format: "int32",
          description:
            "Selected namespaces whose permitted-roles annotation does not allow the role " +
            "(--namespace-permissions); they get no Secret.",
          minimum: 0,
        },
        failing: {
          type: "array",
          description: `Up to ${MAX_FAILING_NAMESPACES} selected namespaces without a working Secret, with the reason.`,
          maxItems: MAX_FAILING_NAMESPACES,
          items: {
            type: "object",
            description: "A namespace without a working Secret.",
            required: ["namespace", "reason", "message"],
            properties: {
              namespace: { type: "string", description: "The namespace." },
              reason: {
                type: "string",
                description: "Why, as a status reason such as SecretConflict or RoleNotPermitted.",
              },
              message: { type: "string", description: "Explanation for the person running kubectl." },
            },
          },
        },
      },
    },
  },
};

export const CLUSTER_RESOURCE_SCHEMA: JSONSchemaProps = {
  ...RESOURCE_SCHEMA,
  description:
    "ClusterAWSAssumeRole keeps a Secret with temporary AWS credentials for an IAM role in every namespace its " +
    "namespaceSelector matches, assuming the role once per refresh for all of them.",
  properties: {
    ...RESOURCE_SCHEMA.properties,
    spec: CLUSTER_SPEC_SCHEMA,
    status: CLUSTER_STATUS_SCHEMA,
  },
};
