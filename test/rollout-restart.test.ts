// rolloutRestart against the real test world's control plane (no node needed: a restart is a Pod-template
// annotation, visible in the API): consumers are restarted once per new credential set and only after the new
// Secret is written, an operator restart restarts nothing, Env excludes volume mounts and All includes them, named
// targets are restarted and a missing one is reported, consumers: None restarts nothing, and ten consumers are
// restarted one after another, never two in the same second.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import type { ClusterAWSAssumeRole } from "../src/api/cluster-schema.ts";
import { FORCE_REFRESH_ANNOTATION, SecretAnnotation } from "../src/domain/plan.ts";
import {
  RESTARTED_AT_ANNOTATION,
  RESTARTED_FOR_ANNOTATION,
  parseRestartedFor,
} from "../src/domain/rollout-restart.ts";
import { clusterOperatorLock } from "./support/cluster-lock.ts";
import { eventually, freshNamespace, kubectl, staysTheSame, world } from "./support/world.ts";
import { installChart } from "./support/chart.ts";
import {
  FAST_RETRY,
  createClusterResource,
  createResource,
  events,
  forceRefresh,
  getResource,
  mapSpec,
  readSecret,
  startOperator,
  waitForReady,
} from "./support/operator.ts";

const ARGS = [...FAST_RETRY, "--rollout-restart", "--rollout-restart-spacing-ms", "1000"];

interface Reads {
  env?: string;
  envFrom?: string;
  volume?: string;
  projected?: string;
}

async function apps(): Promise<k8s.AppsV1Api> {
  return (await world()).kubeConfig.makeApiClient(k8s.AppsV1Api);
}

function podTemplate(name: string, reads: Reads): k8s.V1PodTemplateSpec {
  const container: k8s.V1Container = { name: "app", image: "registry.invalid/consumer:1" };
  if (reads.env) {
    container.env = [
      { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: reads.env, key: "awsAccessKeyId" } } },
    ];
  }
  if (reads.envFrom) container.envFrom = [{ secretRef: { name: reads.envFrom } }];
  const volumes: k8s.V1Volume[] = [];
  if (reads.volume) volumes.push({ name: "aws", secret: { secretName: reads.volume } });
  if (reads.projected) {
    volumes.push({ name: "aws-projected", projected: { sources: [{ secret: { name: reads.projected } }] } });
  }
  return { metadata: { labels: { app: name } }, spec: { containers: [container], volumes } };
}

async function createDeployment(namespace: string, name: string, reads: Reads): Promise<void> {
  await (
    await apps()
  ).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name },
      spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: podTemplate(name, reads) },
    },
  });
}

async function createStatefulSet(namespace: string, name: string, reads: Reads): Promise<void> {
  await (
    await apps()
  ).createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name },
      spec: {
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: podTemplate(name, reads),
      },
    },
  });
}

async function deployment(namespace: string, name: string): Promise<k8s.V1Deployment> {
  return (await apps()).readNamespacedDeployment({ namespace, name });
}

const templateAnnotations = (w: { spec?: { template?: k8s.V1PodTemplateSpec } }) =>
  w.spec?.template?.metadata?.annotations ?? {};

/** The current data fingerprint of a Secret (its data-hash annotation). */
async function fingerprint(namespace: string, secretName: string): Promise<string> {
  const s = await readSecret(namespace, secretName);
  const hash = s?.metadata?.annotations?.[SecretAnnotation.dataHash];
  assert.ok(hash, `Secret ${secretName} has a data-hash annotation`);
  return hash;
}

/** Waits until the Deployment's Pod template records the Secret's current fingerprint; returns the Deployment. */
async function restartedFor(namespace: string, name: string, secretName: string): Promise<k8s.V1Deployment> {
  const hash = await fingerprint(namespace, secretName);
  return eventually(`Deployment ${name} restarted for ${secretName}=${hash}`, async () => {
    const d = await deployment(namespace, name);
    const recorded = parseRestartedFor(templateAnnotations(d)[RESTARTED_FOR_ANNOTATION]).get(secretName);
    return recorded === hash ? d : undefined;
  });
}

