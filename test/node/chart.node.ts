// The chart for real: installed by helm as the README says (release and namespace `aws-assume-role`, the namespace
// enforcing the restricted Pod Security Standard) with the image built from the Dockerfile, its Pods run on the
// node. Both replicas become Ready through their probes, one holds the Lease, the PDB exists, the chart's memory
// limit applies to the container, and deleting the leader's Pod hands over to another replica while Secrets stay fresh.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { createResource, readSecret, waitForReady } from "../support/operator.ts";
import {
  chartValues,
  hasNode,
  installOperator,
  isReady,
  leaseHolder,
  NO_NODE,
  nodeWorld,
  OPERATOR_NAMESPACE,
  operatorPods,
  podReachableProxy,
  RELEASE,
  suiteContext,
} from "../support/node.ts";
import type { NodeWorld } from "../support/node.ts";
import { eventually, freshNamespace, kubectl } from "../support/world.ts";

const EXPIRATION = "aws-assume-role.pincette.net/expiration-time";
const LAST_REFRESH = "aws-assume-role.pincette.net/last-refresh-time";

/** A Kubernetes memory quantity in bytes (the suffixes charts use). */
function bytes(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  if (!m) throw new Error(`unsupported quantity ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
}

describe("the chart installed onto the node", { skip: hasNode() ? false : NO_NODE }, () => {
  const suite = suiteContext("chart on the node", after);
  let w: NodeWorld;
  let ns: string;

  before(async () => {
    const found = await nodeWorld();
    if (!found) throw new Error(NO_NODE);
    w = found;
    // Short-lived credentials, so refreshes happen while the leader changes.
    const proxy = await podReachableProxy(suite, w);
    proxy.setLifetime({ stsSeconds: 20 });
    await installOperator(suite, w, proxy.url);
    ns = await freshNamespace(suite);
  });

  test("both replicas become Ready through their probes, admitted by the restricted Pod Security Standard", async () => {
    const labels = (await w.core.readNamespace({ name: OPERATOR_NAMESPACE })).metadata?.labels ?? {};
    assert.equal(labels["pod-security.kubernetes.io/enforce"], "restricted");
    const values = await chartValues();
    const pods = await eventually("two Ready operator Pods", async () => {
      const p = await operatorPods(w);
      return p.length === values.replicaCount && p.every(isReady) ? p : undefined;
    });
    for (const pod of pods) {
      const container = pod.spec!.containers[0]!;
      assert.equal(container.readinessProbe?.httpGet?.path, "/readyz");
      assert.equal(container.livenessProbe?.httpGet?.path, "/healthz");
      assert.equal(pod.spec!.nodeName, w.nodeName);
    }
  });

  test("one replica holds the Lease and the PodDisruptionBudget exists", async () => {
    const pods = (await operatorPods(w)).map((p) => p.metadata!.name!);
    const holder = await eventually("a Lease holder", async () => (await leaseHolder(w)) || undefined);
    assert.ok(pods.includes(holder), `the Lease holder ${holder} is one of ${pods.join(", ")}`);
    const policy = w.kubeConfig.makeApiClient(k8s.PolicyV1Api);
    const pdb = await policy.readNamespacedPodDisruptionBudget({
      name: RELEASE,
      namespace: OPERATOR_NAMESPACE,
    });
    assert.equal(pdb.spec?.minAvailable, 1);
  });

  test("the container runs as uid 65532 on a read-only root file system within the chart's memory limit", async () => {
    const values = (await chartValues()) as { resources: { limits: { memory: string } } };
    const limit = values.resources.limits.memory;
    const pod = (await operatorPods(w))[0]!;
    const name = pod.metadata!.name!;
    assert.equal(pod.spec!.containers[0]!.resources?.limits?.memory, limit);
    // The image has no shell and no coreutils: node itself reads and writes inside the container.
    const node = (script: string, ...args: string[]) =>
      kubectl(["exec", "-n", OPERATOR_NAMESPACE, name, "--", "node", "-e", script, ...args]);
    const read = (path: string) =>
      node('process.stdout.write(require("fs").readFileSync(process.argv[1], "utf8"))', path);
    // cgroups v1 on this host: the container's memory cgroup is mounted at /sys/fs/cgroup/memory.
    const cgroupLimit = Number((await read("/sys/fs/cgroup/memory/memory.limit_in_bytes")).trim());
    assert.equal(cgroupLimit, bytes(limit), "the kernel enforces the chart's memory limit on the container");
    assert.match(await read("/proc/1/status"), /^Uid:\s+65532\s/m);
    await assert.rejects(node('require("fs").writeFileSync("/app/written", "")'), /read-only file system/i);
  });

  test("deleting the leader's Pod hands over to another replica within seconds, and Secrets stay fresh", async (t) => {
    await createResource(ns, "failover", {
      roleName: "node-failover-role",
      secretName: "failover",
      secretType: "Map",
    });
    await waitForReady(ns, "failover", "True", undefined, 60_000);
    const leader = await eventually("a Lease holder", async () => (await leaseHolder(w)) || undefined);
    const standby = (await operatorPods(w)).map((p) => p.metadata!.name!).find((n) => n !== leader);
    assert.ok(standby, "a standby exists");

    const expired: string[] = [];
    const checkFresh = async () => {
      const secret = await readSecret(ns, "failover");
      const expiration = Date.parse(secret?.metadata?.annotations?.[EXPIRATION] ?? "");
      if (!(expiration > Date.now())) expired.push(`${new Date().toISOString()}: expiration ${expiration}`);
      return secret;
    };
    const deletedAt = Date.now();
    await w.core.deleteNamespacedPod({ name: leader, namespace: OPERATOR_NAMESPACE });
    // The standby usually wins; the Deployment's replacement for the deleted Pod may win the race instead (its
    // start and the standby's retry period are close on this 2-core node). Either is a hand-over.
    const holder = await eventually(
      "another replica taking the Lease",
      async () => {
        await checkFresh();
        const h = await leaseHolder(w);
        return h && h !== leader ? h : undefined;
      },
      60_000,
      100,
    );
    const handoverMs = Date.now() - deletedAt;
    t.diagnostic(
      `leader ${leader} deleted; ${holder} (${holder === standby ? "the standby" : "the replacement"}) holds the Lease after ${handoverMs} ms`,
    );
    // The new leader refreshes the Secret before it expires (20 s credentials), and it never expires meanwhile.
    const refreshedBefore = (await checkFresh())?.metadata?.annotations?.[LAST_REFRESH];
    await eventually(
      "a refresh by the new leader",
      async () => {
        const secret = await checkFresh();
        const refreshed = secret?.metadata?.annotations?.[LAST_REFRESH];
        return refreshed !== refreshedBefore && Date.parse(refreshed ?? "") > deletedAt ? true : undefined;
      },
      60_000,
      200,
    );
    assert.deepEqual(expired, [], "the Secret never held expired credentials");
  });
});
