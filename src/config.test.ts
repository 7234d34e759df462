// Unit tests of the configuration: flags and environment in, a typed Config (or a ConfigError that names the flag)
// out.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, FLAGS, helpText, parseConfig } from "./config.ts";
import type { Config } from "./config.ts";

const HOST = { hostname: "host-1" };

/** The Config for argv and env; fails the test when parseConfig answers with help text. */
function config(argv: string[] = [], env: Record<string, string | undefined> = {}): Config {
  const result = parseConfig(argv, env, HOST);
  assert.equal(result.help, false, "expected a Config, got the help text");
  return (result as { config: Config }).config;
}

/** Asserts that parsing fails with a ConfigError whose message matches every pattern. */
function rejects(argv: string[], env: Record<string, string | undefined>, ...patterns: RegExp[]): void {
  assert.throws(
    () => parseConfig(argv, env, HOST),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );
}

describe("parseConfig defaults", () => {
  test("without flags or environment every option has its documented default", () => {
    assert.deepEqual(config(), {
      namespaces: [],
      refreshRatio: 0.6667,
      refreshJitter: 0.05,
      refreshEvents: false,
      maxConcurrentReconciles: 16,
      backoffBaseMs: 1000,
      backoffMaxMs: 30000,
      permanentErrorRetryMs: 60000,
      conflictRetryMs: 30000,
      requestTimeoutMs: 10000,
      reconcileTimeoutMs: 60000,
      stsRate: 100,
      stsBurst: 200,
      ecrRate: 10,
      ecrBurst: 20,
      watchStallSeconds: 120,
      relistSeconds: 3600,
      metricsBindAddress: ":8080",
      healthProbeBindAddress: ":8081",
      leaderElect: false,
      leaderElectionNamespace: "default",
      leaderElectionId: "aws-assume-role-operator",
      instance: "host-1",
      namespacePermissions: false,
      clusterAssumeRoles: false,
      serviceAccounts: false,
      rolloutRestart: false,
      rolloutRestartSpacingMs: 30000,
      rolloutRestartMinSeconds: 120,
      sessionTags: false,
      clusterName: "",
      podIdentity: false,
      podIdentityBindAddress: ":9443",
      podIdentityAgent: "aws-pod-identity/aws-pod-identity-agent",
      podIdentityService: "aws-assume-role-operator-pod-identity",
      podIdentityWebhook: "aws-assume-role-operator",
      podIdentityTlsSecret: "aws-assume-role-operator-pod-identity-tls",
      podIdentityCaConfigMap: "aws-pod-identity-ca",
      podIdentityExtraNames: [],
      podIdentityCertDir: "",
      logLevel: "info",
    } satisfies Config);
  });

  test("--pod-identity-agent must be namespace/serviceaccount", () => {
    assert.throws(() => config(["--pod-identity-agent", "agent"]), /namespace\/serviceaccount/);
    assert.equal(config(["--pod-identity-agent", "ns/sa"]).podIdentityAgent, "ns/sa");
  });

  test("the Lease lives in the pod's namespace when POD_NAMESPACE is set", () => {
    assert.equal(config([], { POD_NAMESPACE: "operators" }).leaderElectionNamespace, "operators");
  });

  test("an explicit Lease namespace wins over POD_NAMESPACE", () => {
    const env = { POD_NAMESPACE: "operators" };
    assert.equal(
      config([], { ...env, LEADER_ELECTION_NAMESPACE: "leases" }).leaderElectionNamespace,
      "leases",
    );
    assert.equal(config(["--leader-election-namespace", "flagged"], env).leaderElectionNamespace, "flagged");
  });

  test("the instance is POD_NAME when set, else the host name", () => {
    assert.equal(config([], { POD_NAME: "operator-7d9-abcde" }).instance, "operator-7d9-abcde");
    assert.equal(config([], { POD_NAME: "" }).instance, "host-1");
  });
});

