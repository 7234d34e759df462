// Flags and environment → one validated, typed Config. Every flag has an environment twin; a flag given on the
// command line wins over its variable. `--help` prints the table below.
import { parseArgs } from "node:util";

type Kind = "string" | "number" | "boolean" | "list";

interface FlagSpec {
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
    flag: "log-level",
    env: "LOG_LEVEL",
    kind: "string",
    default: "info",
    help: "Log level: debug, info, warn or error",
  },
] as const satisfies readonly FlagSpec[];

export interface Config {
  namespaces: string[];
  refreshRatio: number;
  refreshJitter: number;
  maxConcurrentReconciles: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  permanentErrorRetryMs: number;
  conflictRetryMs: number;
  requestTimeoutMs: number;
  reconcileTimeoutMs: number;
  stsRate: number;
  stsBurst: number;
  ecrRate: number;
  ecrBurst: number;
  watchStallSeconds: number;
  relistSeconds: number;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  instance: string;
  namespacePermissions: boolean;
  clusterAssumeRoles: boolean;
  serviceAccounts: boolean;
  rolloutRestart: boolean;
  rolloutRestartSpacingMs: number;
  rolloutRestartMinSeconds: number;
  sessionTags: boolean;
  clusterName: string;
  logLevel: "debug" | "info" | "warn" | "error";
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export type ParseResult = { help: true; text: string } | { help: false; config: Config };

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parses argv (without node and script) and the environment. Throws ConfigError with a readable message. */
export function parseConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  defaults: { hostname: string },
): ParseResult {
  const options = Object.fromEntries(
    FLAGS.map((f) => [f.flag, { type: f.kind === "boolean" ? "boolean" : "string" } as const]),
  );
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
    });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (see --help)`);
  }
  if (parsed.values.help) return { help: true, text: helpText() };

  const raw: Record<string, unknown> = {};
  for (const f of FLAGS) {
    const given = (parsed.values as Record<string, string | boolean | undefined>)[f.flag];
    const text = given === undefined ? (env[f.env] ?? f.default) : String(given);
    raw[camel(f.flag)] = convert(f, text);
  }
  const config = raw as unknown as Config;
  config.instance ||= defaults.hostname;
  config.leaderElectionNamespace ||= env.POD_NAMESPACE || "default";
  validate(config);
  return { help: false, config };
}

function convert(f: FlagSpec, text: string): unknown {
  switch (f.kind) {
    case "string":
      return text.trim();
    case "list":
      return text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    case "boolean": {
      const t = text.trim().toLowerCase();
      if (["true", "1", "yes"].includes(t)) return true;
      if (["false", "0", "no", ""].includes(t)) return false;
      throw new ConfigError(`--${f.flag} (${f.env}) must be true or false, not ${JSON.stringify(text)}`);
    }
    case "number": {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) {
        throw new ConfigError(`--${f.flag} (${f.env}) must be a number, not ${JSON.stringify(text)}`);
      }
      return n;
    }
  }
}

function validate(c: Config): void {
  const range = (name: string, value: number, min: number, max: number) => {
    if (value < min || value > max)
      throw new ConfigError(`--${name} must be between ${min} and ${max}, not ${value}`);
  };
  range("refresh-ratio", c.refreshRatio, 0.1, 0.9);
  range("refresh-jitter", c.refreshJitter, 0, 0.2);
  range("max-concurrent-reconciles", c.maxConcurrentReconciles, 1, 1000);
  range("backoff-base-ms", c.backoffBaseMs, 1, 3_600_000);
  range("backoff-max-ms", c.backoffMaxMs, c.backoffBaseMs, 3_600_000);
  range("permanent-error-retry-ms", c.permanentErrorRetryMs, 1, 3_600_000);
  range("conflict-retry-ms", c.conflictRetryMs, 100, 3_600_000);
  range("request-timeout-ms", c.requestTimeoutMs, 100, 600_000);
  range("reconcile-timeout-ms", c.reconcileTimeoutMs, c.requestTimeoutMs, 3_600_000);
  range("sts-rate", c.stsRate, 0.01, 10_000);
  range("sts-burst", c.stsBurst, 1, 10_000);
  range("ecr-rate", c.ecrRate, 0.01, 10_000);
  range("ecr-burst", c.ecrBurst, 1, 10_000);
  range("watch-stall-seconds", c.watchStallSeconds, 5, 86_400);
  range("relist-seconds", c.relistSeconds, 0, 86_400 * 7);
  range("rollout-restart-spacing-ms", c.rolloutRestartSpacingMs, 1000, 3_600_000);
  range("rollout-restart-min-seconds", c.rolloutRestartMinSeconds, 0, 86_400);
  if (!["debug", "info", "warn", "error"].includes(c.logLevel)) {
    throw new ConfigError(
      `--log-level must be debug, info, warn or error, not ${JSON.stringify(c.logLevel)}`,
    );
  }
  for (const ns of c.namespaces) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))
      throw new ConfigError(`--namespaces: ${JSON.stringify(ns)} is not a namespace name`);
  }
  for (const [name, address] of [
    ["metrics-bind-address", c.metricsBindAddress],
    ["health-probe-bind-address", c.healthProbeBindAddress],
  ] as const) {
    if (address !== "0" && parseBindAddress(address) === undefined) {
      throw new ConfigError(`--${name} must be [host]:port or 0, not ${JSON.stringify(address)}`);
    }
  }
}

/** ":8080" → { host: undefined, port: 8080 }; "127.0.0.1:0" → { host: "127.0.0.1", port: 0 }; "0" → undefined. */
export function parseBindAddress(address: string): { host: string | undefined; port: number } | undefined {
  const m = /^(.*):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1] === "" ? undefined : m[1]!.replace(/^\[|\]$/g, ""), port };
}

export function helpText(): string {
  const rows = FLAGS.map(
    (f) =>
      `  --${f.flag}${f.kind === "boolean" ? "" : " <value>"}\n      ${f.help}\n      env ${f.env}, default ${f.default === "" ? "(empty)" : f.default}`,
  );
  return [
    "aws-assume-role-operator: keeps Secrets filled with fresh AWS credentials for AWSAssumeRole resources.",
    "",
    "Usage: npm start -- [flags]    (or: node dist/main.js [flags])",
    "",
    "Kubernetes access: in-cluster service account, else KUBECONFIG / ~/.kube/config.",
    "AWS access: the AWS SDK default credential chain (EKS Pod Identity, IRSA, environment, profile);",
    "endpoints through the standard AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL_ECR variables.",
    "",
    "Flags (each has an environment variable; the flag wins):",
    ...rows,
    "  -h, --help\n      Show this help",
    "",
  ].join("\n");
}
