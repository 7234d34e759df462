// The operator's HTTP endpoints against the real test world: the health probes answer, /metrics is Prometheus text
// with the series an SRE alerts on, a standby is ready but not leading, and a deleted resource's series goes away.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, freshNamespace, privateProxy, world } from "./support/world.ts";
import { createResource, startOperator, waitForReady } from "./support/operator.ts";
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
  for (const [family, type] of [
    ["aws_assume_role_refreshes_total", "counter"],
    ["aws_assume_role_aws_request_duration_seconds", "histogram"],
    ["aws_assume_role_credentials_expiration_timestamp_seconds", "gauge"],
    ["aws_assume_role_workqueue_depth", "gauge"],
    ["aws_assume_role_workqueue_adds_total", "counter"],
    ["aws_assume_role_workqueue_retries_total", "counter"],
    ["aws_assume_role_reconcile_duration_seconds", "histogram"],
    ["aws_assume_role_leader", "gauge"],
    ["aws_assume_role_resources", "gauge"],
    ["process_resident_memory_bytes", "gauge"],
  ] as const) {
    assert.equal(before.types.get(family), type, `# TYPE ${family} ${type}`);
  }
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

  const w = await world();
  await w.custom.deleteNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace: ns,
    name: "app",
  });
  await eventually("the expiration series to go away after the resource is deleted", async () => {
    const e = await metrics(op);
    const left = values(e, "aws_assume_role_credentials_expiration_timestamp_seconds", {
      namespace: ns,
      name: "app",
    });
    return left.length === 0 ? true : undefined;
  });
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