describe("parseConfig sources", () => {
  // One value per kind of option: the environment twin is read, and the flag wins over it.
  const cases: {
    flag: string;
    env: string;
    envValue: string;
    flagValue: string;
    key: keyof Config;
    envExpected: unknown;
    flagExpected: unknown;
  }[] = [
    {
      flag: "namespaces",
      env: "WATCH_NAMESPACES",
      envValue: "a,b",
      flagValue: "c",
      key: "namespaces",
      envExpected: ["a", "b"],
      flagExpected: ["c"],
    },
    {
      flag: "refresh-ratio",
      env: "REFRESH_RATIO",
      envValue: "0.5",
      flagValue: "0.75",
      key: "refreshRatio",
      envExpected: 0.5,
      flagExpected: 0.75,
    },
    {
      flag: "max-concurrent-reconciles",
      env: "MAX_CONCURRENT_RECONCILES",
      envValue: "4",
      flagValue: "8",
      key: "maxConcurrentReconciles",
      envExpected: 4,
      flagExpected: 8,
    },
    {
      flag: "metrics-bind-address",
      env: "METRICS_BIND_ADDRESS",
      envValue: "0",
      flagValue: "127.0.0.1:9090",
      key: "metricsBindAddress",
      envExpected: "0",
      flagExpected: "127.0.0.1:9090",
    },
    {
      flag: "leader-election-id",
      env: "LEADER_ELECTION_ID",
      envValue: "from-env",
      flagValue: "from-flag",
      key: "leaderElectionId",
      envExpected: "from-env",
      flagExpected: "from-flag",
    },
    {
      flag: "instance",
      env: "POD_NAME",
      envValue: "pod-a",
      flagValue: "replica-b",
      key: "instance",
      envExpected: "pod-a",
      flagExpected: "replica-b",
    },
    {
      flag: "log-level",
      env: "LOG_LEVEL",
      envValue: "warn",
      flagValue: "debug",
      key: "logLevel",
      envExpected: "warn",
      flagExpected: "debug",
    },
  ];
  for (const c of cases) {
    test(`${c.env} sets ${c.key}`, () => {
      assert.deepEqual(config([], { [c.env]: c.envValue })[c.key], c.envExpected);
    });
    test(`--${c.flag} wins over ${c.env}`, () => {
      assert.deepEqual(config([`--${c.flag}`, c.flagValue], { [c.env]: c.envValue })[c.key], c.flagExpected);
      assert.deepEqual(
        config([`--${c.flag}=${c.flagValue}`], { [c.env]: c.envValue })[c.key],
        c.flagExpected,
      );
    });
  }

  test("LEADER_ELECT accepts true/1/yes and false/0/no in any case", () => {
    for (const value of ["true", "1", "yes", "TRUE", " Yes "]) {
      assert.equal(config([], { LEADER_ELECT: value }).leaderElect, true, value);
    }
    for (const value of ["false", "0", "no", "False", ""]) {
      assert.equal(config([], { LEADER_ELECT: value }).leaderElect, false, value);
    }
  });

  test("--leader-elect turns leader election on even when LEADER_ELECT is false", () => {
    assert.equal(config(["--leader-elect"], { LEADER_ELECT: "false" }).leaderElect, true);
  });

  test("the last of a repeated flag wins", () => {
    const c = config(["--metrics-bind-address", "0", "--metrics-bind-address", "127.0.0.1:9100"]);
    assert.equal(c.metricsBindAddress, "127.0.0.1:9100");
  });

  test("string values are trimmed", () => {
    const c = config(["--leader-election-id", "  lease  "], { LOG_LEVEL: " error " });
    assert.equal(c.leaderElectionId, "lease");
    assert.equal(c.logLevel, "error");
  });
});

describe("parseConfig namespaces", () => {
  const cases: [string, string[]][] = [
    ["", []],
    ["team-a", ["team-a"]],
    ["team-a,team-b", ["team-a", "team-b"]],
    [" team-a , team-b ,, ", ["team-a", "team-b"]],
    [",", []],
  ];
  for (const [text, expected] of cases) {
    test(`${JSON.stringify(text)} watches ${expected.length ? expected.join(" and ") : "all namespaces"}`, () => {
      assert.deepEqual(config(["--namespaces", text]).namespaces, expected);
    });
  }

  for (const bad of ["Team-A", "team_a", "-team", "team-", "a,b c"]) {
    test(`${JSON.stringify(bad)} is rejected as a namespace list`, () => {
      rejects([`--namespaces=${bad}`], {}, /--namespaces/, /is not a namespace name/);
    });
  }
});

