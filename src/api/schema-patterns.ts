// The OpenAPI building blocks of both kinds' CRD schemas: the JSONSchemaProps subset, the patterns that check names,
// ARNs and URLs, and CEL rules that say in words what a pattern accepts.

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

export const stringMap = (
  description: string,
  maxProperties: number,
  maxValueLength: number,
): JSONSchemaProps => ({
  type: "object",
  description,
  additionalProperties: { type: "string", maxLength: maxValueLength },
  maxProperties,
});

export const ECR_RULE_MESSAGE =
  "ecrRepositoryUrl (or ecrRepositoryUrls) is required when secretType is EcrDockerConfigJson, and only allowed then";
export const ECR_URL_MESSAGE =
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

export const WORKLOAD_NAME_MESSAGE =
  "must be a workload name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";
