// The chart's PrometheusRule and Grafana dashboard, checked with promtool (built from its Go module:
// scripts/testenv promtool). The rules are rendered by helm and unit-tested with `promtool test rules`: each alert
// fires on its bad case and stays silent on its healthy one. The series fed to promtool are shaped as the operator
// really exports them: their names and label sets must be in test/fixtures/metrics.prom, a scrape of the operator
// in the test world (node scripts/metrics-fixture.ts). Every query of the dashboard must answer against that fixture.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CHART, helm, kubeVersionArgs, notesOf, renderChart, valueArgs } from "./support/chart.ts";
import type { Rendered } from "./support/chart.ts";
import { isCumulative, labelShape, parseExposition, seriesNotation } from "./support/exposition.ts";
import { ROOT } from "./support/world.ts";

const run = promisify(execFile);
const FIXTURE = parseExposition(readFileSync(join(ROOT, "test", "fixtures", "metrics.prom"), "utf8"));
const DASHBOARD_FILE = join(CHART, "dashboards", "aws-assume-role.json");
const SERVES_RULES = ["--api-versions", "monitoring.coreos.com/v1/PrometheusRule"];
const RELEASE_NAMESPACE = "aws-assume-role";
/** The job the chart's ServiceMonitor gives the operator's targets: the metrics Service's name. */
const JOB = "aws-assume-role-metrics";
/** Target labels a scrape adds to every series of one operator pod, and of a second replica. */
const POD_A = { job: JOB, instance: "10.0.0.7:8080" };
const POD_B = { job: JOB, instance: "10.0.0.8:8080" };

// ---------------------------------------------------------------------------------------------------------------
// promtool

let promtoolPath: Promise<string> | undefined;
const promtool = () =>
  (promtoolPath ??= run(join(ROOT, "scripts", "testenv"), ["promtool"], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  }).then((r) => r.stdout.trim()));

/** Runs promtool in `dir`; its exit status and everything it printed. */
async function runPromtool(args: string[], dir: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(await promtool(), args, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? e.message}` };
  }
}

/** Writes files (JSON is YAML to promtool) into a fresh directory, runs promtool there and removes it. */
async function promtoolOn(
  files: Record<string, unknown>,
  args: string[],
): Promise<{ ok: boolean; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), "aar-promtool-"));
  try {
    for (const [name, content] of Object.entries(files))
      writeFileSync(join(dir, name), JSON.stringify(content, null, 2));
    return await runPromtool(args, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The rules as the chart renders them

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface PrometheusRule extends Rendered {
  spec: { groups: { name: string; rules: Rule[] }[] };
}

const ofKind = <T = Rendered>(objects: Rendered[], kind: string) =>
  objects.filter((o) => o.kind === kind) as T[];

async function renderRule(values: object = {}): Promise<PrometheusRule> {
  const objects = await renderChart({
    namespace: RELEASE_NAMESPACE,
    values: { prometheusRule: { enabled: true, ...values } },
    args: SERVES_RULES,
  });
  const rules = ofKind<PrometheusRule>(objects, "PrometheusRule");
  assert.equal(rules.length, 1, "one PrometheusRule");
  return rules[0]!;
}

const rulesOf = (rule: PrometheusRule) => rule.spec.groups.flatMap((g) => g.rules);

// ---------------------------------------------------------------------------------------------------------------
// Alert unit tests: series as the operator exports them, scraped with target labels

interface Series {
  name: string;
  /** The labels the operator writes (checked against the fixture). */
  labels: Record<string, string>;
  /** promtool's expanding notation, one sample per minute, e.g. "0+1x20" or "1x8 stale". */
  values: string;
  /** Target labels the scrape adds; default: POD_A. */
  target?: Record<string, string>;
  /** Scraped by a ServiceMonitor without honorLabels: the operator's `namespace` becomes `exported_namespace`. */
  exportedNamespace?: boolean;
}

interface ExpectedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface AlertCase {
  alert: string;
  what: string;
  evalTime: string;
  series: Series[];
  fires: ExpectedAlert[];
}

function scraped(s: Series): string {
  const labels: Record<string, string> = { ...s.labels };
  const target = s.target ?? POD_A;
  if (s.exportedNamespace && labels.namespace) {
    labels.exported_namespace = labels.namespace;
    delete labels.namespace;
    return seriesNotation(s.name, { ...labels, ...target, namespace: RELEASE_NAMESPACE });
  }
  return seriesNotation(s.name, { ...labels, ...target });
}

const FIXTURE_NS = "metrics-fixture";
const CLUSTER_RESOURCE = "metrics-fixture-shared";
const expiry = (kind: string, namespace: string, name: string, values: string): Series => ({
  name: "aws_assume_role_credentials_expiration_timestamp_seconds",
  labels: { kind, namespace, name },
  values,
});
const condition = (
  kind: string,
  namespace: string,
  name: string,
  ready: string,
  reason: string,
  values: string,
): Series => ({
  name: "aws_assume_role_resource_condition",
  labels: { kind, namespace, name, ready, reason },
  values,
});
const awsCalls = (api: string, outcome: string, values: string): Series => ({
  name: "aws_assume_role_aws_request_duration_seconds_count",
  labels: { api, outcome },
  values,
});
const refreshes = (kind: string, result: string, values: string): Series => ({
  name: "aws_assume_role_refreshes_total",
  labels: { kind, result, secret_type: "Map" },
  values,
});

const EXPIRING_RUNBOOK =
  "docs/troubleshooting.md#workloads-use-expired-credentials-although-the-resource-is-ready; the Ready reason's section under #ready-reasons";
const expiring = (resource: string, left: string) => ({
  summary: `Credentials of ${resource} expire in ${left} and were not refreshed`,
  description: `Workloads using ${resource} are about to lose AWS access. \`kubectl describe\` it: its Ready condition says why no refresh happened.`,
  runbook: EXPIRING_RUNBOOK,
});
const notReady = (resource: string) => ({
  summary: `${resource} has not been Ready for 15m`,
  description: `\`kubectl describe\` ${resource}: its Ready condition's reason and message say what is wrong.`,
  runbook: "docs/troubleshooting.md#ready-reasons (one section per reason)",
});

