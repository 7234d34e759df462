// The operator's HTTP endpoints against the real test world: the health probes answer, /metrics is Prometheus text
// with the series an SRE alerts on, a standby is ready but not leading, and a deleted resource's series goes away.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { eventually, freshNamespace, privateProxy, world } from "./support/world.ts";
import { createResource, mapSpec, startOperator, waitForReady } from "./support/operator.ts";
import type { RunningOperator } from "./support/operator.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  /** Metric family → its `# TYPE`. */
  types: Map<string, string>;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;

/** Parses the Prometheus text format (0.0.4) strictly: a line that is not a comment or a sample fails the test. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      assert.ok(!types.has(type[1]!), `one # TYPE line per family: ${type[1]}`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const labelText = m[2] ?? "";
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const l = LABEL.exec(labelText);
      assert.ok(l, `well-formed labels: ${JSON.stringify(line)}`);
      labels[l[1]!] = l[2]!.replace(/\\"/g, '"').replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
    }
    const value = Number(m[3]!.replace(/^\+Inf$/, "Infinity"));
    assert.ok(!Number.isNaN(value) || m[3] === "NaN", `a numeric value: ${JSON.stringify(line)}`);
    samples.push({ name: m[1]!, labels, value });
  }
  for (const s of samples) {
    const family = types.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count|total)$/, "");
    assert.ok(types.has(family) || types.has(s.name), `sample ${s.name} belongs to a family with a # TYPE`);
  }
  return { types, samples };
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

async function metrics(op: RunningOperator): Promise<Exposition> {
  const res = await get(`${op.metricsUrl}/metrics`);
  assert.equal(res.status, 200, `/metrics answers 200: ${res.body}`);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  return parseExposition(res.body);
}

async function deleteResource(namespace: string, name: string): Promise<void> {
  const w = await world();
  await w.custom.deleteNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace,
    name,
  });
}

/** Asserts each family's `# TYPE`. */
function assertTypes(e: Exposition, families: readonly (readonly [string, string])[]): void {
  for (const [family, type] of families) assert.equal(e.types.get(family), type, `# TYPE ${family} ${type}`);
}

/** Values of the samples called `name` whose labels include `labels`. */
function values(e: Exposition, name: string, labels: Record<string, string> = {}): number[] {
  return e.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => s.value);
}

test("the health probes answer 200 once the operator has started, and unknown paths 404", async (t) => {
  const ns = await freshNamespace(t);
  const op = await startOperator(t, { namespaces: [ns], endpoints: true });

  const readyz = await get(`${op.healthUrl}/readyz`);
  assert.deepEqual([readyz.status, readyz.body], [200, "ok\n"]);
  const healthz = await get(`${op.healthUrl}/healthz?verbose`);
  assert.deepEqual([healthz.status, healthz.body], [200, "ok\n"]);
  assert.equal((await get(`${op.healthUrl}/metrics`)).status, 404, "metrics are not on the health port");
  assert.equal((await get(`${op.metricsUrl}/healthz`)).status, 404, "probes are not on the metrics port");
});