describe("parseConfig errors name the flag", () => {
  const cases: { what: string; argv: string[]; env?: Record<string, string>; patterns: RegExp[] }[] = [
    {
      what: "a number flag that is not a number",
      argv: ["--sts-rate", "fast"],
      patterns: [/--sts-rate \(STS_RATE\) must be a number/, /"fast"/],
    },
    {
      what: "a number variable that is not a number",
      argv: [],
      env: { BACKOFF_BASE_MS: "1s" },
      patterns: [/--backoff-base-ms \(BACKOFF_BASE_MS\) must be a number/, /"1s"/],
    },
    {
      what: "an empty number",
      argv: ["--ecr-burst", " "],
      patterns: [/--ecr-burst \(ECR_BURST\) must be a number/],
    },
    {
      what: "an infinite number",
      argv: ["--relist-seconds", "Infinity"],
      patterns: [/--relist-seconds/],
    },
    {
      what: "a number out of range",
      argv: ["--refresh-ratio", "0.95"],
      patterns: [/--refresh-ratio must be between 0.1 and 0.9, not 0.95/],
    },
    {
      what: "a maximum backoff below the base",
      argv: ["--backoff-base-ms", "5000", "--backoff-max-ms", "1000"],
      patterns: [/--backoff-max-ms must be between 5000/],
    },
    {
      what: "a watch stall limit too short for the watchdog",
      argv: ["--watch-stall-seconds", "1"],
      patterns: [/--watch-stall-seconds/],
    },
    {
      what: "no concurrency at all",
      argv: ["--max-concurrent-reconciles", "0"],
      patterns: [/--max-concurrent-reconciles/],
    },
    {
      what: "a boolean variable that is not a boolean",
      argv: [],
      env: { LEADER_ELECT: "maybe" },
      patterns: [/--leader-elect \(LEADER_ELECT\) must be true or false/, /"maybe"/],
    },
    {
      what: "a boolean flag given a value",
      argv: ["--leader-elect=maybe"],
      patterns: [/--leader-elect/, /see --help/],
    },
    {
      what: "an unknown log level",
      argv: ["--log-level", "verbose"],
      patterns: [/--log-level must be debug, info, warn or error/, /"verbose"/],
    },
    {
      what: "an upper-case log level from the environment",
      argv: [],
      env: { LOG_LEVEL: "INFO" },
      patterns: [/--log-level/, /"INFO"/],
    },
    {
      what: "a metrics address without a port",
      argv: ["--metrics-bind-address", "localhost"],
      patterns: [/--metrics-bind-address must be \[host\]:port or 0/, /"localhost"/],
    },
    {
      what: "a health address with a port beyond 65535",
      argv: ["--health-probe-bind-address", ":65536"],
      patterns: [/--health-probe-bind-address must be \[host\]:port or 0/],
    },
    {
      what: "a bare port number as a health address",
      argv: [],
      env: { HEALTH_PROBE_BIND_ADDRESS: "8081" },
      patterns: [/--health-probe-bind-address/, /"8081"/],
    },
    {
      what: "an unknown flag",
      argv: ["--leader-elect-namespace", "x"],
      patterns: [/--leader-elect-namespace/, /see --help/],
    },
  ];
  for (const c of cases) {
    test(`${c.what} is a ConfigError`, () => rejects(c.argv, c.env ?? {}, ...c.patterns));
  }
});

describe("--help", () => {
  test("--help and -h answer with the help text instead of a Config", () => {
    for (const flag of ["--help", "-h"]) {
      const result = parseConfig([flag, "--sts-rate", "fast"], {}, HOST);
      assert.deepEqual(result, { help: true, text: helpText() });
    }
  });

  test("the help text lists every flag with its environment variable and default", () => {
    const text = helpText();
    for (const f of FLAGS) {
      const at = text.indexOf(`  --${f.flag}${f.kind === "boolean" ? "\n" : " <value>\n"}`);
      assert.ok(at >= 0, `--${f.flag} is listed`);
      const entry = text.slice(at, text.indexOf("\n  -", at + 1));
      assert.ok(entry.includes(f.help), `--${f.flag} has its description`);
      assert.match(
        entry,
        new RegExp(
          `env ${f.env}, default ${f.default === "" ? "\\(empty\\)" : f.default.replace(/\./g, "\\.")}$`,
        ),
        `--${f.flag} names ${f.env} and its default`,
      );
    }
  });

  test("every flag has its own environment variable", () => {
    const envs = FLAGS.map((f) => f.env);
    assert.equal(new Set(envs).size, envs.length);
  });

  test("every default in the table passes validation", () => {
    // The defaults test above pins the values; this catches a table edit that makes the defaults invalid.
    assert.doesNotThrow(() => config());
  });
});
