// Fault: kube-apiserver restarts after etcd was compacted past every resourceVersion the operator has seen, so
// its watches cannot resume (410 Gone: the new apiserver's watch cache starts at the current revision and etcd no
// longer has the older ones) and it must relist. Right after the restart a managed Secret is deleted and a new
// resource created: the operator only notices both through working watches. Runs last: the restart and the
// compaction disturb everything else using the test world at that moment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { Watch } from "@kubernetes/client-node";
import { ROOT, world } from "../support/world.ts";
import { createResource } from "../support/operator.ts";
import {
  RESOURCES,
  assertInvariants,
  createFleet,
  fleet,
  operator,
  report,
  setUp,
  soak,
  specOf,
} from "./scenario.ts";

const run = promisify(execFile);
// The refresh margin (at least 17 s) outlasts the restart and the informers' reconnect backoff.
const LIFETIME_SECONDS = 60;

test("kube-apiserver restart after an etcd compaction: watches get 410 Gone, the operator relists and misses nothing", async (t) => {
  const sc = await setUp(t, LIFETIME_SECONDS);
  const op = await operator(t, sc, "operator");
  const members = fleet(RESOURCES);
  await createFleet(sc.namespace, members);
  await sc.checker.waitRecovered(Date.now(), 60_000);
  const w = await world();

  // A resourceVersion the operator has already seen, then a write so the current revision is past it.
  const seen = (await w.core.listNamespacedSecret({ namespace: sc.namespace })).metadata!.resourceVersion!;
  await w.core.createNamespacedConfigMap({
    namespace: sc.namespace,
    body: { metadata: { name: "faults-revision-marker" }, data: { at: new Date().toISOString() } },
  });
  const compacted = await compactEtcd(w.env.TESTENV_ETCD_URL!);

  const down = Date.now();
  await run(join(ROOT, "scripts", "testenv"), ["restart-apiserver"], { cwd: ROOT, timeout: 120_000 });
  const up = Date.now();

  // The scenario's premise: a watch from a resourceVersion seen before is now refused with 410 Gone.
  const gone = await watchStatus(sc.namespace, seen);
  assert.equal(
    gone,
    410,
    `a watch from resourceVersion ${seen} gets 410 Gone after the compaction at ${compacted}`,
  );

  // Changes the operator can only learn about through its watches.
  const victim = members.find((m) => m.secretType === "Map")!;
  await w.core.deleteNamespacedSecret({ namespace: sc.namespace, name: victim.secretName });
  const late = { name: "late", secretName: "late-aws", secretType: "File" as const };
  await createResource(sc.namespace, late.name, specOf(late));

  const recoveryMs = await sc.checker.waitRecovered(up, 120_000);
  await soak(sc, up);
  const summary = await sc.checker.stop();
  assert.equal(op.child.exitCode, null, "the operator survived the restart");
  const logs = op.logs();
  const count = (msg: string) => logs.filter((l) => l.msg === msg).length;
  report({
    title: "kube-apiserver restarted after an etcd compaction (watches get 410 Gone)",
    scenario: sc,
    summary,
    recoveryMs,
    extra: [
      ["kube-apiserver restart (stop → ready)", `${((up - down) / 1000).toFixed(1)} s`],
      ["etcd compacted at revision", String(compacted)],
      [`a watch from the operator's old resourceVersion ${seen}`, `HTTP ${gone}`],
      ["operator watch restarts (connection lost → full relist)", String(count("watch failed; restarting"))],
      ["deleted Secret restored, new resource Ready", "yes (part of recovery)"],
    ],
  });
  assertInvariants(summary);
});

/** Compacts etcd at its current revision through the gRPC-gateway (no etcdctl); returns that revision. */
async function compactEtcd(etcdUrl: string): Promise<number> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${etcdUrl}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    assert.ok(res.ok, `etcd ${path}: HTTP ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as { header?: { revision?: string } };
  };
  const revision = (await post("/v3/kv/range", { key: "AA==" })).header?.revision;
  assert.ok(revision, "etcd reported its revision");
  await post("/v3/kv/compaction", { revision, physical: true });
  return Number(revision);
}

/** Opens a watch on the namespace's Secrets from `resourceVersion`: 200 if it streams, else the 410 it got. */
async function watchStatus(namespace: string, resourceVersion: string): Promise<number> {
  const w = await world();
  return new Promise<number>((resolve, reject) => {
    let controller: AbortController | undefined;
    const timer = setTimeout(() => {
      controller?.abort();
      resolve(200);
    }, 10_000);
    const finish = (status: number) => {
      clearTimeout(timer);
      controller?.abort();
      resolve(status);
    };
    new Watch(w.kubeConfig)
      .watch(
        `/api/v1/namespaces/${namespace}/secrets`,
        { resourceVersion },
        (type, obj: { code?: number }) => {
          if (type === "ERROR") finish(obj.code ?? 0);
        },
        (err: unknown) => {
          const status = (err as { statusCode?: number } | null)?.statusCode;
          if (status !== undefined) finish(status);
        },
      )
      .then((c) => (controller = c), reject);
  });
}
