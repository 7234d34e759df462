// The OpenAPI schema of an AWSAssumeRole's spec (the ClusterAWSAssumeRole reuses it): every field with its
// validation, rolloutRestart included.
import {
  DEFAULT_DURATION_SECONDS,
  MAX_DURATION_SECONDS,
  MAX_SERVICE_ACCOUNTS,
  MIN_DURATION_SECONDS,
  ROLLOUT_RESTART_CONSUMERS,
  SECRET_TYPES,
  WORKLOAD_KINDS,
} from "./schema.ts";
import {
  ECR_REPOSITORY_URL_PATTERN,
  EXTERNAL_ID_PATTERN,
  ECR_RULE_MESSAGE,
  ECR_URL_MESSAGE,
  POLICY_ARN_PATTERN,
  PROFILE_PATTERN,
  REGION_PATTERN,
  ROLE_ARN_PATTERN,
  ROLE_NAME_PATTERN,
  SECRET_NAME_PATTERN,
  TAG_KEY_PATTERN,
  TAG_VALUE_PATTERN,
  WORKLOAD_NAME_MESSAGE,
  mustMatch,
  stringMap,
} from "./schema-patterns.ts";
import type { JSONSchemaProps } from "./schema-patterns.ts";

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
