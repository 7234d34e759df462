// Flags and environment → one validated, typed Config. Every flag has an environment twin; a flag given on the
// command line wins over its variable. `--help` prints the table (flags.ts).
import { parseArgs } from "node:util";
import { FLAGS, flagsHelp } from "./flags.ts";
import type { FlagSpec } from "./flags.ts";
import { parseBindAddress } from "./ops/bind-address.ts";

export { FLAGS } from "./flags.ts";

export interface Config {
  namespaces: string[];
  refreshRatio: number;
  refreshJitter: number;
  refreshEvents: boolean;
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
  podIdentity: boolean;
  podIdentityBindAddress: string;
  podIdentityAgent: string;
  podIdentityService: string;
  podIdentityWebhook: string;
  podIdentityTlsSecret: string;
  podIdentityCaConfigMap: string;
  podIdentityExtraNames: string[];
  podIdentityCertDir: string;
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
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(c.podIdentityAgent)) {
    throw new ConfigError(
      `--pod-identity-agent must be namespace/serviceaccount, not ${JSON.stringify(c.podIdentityAgent)}`,
    );
  }
  for (const ns of c.namespaces) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))
      throw new ConfigError(`--namespaces: ${JSON.stringify(ns)} is not a namespace name`);
  }
  for (const [name, address] of [
    ["metrics-bind-address", c.metricsBindAddress],
    ["health-probe-bind-address", c.healthProbeBindAddress],
    ["pod-identity-bind-address", c.podIdentityBindAddress],
  ] as const) {
    if (address !== "0" && parseBindAddress(address) === undefined) {
      throw new ConfigError(`--${name} must be [host]:port or 0, not ${JSON.stringify(address)}`);
    }
  }
}

/** ":8080" → { host: undefined, port: 8080 }; "127.0.0.1:0" → { host: "127.0.0.1", port: 0 }; "0" → undefined. */
export function helpText(): string {
  return [
    "aws-assume-role-operator: keeps Secrets filled with fresh AWS credentials for AWSAssumeRole resources.",
    "",
    "Usage: npm start -- [flags]    (or: node dist/main.js [flags])",
    "",
    "Kubernetes access: in-cluster service account, else KUBECONFIG / ~/.kube/config.",
    "AWS access: the AWS SDK default credential chain (EKS Pod Identity, IRSA, environment, profile);",
    "endpoints through the standard AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL_ECR variables.",
    "",
    ...flagsHelp(FLAGS),
  ].join("\n");
}
