// The one table of the operator's flags, each with its environment variable, kind, default and help: the README's
// configuration table and the Helm chart's args follow it; config.ts parses and validates them.

type Kind = "string" | "number" | "boolean" | "list";

export interface FlagSpec {
  flag: string;
  env: string;
  kind: Kind;
  default: string;
  help: string;
}

/** The one table of options: README's configuration table and the Helm chart's args follow it. */
export const FLAGS = [
  {
    flag: "namespaces",
    env: "WATCH_NAMESPACES",
    kind: "list",
    default: "",
    help: "Comma-separated namespaces to watch; empty watches all namespaces",
  },
  {
    flag: "refresh-ratio",
    env: "REFRESH_RATIO",
    kind: "number",
    default: "0.6667",
    help: "Refresh when this fraction of the credentials' lifetime has passed (0.1–0.9)",
  },
  {
    flag: "refresh-jitter",
    env: "REFRESH_JITTER",
    kind: "number",
    default: "0.05",
    help: "± jitter of the refresh time, as a fraction of the lifetime (0–0.2)",
  },
  {
    flag: "refresh-events",
    env: "REFRESH_EVENTS",
    kind: "boolean",
    default: "false",
    help: "Write a Refreshed Event for routine refreshes too (scheduled, of a Ready resource); Created, Recovered and refreshes with another cause always write one",
  },
  {
    flag: "max-concurrent-reconciles",
    env: "MAX_CONCURRENT_RECONCILES",
    kind: "number",
    default: "16",
    help: "Resources reconciled at once",
  },
  {
    flag: "backoff-base-ms",
    env: "BACKOFF_BASE_MS",
    kind: "number",
    default: "1000",
    help: "First retry delay after a failure (full-jitter exponential backoff)",
  },
  {
    flag: "backoff-max-ms",
    env: "BACKOFF_MAX_MS",
    kind: "number",
    default: "30000",
    help: "Longest retry delay after a temporary failure",
  },
  {
    flag: "permanent-error-retry-ms",
    env: "PERMANENT_ERROR_RETRY_MS",
    kind: "number",
    default: "60000",
    help: "Retry delay after AccessDenied and other errors that need a fix elsewhere",
  },
  {
    flag: "conflict-retry-ms",
    env: "CONFLICT_RETRY_MS",
    kind: "number",
    default: "30000",
    help: "How often a resource whose Secret name is taken checks whether it became free",
  },
  {
    flag: "request-timeout-ms",
    env: "REQUEST_TIMEOUT_MS",
    kind: "number",
    default: "10000",
    help: "Deadline of one call to AWS (to connect, and to answer) or to the Kubernetes API; a timeout is retried with backoff",
  },
  {
    flag: "reconcile-timeout-ms",
    env: "RECONCILE_TIMEOUT_MS",
    kind: "number",
    default: "60000",
    help: "Deadline of one reconcile of one resource, all its calls together; a timeout is retried with backoff",
  },
  {
    flag: "sts-rate",
    env: "STS_RATE",
    kind: "number",
    default: "100",
    help: "Client-side limit of STS AssumeRole calls per second (AWS allows 600/s per account and Region, shared by every caller)",
  },
  {
    flag: "sts-burst",
    env: "STS_BURST",
    kind: "number",
    default: "200",
    help: "Burst of STS AssumeRole calls above the rate",
  },
  {
    flag: "ecr-rate",
    env: "ECR_RATE",
    kind: "number",
    default: "10",
    help: "Client-side limit of ECR GetAuthorizationToken calls per second",
  },
  {
    flag: "ecr-burst",
    env: "ECR_BURST",
    kind: "number",
    default: "20",
    help: "Burst of ECR GetAuthorizationToken calls above the rate",
  },
  {
    flag: "watch-stall-seconds",
    env: "WATCH_STALL_SECONDS",
    kind: "number",
    default: "120",
    help: "A watch silent for longer is replaced by a relist; /healthz fails while one is stalled",
  },
  {
    flag: "relist-seconds",
    env: "RELIST_SECONDS",
    kind: "number",
    default: "3600",
    help: "Full relist period of the caches (0 disables)",
  },
  {
    flag: "metrics-bind-address",
    env: "METRICS_BIND_ADDRESS",
    kind: "string",
    default: ":8080",
    help: "Address of the Prometheus metrics endpoint; 0 disables it",
  },
  {
    flag: "health-probe-bind-address",
    env: "HEALTH_PROBE_BIND_ADDRESS",
    kind: "string",
    default: ":8081",
    help: "Address of /healthz and /readyz; 0 disables it",
  },
  {
    flag: "leader-elect",
    env: "LEADER_ELECT",
    kind: "boolean",
    default: "false",
    help: "Elect a leader on a Lease so only one replica reconciles",
  },
  {
    flag: "leader-election-namespace",
    env: "LEADER_ELECTION_NAMESPACE",
    kind: "string",
    default: "",
    help: "Namespace of the Lease (default: POD_NAMESPACE, else default)",
  },
  {
    flag: "leader-election-id",
    env: "LEADER_ELECTION_ID",
    kind: "string",
    default: "aws-assume-role-operator",
    help: "Name of the Lease",
  },
  {
    flag: "instance",
    env: "POD_NAME",
    kind: "string",
    default: "",
    help: "Name of this replica in events and the Lease (default: host name)",
  },
  {
    flag: "namespace-permissions",
    env: "NAMESPACE_PERMISSIONS",
    kind: "boolean",
    default: "false",
    help: "Namespaces may only assume the roles that their annotation aws-assume-role.pincette.net/permitted-roles allows",
  },
  {
    flag: "cluster-assume-roles",
    env: "CLUSTER_ASSUME_ROLES",
    kind: "boolean",
    default: "false",
    help: "Also reconcile ClusterAWSAssumeRoles: one Secret in every namespace a selector matches (watches Namespaces)",
  },
  {
    flag: "service-accounts",
    env: "SERVICE_ACCOUNTS",
    kind: "boolean",
    default: "false",
    help: "Add EcrDockerConfigJson Secrets to the imagePullSecrets of the ServiceAccounts their spec.serviceAccounts lists (needs patch on ServiceAccounts)",
  },
  {
    flag: "rollout-restart",
    env: "ROLLOUT_RESTART",
    kind: "boolean",
    default: "false",
    help: "Honour spec.rolloutRestart: restart the Deployments, StatefulSets and DaemonSets that read a Secret once per new credential set (watches those kinds)",
  },
  {
    flag: "rollout-restart-spacing-ms",
    env: "ROLLOUT_RESTART_SPACING_MS",
    kind: "number",
    default: "30000",
    help: "Longest time between two restarts for one Secret (shorter when the old credentials' remaining lifetime requires; at least 1000)",
  },
  {
    flag: "rollout-restart-min-seconds",
    env: "ROLLOUT_RESTART_MIN_SECONDS",
    kind: "number",
    default: "120",
    help: "Time a rollout is given to finish before the old credentials expire (plans the spacing of restarts and the RestartWindowShort warning)",
  },
  {
    flag: "session-tags",
    env: "SESSION_TAGS",
    kind: "boolean",
    default: "false",
    help: "Tag every session with the resource's namespace and name (aws-assume-role-namespace, aws-assume-role-name)",
  },
  {
    flag: "cluster-name",
    env: "CLUSTER_NAME",
    kind: "string",
    default: "",
    help: "With --session-tags: also tag sessions with aws-assume-role-cluster=<this name>",
  },
  {
    flag: "pod-identity",
    env: "POD_IDENTITY",
    kind: "boolean",
    default: "false",
    help: "Serve AWSPodIdentityAssociations: the credential authority for the node agents and the mutating webhook (docs/pod-identity.md)",
  },
  {
    flag: "pod-identity-bind-address",
    env: "POD_IDENTITY_BIND_ADDRESS",
    kind: "string",
    default: ":9443",
    help: "With --pod-identity: HTTPS address of the credential authority and the webhook",
  },
  {
    flag: "pod-identity-agent",
    env: "POD_IDENTITY_AGENT",
    kind: "string",
    default: "aws-pod-identity/aws-pod-identity-agent",
    help: "With --pod-identity: the node agent's ServiceAccount, as namespace/name; only its tokens may ask for credentials",
  },
  {
    flag: "pod-identity-service",
    env: "POD_IDENTITY_SERVICE",
    kind: "string",
    default: "aws-assume-role-operator-pod-identity",
    help: "With --pod-identity: the Service in front of the authority and the webhook, in the operator's namespace (the certificate's names)",
  },
  {
    flag: "pod-identity-webhook",
    env: "POD_IDENTITY_WEBHOOK",
    kind: "string",
    default: "aws-assume-role-operator",
    help: "With --pod-identity: the MutatingWebhookConfiguration whose caBundle the operator keeps",
  },
  {
    flag: "pod-identity-tls-secret",
    env: "POD_IDENTITY_TLS_SECRET",
    kind: "string",
    default: "aws-assume-role-operator-pod-identity-tls",
    help: "With --pod-identity: the Secret (operator's namespace) holding the CA and serving certificate the operator manages",
  },
  {
    flag: "pod-identity-ca-config-map",
    env: "POD_IDENTITY_CA_CONFIG_MAP",
    kind: "string",
    default: "aws-pod-identity-ca",
    help: "With --pod-identity: the ConfigMap (agent's namespace, key ca.crt) the operator writes its CA into for the agents",
  },
  {
    flag: "pod-identity-extra-names",
    env: "POD_IDENTITY_EXTRA_NAMES",
    kind: "list",
    default: "",
    help: "With --pod-identity: further DNS names and IP addresses the managed certificate carries (e.g. 127.0.0.1 for an operator run outside the cluster)",
  },
  {
    flag: "pod-identity-cert-dir",
    env: "POD_IDENTITY_CERT_DIR",
    kind: "string",
    default: "",
    help: "With --pod-identity: read tls.crt, tls.key and ca.crt from this directory (e.g. cert-manager's) instead of managing them",
  },
  {
    flag: "log-level",
    env: "LOG_LEVEL",
    kind: "string",
    default: "info",
    help: "Log level: debug, info, warn or error",
  },
] as const satisfies readonly FlagSpec[];

/** The "Flags" block of a --help text: one entry per flag with its variable and default. */
export function flagsHelp(flags: readonly FlagSpec[]): string[] {
  const rows = flags.map(
    (f) =>
      `  --${f.flag}${f.kind === "boolean" ? "" : " <value>"}\n      ${f.help}\n      env ${f.env}, default ${f.default === "" ? "(empty)" : f.default}`,
  );
  return [
    "Flags (each has an environment variable; the flag wins):",
    ...rows,
    "  -h, --help\n      Show this help",
    "",
  ];
}
