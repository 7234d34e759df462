// The benchmark's flags: one table with the defaults, parsed into a typed BenchOptions. Every size is a
// flag so that development runs can be small and the full run uses the defaults.
import { parseArgs } from "node:util";

export const SCENARIOS = [
  "burst",
  "sts-latency",
  "restart",
  "idle",
  "spread",
  "memory",
  "scale",
  "gc-cost",
  "fan-out",
  "service-accounts",
  "pod-identity",
  "events",
  "imports",
] as const;
export type Scenario = (typeof SCENARIOS)[number];

interface FlagSpec {
  flag: string;
  default: string;
  help: string;
  /** A size: a run with a smaller value than the default is marked as a reduced run. */
  size?: boolean;
}

export const BENCH_FLAGS = [
  {
    flag: "scenario",
    default: SCENARIOS.join(","),
    help: `Comma-separated scenarios to run, in this order: ${SCENARIOS.join(", ")} (charts come with burst and spread)`,
  },
  { flag: "n", default: "1000", size: true, help: "Resources in burst, restart, idle and spread" },
  {
    flag: "max-concurrent-reconciles",
    default: "16",
    help: "The operator's worker pool, and the bare loop's concurrency",
  },
  { flag: "create-concurrency", default: "32", help: "Client pool that creates objects at once" },
  {
    flag: "sts-rate",
    default: "1000",
    help: "Operator --sts-rate in burst, restart, idle and memory (high, so the limiter does not dominate)",
  },
  { flag: "sts-burst", default: "1000", help: "Operator --sts-burst in burst, restart, idle and memory" },
  {
    flag: "burst-rounds",
    default: "2",
    size: true,
    help: "Operator and bare-loop rounds, interleaved (ABBA: operator, loop, loop, operator, ...)",
  },
  {
    flag: "restart-settle-seconds",
    default: "10",
    help: "After the restarted operator is idle, keep counting STS calls and writes this long",
  },
  { flag: "idle-seconds", default: "60", size: true, help: "Length of the idle window" },
  { flag: "memory-resources", default: "10000", size: true, help: "Resources in the memory scenario" },
  {
    flag: "unrelated-secrets",
    default: "50000",
    size: true,
    help: "Unrelated Secrets added in the memory scenario",
  },
  {
    flag: "unrelated-namespaces",
    default: "10",
    help: "Namespaces the unrelated Secrets are spread over (the operator watches them too)",
  },
  { flag: "unrelated-secret-bytes", default: "512", help: "Data size of each unrelated Secret" },
  {
    flag: "unrelated-service-accounts",
    default: "10000",
    size: true,
    help: "Unrelated ServiceAccounts added in the service-accounts scenario (spread like the unrelated Secrets)",
  },
  {
    flag: "memory-settle-seconds",
    default: "15",
    help: "Wait after each phase of the memory scenario before sampling",
  },
  {
    flag: "scale-sizes",
    default: "0,1000,10000,50000",
    help: "Resource counts the scale scenario measures at, ascending (resources are added between steps)",
  },
  {
    flag: "scale-memory-limit-mib",
    default: "256",
    help: "memory.limit_in_bytes of the cgroup the scale scenario runs the operator in (the chart's limit)",
  },
  {
    flag: "gc-cost-resources",
    default: "10000",
    size: true,
    help: "Resources in gc-cost: CPU under the chart's memory settings against ample memory",
  },
  {
    flag: "scale-env",
    default: "NODE_OPTIONS=--max-old-space-size=128 --max-semi-space-size=4",
    help: "Environment of the operator in scale and gc-cost (comma-separated K=V; default: the chart's heap flag)",
  },
  {
    flag: "scale-node-args",
    default: "",
    help: "Node flags of the operator in scale, before dist/main.js (space-separated; e.g. --no-opt, refused in NODE_OPTIONS)",
  },
  {
    flag: "sts-latency-ms",
    default: "100",
    help: "Latency the AWS proxy adds to every AssumeRole in sts-latency (the operator runs with its default limits)",
  },
  {
    flag: "spread-lifetime",
    default: "60",
    help: "Credential lifetime the AWS proxy hands out in spread (s)",
  },
  {
    flag: "spread-sts-rate",
    default: "100",
    help: "Operator --sts-rate in spread: the configured limit the peak is compared with (operator default)",
  },
  { flag: "spread-sts-burst", default: "200", help: "Operator --sts-burst in spread (operator default)" },
  {
    flag: "pod-identity-pods",
    default: "200",
    size: true,
    help: "Pods on one node in pod-identity: distinct Pod tokens fetched cold, then warm",
  },
  {
    flag: "pod-identity-cpu-fetches",
    default: "1000",
    size: true,
    help: "Cold fetches with fresh tokens in pod-identity over which the authority's CPU is measured",
  },
  {
    flag: "pod-identity-image",
    default: "",
    help: "Image with node of the Secret-reading Pod in pod-identity (default: scripts/image consumer js)",
  },
  {
    flag: "events-resources",
    default: "10000",
    size: true,
    help: "Resources (with the default 900 s credentials) whose refresh rate the events scenario reproduces",
  },
  {
    flag: "events-lifetime-seconds",
    default: "60",
    help: "Credential lifetime the AWS proxy hands out in events; the scenario runs resources × lifetime / 900",
  },
  {
    flag: "events-window-seconds",
    default: "120",
    size: true,
    help: "Counting window of each events round (after one lifetime of warm-up)",
  },
  {
    flag: "import-rounds",
    default: "5",
    size: true,
    help: "Fresh processes per row in imports (the median is reported)",
  },
  { flag: "timeout-seconds", default: "1200", help: "Upper bound of every wait (creation, Ready, refresh)" },
  { flag: "docs", default: "docs/benchmarks.md", help: "Markdown file the results are appended to" },
  { flag: "charts-dir", default: "docs/bench", help: "Directory of the SVG charts" },
  { flag: "note", default: "", help: "Free text added to the run's heading" },
  { flag: "keep-logs", default: "", help: "Directory to keep every operator's log in (default: not kept)" },
] as const satisfies readonly FlagSpec[];