const ALERT_CASES: AlertCase[] = [
  {
    alert: "AWSAssumeRoleCredentialsExpiring",
    what: "credentials that are never refreshed, of both kinds",
    evalTime: "13m",
    series: [
      expiry("AWSAssumeRole", FIXTURE_NS, "app", "900x20"),
      expiry("ClusterAWSAssumeRole", "", CLUSTER_RESOURCE, "900x20"),
    ],
    fires: [
      {
        labels: { ...POD_A, kind: "AWSAssumeRole", namespace: FIXTURE_NS, name: "app", severity: "critical" },
        annotations: expiring(`AWSAssumeRole ${FIXTURE_NS}/app`, "2m 0s"),
      },
      {
        labels: { ...POD_A, kind: "ClusterAWSAssumeRole", name: CLUSTER_RESOURCE, severity: "critical" },
        annotations: expiring(`ClusterAWSAssumeRole ${CLUSTER_RESOURCE}`, "2m 0s"),
      },
    ],
  },
  {
    alert: "AWSAssumeRoleCredentialsExpiring",
    what: "a refresh 240 s before expiry, as the default lifetime has it (pending for one minute, never firing)",
    evalTime: "13m",
    series: [expiry("AWSAssumeRole", FIXTURE_NS, "app", "900x11 1800x10")],
    fires: [],
  },
  {
    alert: "AWSAssumeRoleResourceNotReady",
    what: "resources of every kind not Ready for 15 minutes, one whose reason changed on the way",
    evalTime: "16m",
    series: [
      condition("AWSAssumeRole", FIXTURE_NS, "denied", "False", "AccessDenied", "1x20"),
      // The operator replaces the series when the reason changes; `max by` the resource keeps the alert's clock.
      condition("AWSAssumeRole", FIXTURE_NS, "flaky", "False", "Throttled", "1x8 stale"),
      condition("AWSAssumeRole", FIXTURE_NS, "flaky", "False", "AWSError", "_x9 1x11"),
      condition("ClusterAWSAssumeRole", "", CLUSTER_RESOURCE, "False", "AccessDenied", "1x20"),
      {
        ...condition("AWSPodIdentityAssociation", "team-a", "reader", "Unknown", "FeatureDisabled", "1x20"),
        exportedNamespace: true,
      },
    ],
    fires: [
      {
        labels: { kind: "AWSAssumeRole", namespace: FIXTURE_NS, name: "denied", severity: "warning" },
        annotations: notReady(`AWSAssumeRole ${FIXTURE_NS}/denied`),
      },
      {
        labels: { kind: "AWSAssumeRole", namespace: FIXTURE_NS, name: "flaky", severity: "warning" },
        annotations: notReady(`AWSAssumeRole ${FIXTURE_NS}/flaky`),
      },
      {
        labels: { kind: "ClusterAWSAssumeRole", name: CLUSTER_RESOURCE, severity: "warning" },
        annotations: notReady(`ClusterAWSAssumeRole ${CLUSTER_RESOURCE}`),
      },
      {
        labels: {
          kind: "AWSPodIdentityAssociation",
          exported_namespace: "team-a",
          namespace: RELEASE_NAMESPACE,
          name: "reader",
          severity: "warning",
        },
        annotations: notReady("AWSPodIdentityAssociation team-a/reader"),
      },
    ],
  },
  {
    alert: "AWSAssumeRoleResourceNotReady",
    what: "a Ready resource, and one that became Ready after 10 minutes",
    evalTime: "16m",
    series: [
      condition("AWSAssumeRole", FIXTURE_NS, "app", "True", "CredentialsReady", "1x20"),
      condition("AWSAssumeRole", FIXTURE_NS, "late", "False", "AccessDenied", "1x9 stale"),
      condition("AWSAssumeRole", FIXTURE_NS, "late", "True", "CredentialsReady", "_x10 1x10"),
    ],
    fires: [],
  },
  {
    alert: "AWSAssumeRoleAWSErrors",
    what: "one AssumeRole call in six denied for 20 minutes",
    evalTime: "20m",
    series: [
      awsCalls("sts:AssumeRole", "success", "0+10x20"),
      awsCalls("sts:AssumeRole", "AccessDenied", "0+2x20"),
      awsCalls("sts:GetCallerIdentity", "success", "0+1x20"),
    ],
    fires: [
      {
        labels: { api: "sts:AssumeRole", severity: "warning" },
        annotations: {
          summary: "16.67% of sts:AssumeRole calls to AWS fail",
          description:
            "aws_assume_role_aws_request_duration_seconds_count by outcome names the failures (AccessDenied, Throttling, timeouts...).",
          runbook: "docs/troubleshooting.md#accessdenied, #throttled, #awsunavailable",
        },
      },
    ],
  },
  {
    alert: "AWSAssumeRoleAWSErrors",
    what: "one throttled call in a hundred",
    evalTime: "20m",
    series: [
      awsCalls("sts:AssumeRole", "success", "0+100x20"),
      awsCalls("sts:AssumeRole", "Throttling", "0+1x20"),
      awsCalls("sts:GetCallerIdentity", "success", "0+1x20"),
    ],
    fires: [],
  },
  {
    alert: "AWSAssumeRoleRefreshFailing",
    what: "a refresh failing every minute",
    evalTime: "20m",
    series: [
      refreshes("AWSAssumeRole", "failure", "0+1x20"),
      refreshes("AWSAssumeRole", "success", "0+1x20"),
    ],
    fires: [
      {
        labels: { kind: "AWSAssumeRole", secret_type: "Map", severity: "warning" },
        annotations: {
          summary: "AWSAssumeRole refreshes of secretType Map have been failing for 15m",
          description:
            "The resources not Ready (aws_assume_role_resource_condition) and their Ready reasons say which and why; a Secret that still holds valid credentials is kept until they expire.",
          runbook: "docs/troubleshooting.md#ready-reasons",
        },
      },
    ],
  },
  {
    alert: "AWSAssumeRoleRefreshFailing",
    what: "one failure, retried successfully",
    evalTime: "20m",
    series: [
      refreshes("AWSAssumeRole", "failure", "0x2 1x18"),
      refreshes("AWSAssumeRole", "success", "0+1x20"),
    ],
    fires: [],
  },
  {
    alert: "AWSAssumeRoleWatchStalled",
    what: "a watch stalled for 8 minutes",
    evalTime: "12m",
    series: [
      {
        name: "aws_assume_role_watch_stalled",
        labels: { watch: `awsassumeroles@${FIXTURE_NS}` },
        values: "0x3 1x10",
      },
      { name: "aws_assume_role_watch_stalled", labels: { watch: `secrets@${FIXTURE_NS}` }, values: "0x13" },
    ],
    fires: [
      {
        labels: { ...POD_A, watch: `awsassumeroles@${FIXTURE_NS}`, severity: "warning" },
        annotations: {
          summary: `The watch awsassumeroles@${FIXTURE_NS} of ${POD_A.instance} has stalled`,
          description:
            "The operator no longer hears of changes through it; /healthz reports it and the liveness probe restarts the pod if it does not recover.",
          runbook: "docs/troubleshooting.md#the-operator-pods-restart-liveness-probe-failed",
        },
      },
    ],
  },
  {
    alert: "AWSAssumeRoleWatchStalled",
    what: "a watch stalled for two minutes, then restarted",
    evalTime: "12m",
    series: [
      {
        name: "aws_assume_role_watch_stalled",
        labels: { watch: `awsassumeroles@${FIXTURE_NS}` },
        values: "0 1 1 0x10",
      },
    ],
    fires: [],
  },
  ...(["two replicas, neither leading", "no replica scraped at all"] as const).map((what): AlertCase => ({
    alert: "AWSAssumeRoleNoLeader",
    what,
    evalTime: "10m",
    series:
      what === "no replica scraped at all"
        ? []
        : [
            { name: "aws_assume_role_leader", labels: {}, values: "0x10" },
            { name: "aws_assume_role_leader", labels: {}, values: "0x10", target: POD_B },
          ],
    fires: [
      {
        labels: { severity: "critical" },
        annotations: {
          summary: "No aws-assume-role operator replica is the leader",
          description: `Nothing refreshes credentials. No target matching {job="${JOB}"} reports aws_assume_role_leader 1: the pods are down or not scraped, or the lease cannot be taken.`,
          runbook: "docs/troubleshooting.md#the-operator-pods-are-not-ready",
        },
      },
    ],
  })),
  {
    alert: "AWSAssumeRoleNoLeader",
    what: "a handover from one replica to the other with a minute between",
    evalTime: "10m",
    series: [
      { name: "aws_assume_role_leader", labels: {}, values: "1x4 0x5" },
      { name: "aws_assume_role_leader", labels: {}, values: "0x5 1x4", target: POD_B },
    ],
    fires: [],
  },
  {
    alert: "AWSAssumeRoleWorkQueueBacklog",
    what: "a queue that drains too slowly",
    evalTime: "20m",
    series: [{ name: "workqueue_depth", labels: { name: "awsassumerole" }, values: "1000-10x20" }],
    fires: [
      {
        labels: { name: "awsassumerole", severity: "warning" },
        annotations: {
          summary: "The awsassumerole work queue has held more than 100 keys for 15m",
          description:
            "Reconciles do not keep up: see workqueue_work_duration_seconds, AWS latency and throttling (aws_assume_role_aws_request_duration_seconds) and the operator's CPU limit.",
          runbook: "docs/troubleshooting.md#aws-throttling",
        },
      },
    ],
  },
  {
    alert: "AWSAssumeRoleWorkQueueBacklog",
    what: "the start of a replica with thousands of resources, drained in minutes; the standby's empty queue",
    evalTime: "20m",
    series: [
      {
        name: "workqueue_depth",
        labels: { name: "awsassumerole" },
        values: "5000 2500 1200 600 300 150 50 0x14",
      },
      { name: "workqueue_depth", labels: { name: "awsassumerole" }, values: "0x20", target: POD_B },
    ],
    fires: [],
  },
];

