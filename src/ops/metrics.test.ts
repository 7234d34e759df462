// The metrics an SRE alerts on, with plain values: one readiness series per resource (replaced when its Ready
// condition changes, gone when the resource is), the work queues under client-go's names, stalled watches, the build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metrics, reconcileBuckets } from "./metrics.ts";
import type { ConditionedResource } from "../credentials/ports.ts";
import { queue, gatedHandler, settle } from "../runtime/queue.fakes.ts";

interface Series {
  labels: Record<string, string | number | undefined>;
  value: number;
}

async function series(metrics: Metrics, name: string): Promise<Series[]> {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric, `metric ${name} is registered`);
  return (await metric.get()).values.map((v) => ({ labels: { ...v.labels }, value: v.value }));
}

function resource(namespace: string, name: string, ready?: [string, string]): ConditionedResource {
  return {
    metadata: { namespace, name },
    ...(ready
      ? {
          status: {
            conditions: [
              {
                type: "Ready",
                status: ready[0] as "True",
                reason: ready[1],
                message: "",
                lastTransitionTime: "",
              },
            ],
          },
        }
      : {}),
  };
}

const CHANGED = { deleted: false, statusOnly: true };
const DELETED = { deleted: true, statusOnly: false };

test("one readiness series per resource: Unknown before any Ready condition, replaced when it changes, removed on delete", async () => {
  const metrics = new Metrics();
  metrics.setLeader(true);
  const observe = metrics.readiness("AWSAssumeRole");

  observe(resource("team-a", "app"), { deleted: false, statusOnly: false });
  assert.deepEqual(await series(metrics, "aws_assume_role_resource_condition"), [
    {
      labels: { kind: "AWSAssumeRole", namespace: "team-a", name: "app", ready: "Unknown", reason: "" },
      value: 1,
    },
  ]);

  observe(resource("team-a", "app", ["False", "AccessDenied"]), CHANGED);
  observe(resource("team-a", "other", ["True", "CredentialsReady"]), CHANGED);
  assert.deepEqual(await series(metrics, "aws_assume_role_resource_condition"), [
    {
      labels: {
        kind: "AWSAssumeRole",
        namespace: "team-a",
        name: "app",
        ready: "False",
        reason: "AccessDenied",
      },
      value: 1,
    },
    {
      labels: {
        kind: "AWSAssumeRole",
        namespace: "team-a",
        name: "other",
        ready: "True",
        reason: "CredentialsReady",
      },
      value: 1,
    },
  ]);

  observe(resource("team-a", "app", ["True", "CredentialsReady"]), CHANGED);
  const app = (await series(metrics, "aws_assume_role_resource_condition")).filter(
    (s) => s.labels.name === "app",
  );
  assert.deepEqual(
    app.map((s) => [s.labels.ready, s.labels.reason]),
    [["True", "CredentialsReady"]],
    "the AccessDenied series is gone",
  );

  observe(resource("team-a", "app", ["True", "CredentialsReady"]), DELETED);
  assert.deepEqual(
    (await series(metrics, "aws_assume_role_resource_condition")).map((s) => s.labels.name),
    ["other"],
  );
});

test("the kinds are told apart, the cluster kind with an empty namespace, a disabled kind's with FeatureDisabled", async () => {
  const metrics = new Metrics();
  metrics.setLeader(true);
  metrics.readiness("AWSAssumeRole")(resource("ns", "same", ["True", "CredentialsReady"]), CHANGED);
  metrics.readiness("ClusterAWSAssumeRole")(
    { metadata: { name: "same" }, status: resource("", "", ["False", "FeatureDisabled"]).status! },
    CHANGED,
  );
  metrics.readiness("AWSPodIdentityAssociation")(resource("ns", "same", ["True", "Associated"]), CHANGED);
  assert.deepEqual(
    (await series(metrics, "aws_assume_role_resource_condition")).map((s) => [
      s.labels.kind,
      s.labels.namespace,
      s.labels.reason,
    ]),
    [
      ["AWSAssumeRole", "ns", "CredentialsReady"],
      ["ClusterAWSAssumeRole", "", "FeatureDisabled"],
      ["AWSPodIdentityAssociation", "ns", "Associated"],
    ],
  );
});

test("only the leader reports readiness; leader is 1 or 0", async () => {
  const metrics = new Metrics();
  metrics.readiness("AWSAssumeRole")(resource("ns", "app", ["True", "CredentialsReady"]), CHANGED);
  metrics.setLeader(false);
  assert.deepEqual(await series(metrics, "aws_assume_role_resource_condition"), []);
  assert.deepEqual(
    (await series(metrics, "aws_assume_role_leader")).map((s) => s.value),
    [0],
  );
  metrics.setLeader(true);
  assert.equal((await series(metrics, "aws_assume_role_resource_condition")).length, 1);
  assert.deepEqual(
    (await series(metrics, "aws_assume_role_leader")).map((s) => s.value),
    [1],
  );
});