/**
 * Waits until the clock is past the second in which the resource's Secret was written: creationTimestamp has whole
 * seconds, so only a workload created in a later second is known to have started with the current credentials.
 */
async function pastWriteSecond(namespace: string, secretName: string): Promise<void> {
  const s = await readSecret(namespace, secretName);
  const writtenAt = Date.parse(s!.metadata!.annotations![SecretAnnotation.lastRefreshTime]!);
  const next = Math.floor(writtenAt / 1000) * 1000 + 1000;
  await eventually("the next second", () => (Date.now() >= next ? true : undefined), 2000, 20);
}

/** Forces a refresh and waits until the Secret holds a new credential set. */
async function refresh(namespace: string, name: string, secretName: string, value: string): Promise<string> {
  const before = await fingerprint(namespace, secretName);
  await forceRefresh(namespace, name, value);
  return eventually(`new credentials in ${secretName}`, async () => {
    const now = await fingerprint(namespace, secretName);
    return now !== before ? now : undefined;
  });
}

test("Env consumers are restarted once per new credential set, after the Secret is written; an operator restart restarts nothing", async (t) => {
  const ns = await freshNamespace(t);
  let operator = await startOperator(t, { namespaces: [ns], args: ARGS });
  await createResource(ns, "app", { ...mapSpec("app-aws"), rolloutRestart: { consumers: "Env" } });
  await createResource(ns, "quiet", { ...mapSpec("quiet-aws"), rolloutRestart: { consumers: "None" } });
  await waitForReady(ns, "app");
  await waitForReady(ns, "quiet");
  await pastWriteSecond(ns, "app-aws");
  // Created after the current credentials were written: their Pods read them, nothing to restart yet.
  await createDeployment(ns, "env-reader", { env: "app-aws" });
  await createDeployment(ns, "envfrom-reader", { envFrom: "app-aws" });
  await createDeployment(ns, "volume-reader", { volume: "app-aws" });
  await createDeployment(ns, "quiet-reader", { env: "quiet-aws" });

  for (const round of [1, 2]) {
    await refresh(ns, "quiet", "quiet-aws", String(round));
    await refresh(ns, "app", "app-aws", String(round));
    const secret = await readSecret(ns, "app-aws");
    const writtenAt = Date.parse(secret!.metadata!.annotations![SecretAnnotation.lastRefreshTime]!);
    for (const name of ["env-reader", "envfrom-reader"]) {
      const d = await restartedFor(ns, name, "app-aws");
      // One template change per credential set: generation 1 at creation, +1 per refresh.
      assert.equal(d.metadata?.generation, 1 + round, `${name} was restarted once per credential set`);
      const restartedAt = Date.parse(templateAnnotations(d)[RESTARTED_AT_ANNOTATION]!);
      assert.ok(
        restartedAt >= Math.floor(writtenAt / 1000) * 1000,
        `${name} was restarted at ${new Date(restartedAt).toISOString()}, before the Secret was written`,
      );
    }
  }
  for (const name of ["volume-reader", "quiet-reader"]) {
    const d = await deployment(ns, name);
    assert.equal(d.metadata?.generation, 1, `${name} was never restarted`);
    assert.equal(templateAnnotations(d)[RESTARTED_AT_ANNOTATION], undefined);
  }

  const status = await eventually("status.rolloutRestart with both restarts", async () => {
    const s = (await getResource(ns, "app")).status?.rolloutRestart;
    return s?.restarts?.length === 2 &&
      s.conditions?.find((c) => c.type === "WorkloadsRestarted")?.reason === "RestartsDone"
      ? s
      : undefined;
  });
  assert.deepEqual(status.restarts!.map((r) => `${r.kind}/${r.name}/${r.outcome}`).sort(), [
    "Deployment/env-reader/Restarted",
    "Deployment/envfrom-reader/Restarted",
  ]);
  const restartedEvents = (await events(ns)).filter((e) => e.reason === "Restarted" && e.name === "app");
  assert.ok(restartedEvents.length >= 2, "a Restarted event on the resource per workload");

  // A new operator process (a restart, a failover) finds every workload up to date and restarts nothing.
  const generations = async () =>
    JSON.stringify(
      await Promise.all(
        ["env-reader", "envfrom-reader"].map(async (n) => (await deployment(ns, n)).metadata?.generation),
      ),
    );
  const before = await generations();
  assert.equal(await operator.stop(), 0);
  operator = await startOperator(t, { namespaces: [ns], args: ARGS });
  await staysTheSame(4000, async () => {
    const now = await generations();
    return now === before ? undefined : `a workload was restarted by the new operator: ${before} → ${now}`;
  });
  assert.ok(
    !operator.logs().some((l) => l.msg === "workload restarted"),
    "the new operator restarted no workload",
  );
});