export interface BenchOptions {
  scenarios: Scenario[];
  n: number;
  maxConcurrentReconciles: number;
  createConcurrency: number;
  stsRate: number;
  stsBurst: number;
  burstRounds: number;
  restartSettleSeconds: number;
  idleSeconds: number;
  memoryResources: number;
  unrelatedSecrets: number;
  unrelatedNamespaces: number;
  unrelatedSecretBytes: number;
  unrelatedServiceAccounts: number;
  memorySettleSeconds: number;
  scaleSizes: number[];
  scaleMemoryLimitMib: number;
  scaleEnv: string;
  scaleNodeArgs: string;
  gcCostResources: number;
  stsLatencyMs: number;
  spreadLifetime: number;
  spreadStsRate: number;
  spreadStsBurst: number;
  podIdentityPods: number;
  podIdentityCpuFetches: number;
  podIdentityImage: string;
  eventsResources: number;
  eventsLifetimeSeconds: number;
  eventsWindowSeconds: number;
  importRounds: number;
  timeoutSeconds: number;
  docs: string;
  chartsDir: string;
  note: string;
  keepLogs: string;
  /** --no-docs: print only, write nothing. */
  write: boolean;
  /** Flags given below their default (sizes only), e.g. ["--n 200"]. */
  reduced: string[];
}

export type ParsedOptions = { help: true; text: string } | { help: false; options: BenchOptions };

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function parseOptions(argv: string[]): ParsedOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(BENCH_FLAGS.map((f) => [f.flag, { type: "string" } as const])),
      "no-docs": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return { help: true, text: helpText() };
  const raw: Record<string, unknown> = {};
  const reduced: string[] = [];
  for (const f of BENCH_FLAGS) {
    const text = (values as Record<string, string | undefined>)[f.flag] ?? f.default;
    if (
      [
        "scenario",
        "docs",
        "charts-dir",
        "note",
        "keep-logs",
        "scale-env",
        "scale-node-args",
        "pod-identity-image",
      ].includes(f.flag)
    ) {
      raw[camel(f.flag)] = text;
      continue;
    }
    if (f.flag === "scale-sizes") {
      const sizes = text.split(",").map((v) => Number(v.trim()));
      if (
        sizes.some((v) => !Number.isInteger(v) || v < 0) ||
        sizes.some((v, i) => i > 0 && v <= sizes[i - 1]!)
      ) {
        throw new Error(`--scale-sizes must be ascending non-negative integers, not ${JSON.stringify(text)}`);
      }
      raw.scaleSizes = sizes;
      if (Math.max(...sizes) < 50_000) reduced.push(`--scale-sizes ${text}`);
      continue;
    }
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
      throw new Error(`--${f.flag} must be a non-negative number, not ${JSON.stringify(text)}`);
    }
    raw[camel(f.flag)] = n;
    if ("size" in f && f.size && n < Number(f.default)) reduced.push(`--${f.flag} ${text}`);
  }
  const scenarios = String(raw.scenario)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(s)) {
      throw new Error(`unknown scenario ${JSON.stringify(s)}; choose from ${SCENARIOS.join(", ")}`);
    }
  }
  const options = raw as unknown as BenchOptions;
  options.scenarios = SCENARIOS.filter((s) => scenarios.includes(s));
  options.write = !values["no-docs"];
  options.reduced = reduced;
  for (const [name, value] of [
    ["n", options.n],
    ["max-concurrent-reconciles", options.maxConcurrentReconciles],
    ["create-concurrency", options.createConcurrency],
    ["burst-rounds", options.burstRounds],
    ["spread-lifetime", options.spreadLifetime],
    ["unrelated-namespaces", options.unrelatedNamespaces],
    ["pod-identity-pods", options.podIdentityPods],
    ["pod-identity-cpu-fetches", options.podIdentityCpuFetches],
    ["events-lifetime-seconds", options.eventsLifetimeSeconds],
    ["import-rounds", options.importRounds],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  }
  return { help: false, options };
}

export function helpText(): string {
  return [
    "Benchmarks of aws-assume-role-operator against the test world (scripts/testenv).",
    "",
    "Usage: npm run bench -- [flags]",
    "",
    ...BENCH_FLAGS.map(
      (f) => `  --${f.flag} <value>\n      ${f.help}\n      default ${f.default || "(empty)"}`,
    ),
    "  --no-docs\n      Print the results only; do not write docs/benchmarks.md or charts",
    "  -h, --help",
    "",
  ].join("\n");
}