/** A promtool unit-test file for the cases, against rules.json in the same directory. */
function unitTests(cases: AlertCase[]) {
  return {
    rule_files: ["rules.json"],
    evaluation_interval: "1m",
    tests: cases.map((c) => ({
      name: `${c.alert}: ${c.what}`,
      interval: "1m",
      input_series: c.series.map((s) => ({ series: scraped(s), values: s.values })),
      alert_rule_test: [
        {
          eval_time: c.evalTime,
          alertname: c.alert,
          exp_alerts: c.fires.map((f) => ({ exp_labels: f.labels, exp_annotations: f.annotations })),
        },
      ],
    })),
  };
}

const testRules = (rule: PrometheusRule, cases: AlertCase[] = ALERT_CASES) =>
  promtoolOn({ "rules.json": { groups: rule.spec.groups }, "tests.json": unitTests(cases) }, [
    "test",
    "rules",
    "tests.json",
  ]);

// ---------------------------------------------------------------------------------------------------------------
// The fixture

/** Shapes (name + label names) the operator exports, from the fixture. */
const FIXTURE_SHAPES = new Set(FIXTURE.samples.map((s) => `${s.name}{${labelShape(s.labels)}}`));
const FIXTURE_NAMES = new Set(FIXTURE.samples.map((s) => s.name));