test("work queues are reported under client-go's names with their queue's name", async () => {
  let now = 0;
  const metrics = new Metrics();
  const h = gatedHandler();
  const q = queue({
    concurrency: 1,
    handler: h.handler,
    metrics: metrics.queue("awsassumerole"),
    now: () => now,
  });
  assert.deepEqual(await series(metrics, "workqueue_adds_total"), [
    { labels: { name: "awsassumerole" }, value: 0 },
  ]);
  assert.deepEqual(await series(metrics, "workqueue_retries_total"), [
    { labels: { name: "awsassumerole" }, value: 0 },
  ]);
  q.add("ns/a");
  q.add("ns/b");
  now = 2_000;
  q.start();
  await settle();
  now = 5_000;
  assert.deepEqual(await series(metrics, "workqueue_depth"), [
    { labels: { name: "awsassumerole" }, value: 1 },
  ]);
  assert.deepEqual(await series(metrics, "workqueue_adds_total"), [
    { labels: { name: "awsassumerole" }, value: 2 },
  ]);
  assert.deepEqual(await series(metrics, "workqueue_unfinished_work_seconds"), [
    { labels: { name: "awsassumerole" }, value: 3 },
  ]);
  assert.deepEqual(await series(metrics, "workqueue_longest_running_processor_seconds"), [
    { labels: { name: "awsassumerole" }, value: 3 },
  ]);
  const waited = (await series(metrics, "workqueue_queue_duration_seconds")).find(
    (s) => s.labels.le === 2.5 || s.labels.le === "2.5",
  );
  assert.equal(waited, undefined, "client-go's buckets are powers of ten");
  const counts = (await series(metrics, "workqueue_queue_duration_seconds")).filter(
    (s) => s.labels.le === undefined,
  );
  assert.ok(
    counts.some((s) => s.value === 2),
    `one key waited 2 s: ${JSON.stringify(counts)}`,
  );

  h.release("ns/a");
  await settle();
  const reconciles = await series(metrics, "aws_assume_role_reconcile_duration_seconds");
  assert.deepEqual(
    reconciles
      .filter((s) => s.labels.le === "+Inf" || s.labels.le === Infinity)
      .map((s) => [s.labels.controller, s.labels.result, s.value]),
    [["awsassumerole", "success", 1]],
  );
  const work = await series(metrics, "workqueue_work_duration_seconds");
  assert.deepEqual(
    work.filter((s) => s.labels.le === 10).map((s) => s.value),
    [1],
    "the run of 3 s is in the 10 s bucket",
  );
  h.release("ns/b");
  await settle();
  await q.shutdown();
});

test("reconcile buckets reach 60 s, and the deadline when it is longer", () => {
  assert.deepEqual(reconcileBuckets(60_000).slice(-5), [5, 10, 20, 30, 60]);
  assert.deepEqual(reconcileBuckets(30_000).slice(-2), [30, 60]);
  assert.deepEqual(reconcileBuckets(120_000).slice(-3), [30, 60, 120]);
});

test("a watch is reported stalled as the watchdog finds it at scrape time", async () => {
  const metrics = new Metrics();
  let stalled = false;
  metrics.watches = () => [
    { name: "awsassumeroles@*", stalled },
    { name: "secrets@team-a", stalled: false },
  ];
  assert.deepEqual(await series(metrics, "aws_assume_role_watch_stalled"), [
    { labels: { watch: "awsassumeroles@*" }, value: 0 },
    { labels: { watch: "secrets@team-a" }, value: 0 },
  ]);
  stalled = true;
  assert.deepEqual(
    (await series(metrics, "aws_assume_role_watch_stalled")).map((s) => s.value),
    [1, 0],
  );
});

test("build_info carries package.json's version, the image's revision and Node's version", async () => {
  const { version } = (await import("../../package.json", { with: { type: "json" } })).default;
  assert.deepEqual(await series(new Metrics({ revision: "abc123" }), "aws_assume_role_build_info"), [
    { labels: { version, revision: "abc123", nodejs_version: process.version }, value: 1 },
  ]);
  assert.equal(
    (await series(new Metrics(), "aws_assume_role_build_info"))[0]?.labels.revision,
    "unknown",
    "outside the image",
  );
});