test("All also restarts volume readers; named targets are restarted and a missing one is reported", async (t) => {
  const ns = await freshNamespace(t);
  await startOperator(t, { namespaces: [ns], args: ARGS });
  await createResource(ns, "app", {
    ...mapSpec("app-aws"),
    rolloutRestart: {
      consumers: "All",
      targets: [
        { kind: "Deployment", name: "named-only" },
        { kind: "StatefulSet", name: "does-not-exist" },
      ],
    },
  });
  await waitForReady(ns, "app");
  await pastWriteSecond(ns, "app-aws");
  await createDeployment(ns, "volume-reader", { volume: "app-aws" });
  await createDeployment(ns, "projected-reader", { projected: "app-aws" });
  await createDeployment(ns, "named-only", {});
  await createStatefulSet(ns, "env-set", { env: "app-aws" });
  await createDeployment(ns, "unrelated", { env: "other-secret" });

  await refresh(ns, "app", "app-aws", "1");
  for (const name of ["volume-reader", "projected-reader", "named-only"])
    await restartedFor(ns, name, "app-aws");
  const hash = await fingerprint(ns, "app-aws");
  await eventually("StatefulSet env-set restarted", async () => {
    const s = await (await apps()).readNamespacedStatefulSet({ namespace: ns, name: "env-set" });
    return parseRestartedFor(templateAnnotations(s)[RESTARTED_FOR_ANNOTATION]).get("app-aws") === hash
      ? s
      : undefined;
  });
  assert.equal((await deployment(ns, "unrelated")).metadata?.generation, 1, "a non-reader is left alone");

  const status = await eventually("the missing target in status", async () => {
    const s = (await getResource(ns, "app")).status?.rolloutRestart;
    return s?.restarts?.some((r) => r.name === "does-not-exist" && r.outcome === "NotFound") ? s : undefined;
  });
  const condition = status.conditions?.find((c) => c.type === "WorkloadsRestarted");
  assert.equal(condition?.status, "False");
  assert.equal(condition?.reason, "TargetNotFound");
  assert.match(condition!.message, /StatefulSet .*does-not-exist.*does not exist/);
  const warning = await eventually("a TargetNotFound event", async () =>
    (await events(ns)).find((e) => e.reason === "TargetNotFound" && e.name === "app"),
  );
  assert.equal(warning.type, "Warning");
});

test("ten consumers of one Secret are restarted one after another, at least a second apart", async (t) => {
  const ns = await freshNamespace(t);
  await startOperator(t, { namespaces: [ns], args: ARGS });
  await createResource(ns, "app", { ...mapSpec("app-aws"), rolloutRestart: { consumers: "Env" } });
  await waitForReady(ns, "app");
  await pastWriteSecond(ns, "app-aws");
  const names = Array.from({ length: 10 }, (_, i) => `reader-${i}`);
  for (const name of names) await createDeployment(ns, name, { env: "app-aws" });

  await refresh(ns, "app", "app-aws", "1");
  const times: number[] = [];
  for (const name of names) {
    const d = await restartedFor(ns, name, "app-aws");
    times.push(Date.parse(templateAnnotations(d)[RESTARTED_AT_ANNOTATION]!));
  }
  times.sort((a, b) => a - b);
  assert.equal(
    new Set(times).size,
    10,
    `ten distinct restart times: ${times.map((x) => new Date(x).toISOString())}`,
  );
  for (let i = 1; i < times.length; i++) {
    assert.ok(
      times[i]! - times[i - 1]! >= 1000,
      `restarts ${i - 1} and ${i} are ${times[i]! - times[i - 1]!} ms apart, less than the 1 s spacing`,
    );
  }
});