/** The operator's metric names a PromQL expression reads (its own and client-go's work-queue names). */
const metricNames = (expr: string) => [
  ...new Set(
    expr.match(/\b(aws_assume_role_[a-z_]+|workqueue_[a-z_]+|process_[a-z_]+|nodejs_[a-z_0-9]+)\b/g),
  ),
];

/** Labels a scrape adds (or renames the operator's `namespace` to, without honorLabels). */
const SCRAPE_LABELS = ["job", "instance", "exported_namespace"];

/**
 * Labels an expression groups or matches by that none of the metrics it reads carries in the fixture: `by (reason)`
 * on a metric without `reason` still answers, with every series in one group, so only this check notices.
 */
function unknownLabels(expr: string): string[] {
  const known = new Set(SCRAPE_LABELS);
  for (const name of metricNames(expr))
    for (const s of FIXTURE.samples) if (s.name === name) for (const l of Object.keys(s.labels)) known.add(l);
  const used = [
    ...[...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(",").map((l) => l.trim())),
    ...[...expr.matchAll(/([a-z_]+)\s*(?:=~|!=|!~|=)\s*"/g)].map((m) => m[1]!),
  ];
  return [...new Set(used.filter((l) => !known.has(l)))];
}

/** The fixture as promtool input series of one pod: gauges constant, counters growing by their value each minute. */
const fixtureSeries = () =>
  FIXTURE.samples
    .filter((s) => Number.isFinite(s.value))
    .map((s) => ({
      series: seriesNotation(s.name, { ...s.labels, ...POD_A }),
      values: isCumulative(s, FIXTURE.types) && s.value !== 0 ? `${s.value}+${s.value}x20` : `${s.value}x20`,
    }));

// ---------------------------------------------------------------------------------------------------------------
// The dashboard

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query: unknown }[] };
}