test("/metrics reports refreshes, AWS latency, credential expiry, leadership and process metrics; a deleted resource's expiry goes away", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  const op = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, endpoints: true });

  const before = await metrics(op);
  assertTypes(before, [
    ["aws_assume_role_refreshes_total", "counter"],
    ["aws_assume_role_aws_request_duration_seconds", "histogram"],
    ["aws_assume_role_credentials_expiration_timestamp_seconds", "gauge"],
    ["workqueue_depth", "gauge"],
    ["workqueue_adds_total", "counter"],
    ["workqueue_retries_total", "counter"],
    ["aws_assume_role_reconcile_duration_seconds", "histogram"],
    ["aws_assume_role_leader", "gauge"],
    ["aws_assume_role_resources", "gauge"],
    ["process_resident_memory_bytes", "gauge"],
  ]);
  assert.deepEqual(
    values(before, "aws_assume_role_leader"),
    [1],
    "without leader election this replica leads",
  );
  const [rss] = values(before, "process_resident_memory_bytes");
  assert.ok(rss !== undefined && rss > 0, "process_resident_memory_bytes is reported");

  await createResource(ns, "app", { roleName: "my-role", secretName: "app-aws", secretType: "Map" });
  const resource = await waitForReady(ns, "app");
  const expiration = Date.parse(resource.status!.expirationTime!) / 1000;

  const after = await eventually("the expiration series of the Ready resource", async () => {
    const e = await metrics(op);
    return values(e, "aws_assume_role_credentials_expiration_timestamp_seconds", {
      namespace: ns,
      name: "app",
    }).length
      ? e
      : undefined;
  });
  assert.deepEqual(
    values(after, "aws_assume_role_credentials_expiration_timestamp_seconds", { namespace: ns, name: "app" }),
    [expiration],
    "the gauge is status.expirationTime in Unix seconds",
  );
  const [refreshes] = values(after, "aws_assume_role_refreshes_total", {
    result: "success",
    secret_type: "Map",
  });
  assert.ok(refreshes !== undefined && refreshes >= 1, `successful Map refreshes counted (${refreshes})`);
  const [assumeRoles] = values(after, "aws_assume_role_aws_request_duration_seconds_count", {
    api: "sts:AssumeRole",
    outcome: "success",
  });
  assert.equal(
    assumeRoles,
    proxy.records({ action: "AssumeRole" }).filter((r) => r.status === 200).length,
    "every successful AssumeRole the proxy answered is counted once",
  );
  assert.ok(
    values(after, "aws_assume_role_aws_request_duration_seconds_bucket", {
      api: "sts:AssumeRole",
      outcome: "success",
      le: "+Inf",
    })[0] === assumeRoles,
    "the +Inf bucket holds every AssumeRole",
  );

  await eventually("the resources gauge to count the resource", async () =>
    values(await metrics(op), "aws_assume_role_resources")[0] === 1 ? true : undefined,
  );

  await deleteResource(ns, "app");
  await eventually("the expiration series to go away after the resource is deleted", async () => {
    const e = await metrics(op);
    const left = values(e, "aws_assume_role_credentials_expiration_timestamp_seconds", {
      namespace: ns,
      name: "app",
    });
    return left.length === 0 ? true : undefined;
  });
});