test("ClusterAWSAssumeRole: consumers are restarted in every selected namespace, listed per namespace in status", async (t) => {
  await clusterOperatorLock(t);
  const label = { "rollout-restart-test": randomBytes(3).toString("hex") };
  const namespaces = [await freshNamespace(t, label), await freshNamespace(t, label)];
  await startOperator(t, { namespaces, args: [...ARGS, "--cluster-assume-roles"] });
  const w = await world();
  const name = `restarts-${randomBytes(3).toString("hex")}`;
  await createClusterResource(t, name, {
    ...mapSpec("shared-aws"),
    namespaceSelector: { matchLabels: label },
    rolloutRestart: { consumers: "Env" },
  });
  for (const ns of namespaces) {
    await eventually(`the copy in ${ns}`, () => readSecret(ns, "shared-aws"));
    await pastWriteSecond(ns, "shared-aws");
    await createDeployment(ns, "reader", { envFrom: "shared-aws" });
  }
  const before = await fingerprint(namespaces[0]!, "shared-aws");
  await kubectl([
    "annotate",
    "--overwrite",
    "clusterawsassumeroles.pincette.net",
    name,
    `${FORCE_REFRESH_ANNOTATION}=1`,
  ]);
  for (const ns of namespaces) {
    await eventually(`new credentials in ${ns}`, async () =>
      (await fingerprint(ns, "shared-aws")) !== before ? true : undefined,
    );
    const d = await restartedFor(ns, "reader", "shared-aws");
    assert.equal(d.metadata?.generation, 2, `the reader in ${ns} was restarted once`);
  }
  const restarts = await eventually("both namespaces in status.rolloutRestart.restarts", async () => {
    const r = (await w.custom.getClusterCustomObject({
      group: "pincette.net",
      version: "v1",
      plural: "clusterawsassumeroles",
      name,
    })) as ClusterAWSAssumeRole;
    const list = r.status?.rolloutRestart?.restarts ?? [];
    return list.length === 2 ? list : undefined;
  });
  assert.deepEqual(restarts.map((r) => r.namespace).sort(), [...namespaces].sort());
});

test("as the chart's ServiceAccount: rolloutRestart.enabled grants what restarts need; without it credentials are still refreshed", async (t) => {
  const granted = await installChart(t, { "rolloutRestart.enabled": "true" });
  const ns = await freshNamespace(t);
  const operator = await startOperator(t, {
    namespaces: [ns],
    env: { KUBECONFIG: granted.kubeConfigFile },
    args: ARGS,
  });
  await createResource(ns, "app", { ...mapSpec("app-aws"), rolloutRestart: { consumers: "Env" } });
  await waitForReady(ns, "app");
  await pastWriteSecond(ns, "app-aws");
  await createDeployment(ns, "reader", { env: "app-aws" });
  await refresh(ns, "app", "app-aws", "1");
  await restartedFor(ns, "reader", "app-aws");
  assert.doesNotMatch(operator.output(), /forbidden/i, "no request of the operator was refused");
  await operator.stop();

  // The flag without the chart value: the workload caches cannot list, the credentials are served regardless.
  const denied = await installChart(t, {});
  const ns2 = await freshNamespace(t);
  const second = await startOperator(t, {
    namespaces: [ns2],
    env: { KUBECONFIG: denied.kubeConfigFile },
    args: ARGS,
  });
  await createResource(ns2, "app", { ...mapSpec("app-aws"), rolloutRestart: { consumers: "Env" } });
  await waitForReady(ns2, "app");
  await eventually("a warning that the Deployment cache cannot list", () =>
    second.logs().some((l) => l.msg === "list failed" && String(l.informer).startsWith("deployments@"))
      ? true
      : undefined,
  );
});