const DASHBOARD_TEXT = readFileSync(DASHBOARD_FILE, "utf8");
const DASHBOARD = JSON.parse(DASHBOARD_TEXT) as Dashboard;

/** Every query of the dashboard as Prometheus would get it: Grafana's variables replaced as Grafana does. */
function dashboardQueries(dashboard: Dashboard): { panel: string; expr: string }[] {
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      expr: t.expr.replaceAll("$__rate_interval", "5m").replaceAll("$job", ".+"),
    })),
  );
}

/**
 * The queries that return nothing against the fixture: each becomes an alert `absent(<query>)`, which promtool must
 * find silent after 10 minutes of the fixture's series (a query that does not parse fails the whole run).
 */
async function unansweredQueries(queries: { panel: string; expr: string }[]): Promise<string[]> {
  const rules = {
    groups: [
      {
        name: "dashboard",
        rules: queries.map((q, i) => ({ alert: `Query${i}`, expr: `absent(${q.expr})` })),
      },
    ],
  };
  const tests = {
    rule_files: ["rules.json"],
    evaluation_interval: "1m",
    tests: [
      {
        interval: "1m",
        input_series: fixtureSeries(),
        alert_rule_test: queries.map((_, i) => ({
          eval_time: "10m",
          alertname: `Query${i}`,
          exp_alerts: [],
        })),
      },
    ],
  };
  const { ok, output } = await promtoolOn({ "rules.json": rules, "tests.json": tests }, [
    "test",
    "rules",
    "tests.json",
  ]);
  if (ok) return [];
  const failed = [...output.matchAll(/alertname: Query(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(failed.length > 0, `promtool failed without naming a query:\n${output}`);
  return [...new Set(failed)].map((i) => `${queries[i]!.panel}: ${queries[i]!.expr}`);
}

// ---------------------------------------------------------------------------------------------------------------

describe("PrometheusRule", () => {
  test("is opt-in", async () => {
    assert.equal(ofKind(await renderChart({ args: SERVES_RULES }), "PrometheusRule").length, 0);
  });

  test("is skipped without the Prometheus Operator's CRD, and the install notes say so", async () => {
    const values = { prometheusRule: { enabled: true } };
    assert.equal(ofKind(await renderChart({ values }), "PrometheusRule").length, 0);
    const notes = await notesOf(valueArgs({ values }));
    assert.match(notes, /WARNING: prometheusRule\.enabled is set, but this cluster does not serve/);
    assert.doesNotMatch(notes, /kind: PrometheusRule/);
  });

  test("passes promtool check rules and helm lint --strict", async () => {
    const rule = await renderRule();
    assert.deepEqual(
      rulesOf(rule).map((r) => r.alert),
      [
        "AWSAssumeRoleCredentialsExpiring",
        "AWSAssumeRoleResourceNotReady",
        "AWSAssumeRoleAWSErrors",
        "AWSAssumeRoleRefreshFailing",
        "AWSAssumeRoleWatchStalled",
        "AWSAssumeRoleNoLeader",
        "AWSAssumeRoleWorkQueueBacklog",
      ],
    );
    const checked = await promtoolOn({ "rules.json": { groups: rule.spec.groups } }, [
      "check",
      "rules",
      "rules.json",
    ]);
    assert.ok(checked.ok, checked.output);
    assert.match(checked.output, /SUCCESS: 7 rules found/);
    const lint = await helm([
      "lint",
      CHART,
      "--strict",
      // helm lint has no --api-versions: the PrometheusRule is skipped there, its values are still checked.
      ...valueArgs({ values: { prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } } }),
      ...(await kubeVersionArgs()),
    ]);
    assert.match(lint, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test("each alert fires on its bad case and stays silent on its healthy case (promtool test rules)", async () => {
    const alerts = new Set(rulesOf(await renderRule()).map((r) => r.alert));
    for (const alert of alerts) {
      const cases = ALERT_CASES.filter((c) => c.alert === alert);
      assert.ok(
        cases.some((c) => c.fires.length > 0) && cases.some((c) => c.fires.length === 0),
        `${alert} has a firing and a silent case`,
      );
    }
    const { ok, output } = await testRules(await renderRule());
    assert.ok(ok, output);
    assert.match(output, /SUCCESS/);
  });

  test("the unit tests notice a rule that no longer fires in time", async () => {
    const slow = await renderRule({ alerts: { resourceNotReady: { for: "30m" } } });
    const { ok, output } = await testRules(slow);
    assert.equal(ok, false, "promtool test rules fails");
    assert.match(output, /alertname: AWSAssumeRoleResourceNotReady/);
    assert.doesNotMatch(output, /alertname: AWSAssumeRoleNoLeader/);
  });

  test("feeds only series the operator exports: each name and label set is in the metrics fixture", async () => {
    const foreign = ALERT_CASES.flatMap((c) => c.series)
      .map((s) => `${s.name}{${labelShape(s.labels)}}`)
      .filter((shape) => !FIXTURE_SHAPES.has(shape));
    assert.deepEqual([...new Set(foreign)], [], "series shapes missing from test/fixtures/metrics.prom");
    const unknown = rulesOf(await renderRule())
      .flatMap((r) => metricNames(r.expr))
      .filter((n) => !FIXTURE_NAMES.has(n));
    assert.deepEqual(unknown, [], "metrics the rules read that the operator does not export");
    const labels = rulesOf(await renderRule()).flatMap((r) =>
      unknownLabels(r.expr).map((l) => `${r.alert}: ${l}`),
    );
    assert.deepEqual(labels, [], "labels the rules use that the metrics they read do not carry");
  });

  test("scopes every expression to the operator's job, or to the selector given", async () => {
    const objects = await renderChart({
      namespace: RELEASE_NAMESPACE,
      values: { prometheusRule: { enabled: true } },
      args: SERVES_RULES,
    });
    const service = ofKind(objects, "Service").find((s) => s.metadata.name.endsWith("-metrics"))!;
    assert.equal(service.metadata.name, JOB, "the ServiceMonitor's job is the metrics Service's name");
    const selectors = (rule: PrometheusRule) =>
      rulesOf(rule).flatMap((r) => [...r.expr.matchAll(/[a-z_]+\{([^}]*)\}/g)].map((m) => m[1]!));
    const byDefault = selectors(ofKind<PrometheusRule>(objects, "PrometheusRule")[0]!);
    assert.ok(byDefault.length >= 8);
    for (const s of byDefault) assert.match(s, new RegExp(`job="${JOB}"`));
    const custom = 'cluster="prod", job=~"aar.*"';
    for (const s of selectors(await renderRule({ selector: custom }))) assert.ok(s.includes(custom), s);
  });

  test("takes per-alert switches, durations, thresholds and severities, extra labels and rules", async () => {
    const rule = await renderRule({
      namespace: "monitoring",
      labels: { release: "kube-prometheus-stack" },
      annotations: { owner: "platform" },
      alertLabels: { team: "platform" },
      alerts: {
        noLeader: { enabled: false },
        credentialsExpiring: { thresholdSeconds: 600, for: "2m", severity: "warning" },
        awsErrors: { ratio: 0.2 },
        workQueueBacklog: { depth: 1000 },
      },
      additionalRules: [{ alert: "MyOwn", expr: "vector(1)", labels: { severity: "info" } }],
    });
    assert.equal(rule.metadata.namespace, "monitoring");
    assert.equal(rule.metadata.labels?.release, "kube-prometheus-stack");
    assert.equal(rule.metadata.annotations?.owner, "platform");
    const rules = rulesOf(rule);
    const byName = new Map(rules.map((r) => [r.alert, r]));
    assert.equal(byName.has("AWSAssumeRoleNoLeader"), false);
    assert.equal(rules.at(-1)!.alert, "MyOwn");
    const expiring = byName.get("AWSAssumeRoleCredentialsExpiring")!;
    assert.match(expiring.expr, /< 600$/);
    assert.equal(expiring.for, "2m");
    assert.equal(expiring.labels?.severity, "warning");
    assert.match(byName.get("AWSAssumeRoleAWSErrors")!.expr, />\s*0\.2\s*$/);
    assert.match(byName.get("AWSAssumeRoleWorkQueueBacklog")!.expr, /> 1000$/);
    for (const r of rules.slice(0, -1)) assert.equal(r.labels?.team, "platform", r.alert);
    const checked = await promtoolOn({ "rules.json": { groups: rule.spec.groups } }, [
      "check",
      "rules",
      "rules.json",
    ]);
    assert.ok(checked.ok, checked.output);
  });

  test("needs the metrics endpoint", async () => {
    await assert.rejects(
      renderChart({
        values: { prometheusRule: { enabled: true }, metrics: { enabled: false } },
        args: SERVES_RULES,
      }),
      /prometheusRule\.enabled needs metrics\.enabled/,
    );
  });

  test("refuses a misspelt alert and a ratio above 1 with the schema's message", async () => {
    for (const [values, name] of [
      [{ prometheusRule: { alerts: { noLeadr: { enabled: false } } } }, /noLeadr/],
      [{ prometheusRule: { alerts: { awsErrors: { ratio: 5 } } } }, /ratio/],
    ] as const) {
      await assert.rejects(renderChart({ values }), (err: Error) => {
        assert.match(err.message, /values don't meet the specifications of the schema/);
        assert.match(err.message, name);
        return true;
      });
    }
  });
});

describe("Grafana dashboard", () => {
  test("is opt-in", async () => {
    const maps = ofKind(await renderChart(), "ConfigMap");
    assert.equal(maps.filter((m) => m.metadata.name.endsWith("-dashboard")).length, 0);
  });

  test("is a ConfigMap with the sidecar's label holding the dashboard file", async () => {
    const [byDefault] = ofKind<Rendered & { data: Record<string, string> }>(
      await renderChart({ values: { grafanaDashboard: { enabled: true } } }),
      "ConfigMap",
    );
    assert.equal(byDefault!.metadata.labels?.grafana_dashboard, "1");
    assert.equal(byDefault!.metadata.namespace, "aws-assume-role");
    assert.equal(byDefault!.data["aws-assume-role.json"], DASHBOARD_TEXT.trimEnd());
    const [custom] = ofKind(
      await renderChart({
        values: {
          grafanaDashboard: {
            enabled: true,
            namespace: "grafana",
            sidecarLabel: "dashboards",
            sidecarLabelValue: "aws",
            labels: { team: "platform" },
            annotations: { grafana_folder: "AWS" },
          },
        },
      }),
      "ConfigMap",
    );
    assert.equal(custom!.metadata.namespace, "grafana");
    assert.equal(custom!.metadata.labels?.dashboards, "aws");
    assert.equal(custom!.metadata.labels?.grafana_dashboard, undefined);
    assert.equal(custom!.metadata.labels?.team, "platform");
    assert.equal(custom!.metadata.annotations?.grafana_folder, "AWS");
  });

  test("has a stable uid, a job variable, and panels for every area the operator reports on", () => {
    assert.equal(DASHBOARD.uid, "aws-assume-role");
    assert.deepEqual(
      DASHBOARD.templating.list.map((v) => v.name),
      ["datasource", "job"],
    );
    const exprs = dashboardQueries(DASHBOARD)
      .map((q) => q.expr)
      .join("\n");
    for (const metric of [
      "aws_assume_role_resource_condition",
      "aws_assume_role_credentials_expiration_timestamp_seconds",
      "aws_assume_role_refreshes_total",
      "aws_assume_role_aws_request_duration_seconds_bucket",
      "workqueue_depth",
      "workqueue_queue_duration_seconds_bucket",
      "workqueue_retries_total",
      "aws_assume_role_reconcile_duration_seconds_bucket",
      "aws_assume_role_leader",
      "aws_assume_role_watch_stalled",
      "process_resident_memory_bytes",
      "process_cpu_seconds_total",
      "aws_assume_role_pod_identity_answers_seconds_count",
    ])
      assert.ok(exprs.includes(metric), `a panel reads ${metric}`);
    for (const q of dashboardQueries(DASHBOARD)) {
      assert.doesNotMatch(q.expr, /\$/, `${q.panel}: only $job and $__rate_interval are used`);
      assert.match(q.expr, /job=~"\.\+"/, `${q.panel}: scoped by $job`);
    }
  });

  test("every query parses and returns data against the operator's real metrics (promtool)", async () => {
    assert.deepEqual(await unansweredQueries(dashboardQueries(DASHBOARD)), []);
  });

  test("every label a query groups or matches by is one the metrics it reads carry", () => {
    const unknown = dashboardQueries(DASHBOARD).flatMap((q) =>
      unknownLabels(q.expr).map((l) => `${q.panel}: ${l} in ${q.expr}`),
    );
    assert.deepEqual(unknown, []);
    assert.deepEqual(unknownLabels('sum by (reason) (aws_assume_role_leader{job=~".+"})'), ["reason"]);
  });

  test("the data check notices a query the operator's metrics cannot answer", async () => {
    const answered = { panel: "leader", expr: 'max(aws_assume_role_leader{job=~".+"})' };
    const broken = { panel: "misspelt", expr: 'sum(aws_assume_role_resource_conditions{job=~".+"})' };
    assert.deepEqual(await unansweredQueries([answered, broken]), [`misspelt: ${broken.expr}`]);
  });
});