test("each resource has one Ready series (True, or False with its reason), gone when it is deleted; the work queues under client-go's names; build_info; watch_stalled", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  // One resource that never becomes Ready: STS refuses its role.
  proxy.setFaults([
    {
      service: "sts",
      action: "AssumeRole",
      sessionPrefix: `aar.${ns}.denied`,
      kind: "error",
      httpStatus: 403,
      code: "AccessDenied",
      message: "not authorized to perform sts:AssumeRole",
    },
  ]);
  const op = await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    endpoints: true,
    env: { AAR_REVISION: "0123abc" },
  });
  await createResource(ns, "good", mapSpec("good-aws"));
  await createResource(ns, "denied", mapSpec("denied-aws"));
  await waitForReady(ns, "good");
  await waitForReady(ns, "denied", "False", "AccessDenied");

  const readiness = (e: Exposition, name: string) =>
    e.samples
      .filter(
        (s) =>
          s.name === "aws_assume_role_resource_condition" &&
          s.labels.namespace === ns &&
          s.labels.name === name,
      )
      .map((s): Record<string, string | number> => ({ ...s.labels, value: s.value }));
  const e = await eventually("both resources' Ready series as their status says", async () => {
    const e = await metrics(op);
    const good = readiness(e, "good");
    const denied = readiness(e, "denied");
    return good[0]?.ready === "True" && denied[0]?.ready === "False" ? e : undefined;
  });
  assert.equal(e.types.get("aws_assume_role_resource_condition"), "gauge");
  assert.deepEqual(readiness(e, "good"), [
    {
      kind: "AWSAssumeRole",
      namespace: ns,
      name: "good",
      ready: "True",
      reason: "CredentialsReady",
      value: 1,
    },
  ]);
  assert.deepEqual(
    readiness(e, "denied"),
    [
      {
        kind: "AWSAssumeRole",
        namespace: ns,
        name: "denied",
        ready: "False",
        reason: "AccessDenied",
        value: 1,
      },
    ],
    "the resource that never became Ready is named, with its reason, and has no other series",
  );
  assert.deepEqual(
    values(e, "aws_assume_role_credentials_expiration_timestamp_seconds", { namespace: ns, name: "denied" }),
    [],
    "which the expiry gauge cannot do: it has no credentials",
  );

  const workqueue = [
    ["workqueue_depth", "gauge"],
    ["workqueue_adds_total", "counter"],
    ["workqueue_queue_duration_seconds", "histogram"],
    ["workqueue_work_duration_seconds", "histogram"],
    ["workqueue_retries_total", "counter"],
    ["workqueue_unfinished_work_seconds", "gauge"],
    ["workqueue_longest_running_processor_seconds", "gauge"],
  ] as const;
  assertTypes(e, workqueue);
  for (const [family] of workqueue) {
    assert.ok(
      e.samples.some((s) => s.name.startsWith(family) && s.labels.name === "awsassumerole"),
      `${family}{name="awsassumerole"}`,
    );
  }
  const [adds] = values(e, "workqueue_adds_total", { name: "awsassumerole" });
  assert.ok(adds !== undefined && adds >= 2, `both resources were added to the queue (${adds})`);
  const [runs] = values(e, "workqueue_work_duration_seconds_count", { name: "awsassumerole" });
  const [reconciles] = values(e, "aws_assume_role_reconcile_duration_seconds_count", {
    controller: "awsassumerole",
    result: "success",
  });
  assert.ok(runs !== undefined && runs >= 2, `both resources were reconciled (${runs})`);
  assert.ok(
    reconciles !== undefined && reconciles <= runs,
    "reconciles are counted by controller and result",
  );
  assert.ok(
    values(e, "aws_assume_role_reconcile_duration_seconds_bucket", {
      controller: "awsassumerole",
      result: "success",
      le: "60",
    }).length === 1,
    "the reconcile buckets reach the 60 s deadline",
  );

  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  assert.deepEqual(
    e.samples.filter((s) => s.name === "aws_assume_role_build_info").map((s) => [s.labels, s.value]),
    [[{ version: pkg.version, revision: "0123abc", nodejs_version: process.version }, 1]],
  );

  const watches = e.samples.filter((s) => s.name === "aws_assume_role_watch_stalled");
  assert.ok(
    watches.some((s) => s.labels.watch === `awsassumeroles@${ns}`),
    `the resources' watch is named as /healthz names it: ${JSON.stringify(watches.map((s) => s.labels))}`,
  );
  assert.ok(
    watches.every((s) => s.value === 0),
    "no watch is stalled",
  );

  await deleteResource(ns, "denied");
  const gone = await eventually("the deleted resource's Ready series to go away", async () => {
    const e = await metrics(op);
    return readiness(e, "denied").length === 0 ? e : undefined;
  });
  assert.equal(readiness(gone, "good").length, 1, "the other resource keeps its series");
});

test("a standby is ready and reports leader 0 while the leader reports 1", async (t) => {
  const ns = await freshNamespace(t);
  const election = [
    "--leader-elect",
    "--leader-election-namespace",
    ns,
    "--leader-election-id",
    `endpoints-${ns}`,
  ];
  const leader = await startOperator(t, {
    namespaces: [ns],
    endpoints: true,
    args: [...election, "--instance", "a"],
  });
  const standby = await startOperator(t, {
    namespaces: [ns],
    endpoints: true,
    args: [...election, "--instance", "b"],
    waitFor: "caches synced",
  });

  const readyz = await get(`${standby.healthUrl}/readyz`);
  assert.equal(
    readyz.status,
    200,
    "a standby with synced caches is ready, so a rollout does not wait for it",
  );
  assert.equal((await get(`${standby.healthUrl}/healthz`)).status, 200);
  assert.deepEqual(values(await metrics(leader), "aws_assume_role_leader"), [1]);
  assert.deepEqual(values(await metrics(standby), "aws_assume_role_leader"), [0]);
  assert.ok(!standby.output().includes("became leader"), "the standby did not lead meanwhile");
});
