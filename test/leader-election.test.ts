// Leader election against the real test world: two operator processes share a Lease; only the holder works, a
// killed leader is replaced once its lease expires, a SIGTERMed leader hands the Lease over, and shutdown is bounded
// even while reconciles are in flight. Each replica talks to AWS through its own proxy, so the proxy records tell
// which replica made a call.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoordinationV1Api } from "@kubernetes/client-node";
import type { V1LeaseSpec } from "@kubernetes/client-node";
import { pino } from "pino";
import { eventually, freshNamespace, privateProxy, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";
import { createResource, mapSpec, secretData, startOperator, waitForReady } from "./support/operator.ts";
import type { RunningOperator } from "./support/operator.ts";
import { LeaderElector } from "../src/runtime/leader.ts";

const LEASE = "aws-assume-role-test";

async function lease(namespace: string): Promise<V1LeaseSpec> {
  const w = await world();
  const api = w.kubeConfig.makeApiClient(CoordinationV1Api);
  return (await api.readNamespacedLease({ namespace, name: LEASE })).spec ?? {};
}

/** A Lease timestamp (MicroTime, a Date once deserialised) in epoch ms. */
function epochMs(time: Date | string | undefined): number {
  assert.ok(time, "the Lease has the timestamp");
  return new Date(time).getTime();
}

/** Log lines of one operator with the given message. */
function logged(op: RunningOperator, msg: string): Record<string, unknown>[] {
  return op.logs().filter((l) => l.msg === msg);
}

/**
 * Waits until `op` logged `msg` at least `count` times. A log line can reach us after the write it follows (we read
 * the API server and the process's pipe independently), so log assertions after a state change wait for it.
 */
async function waitForLog(op: RunningOperator, msg: string, count: number): Promise<void> {
  await eventually(`${count} "${msg}" log line(s)`, () =>
    logged(op, msg).length >= count ? true : undefined,
  );
}

/** Replica "a" (started first, so it leads) and replica "b" (the standby), each behind its own AWS proxy. */
async function twoReplicas(t: TestContext, ns: string) {
  const proxies = { a: await privateProxy(t), b: await privateProxy(t) };
  const args = (instance: string) => [
    "--leader-elect",
    "--leader-election-namespace",
    ns,
    "--leader-election-id",
    LEASE,
    "--instance",
    instance,
  ];
  const a = await startOperator(t, { namespaces: [ns], awsEndpoint: proxies.a.url, args: args("a") });
  const b = await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxies.b.url,
    args: args("b"),
    waitFor: "caches synced",
  });
  return { a, b, proxies };
}

/** Resolves with the exit code, or fails with `what` when the process is still running after `ms`. */
async function exitsWithin(op: RunningOperator, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([op.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test("only the Lease holder reconciles: the standby makes no AWS call and writes no Secret", async (t) => {
  const ns = await freshNamespace(t);
  const { a, b, proxies } = await twoReplicas(t, ns);
  assert.equal((await lease(ns)).holderIdentity, "a");

  const names = ["one", "two", "three"];
  for (const name of names) await createResource(ns, name, mapSpec(`${name}-aws`));
  for (const name of names) await waitForReady(ns, name);

  assert.equal(
    proxies.a.records({ action: "AssumeRole" }).length,
    names.length,
    "the leader assumed each role once",
  );
  assert.deepEqual(proxies.b.records(), [], "the standby made no AWS request at all");
  await waitForLog(a, "secret created", names.length);
  assert.deepEqual(
    logged(a, "secret created")
      .map((l) => l.name)
      .sort(),
    [...names].sort(),
  );
  assert.deepEqual(logged(b, "secret created"), [], "the standby wrote no Secret");
  assert.deepEqual(logged(b, "became leader"), []);
  for (const name of names) {
    const keys = proxies.a.records({ action: "AssumeRole" }).map((r) => r.issued?.accessKeyId);
    assert.ok(
      keys.includes((await secretData(ns, `${name}-aws`))?.awsAccessKeyId),
      `${name}'s keys came from a`,
    );
  }
  assert.equal((await lease(ns)).holderIdentity, "a", "the leader kept the Lease");
});

test("when the leader is killed, the standby takes the Lease after it expires and refreshes the due Secret", async (t) => {
  const ns = await freshNamespace(t);
  const { a, b, proxies } = await twoReplicas(t, ns);
  proxies.a.setLifetime({ stsSeconds: 20 });
  proxies.b.setLifetime({ stsSeconds: 20 });
  await createResource(ns, "app", mapSpec("app-aws"));
  await waitForReady(ns, "app");
  const first = (await secretData(ns, "app-aws"))?.awsAccessKeyId;
  const before = await lease(ns);
  assert.equal(before.holderIdentity, "a");

  await a.kill();
  // Nobody released the Lease: b must wait out its 15 s duration (plus a retry period) before taking it.
  const after = await eventually(
    "b to take the Lease of the killed leader",
    async () => {
      const spec = await lease(ns);
      return spec.holderIdentity === "b" ? spec : undefined;
    },
    40_000,
    500,
  );
  assert.equal(after.leaseTransitions, (before.leaseTransitions ?? 0) + 1, "one leadership transition");
  // Safety, from the Lease's own timestamps: b did not take a lease that a could still have been renewing.
  const heldFor = epochMs(after.acquireTime) - epochMs(before.renewTime);
  assert.ok(
    heldFor >= 15_000,
    `b took over ${heldFor} ms after a's last renewal we saw, before the lease expired`,
  );
  await waitForLog(b, "became leader", 1);

  const issuedByB = await eventually(
    "the new leader to refresh the Secret with credentials it assumed",
    async () => {
      const current = (await secretData(ns, "app-aws"))?.awsAccessKeyId;
      const mine = proxies.b.records({ action: "AssumeRole" }).map((r) => r.issued?.accessKeyId);
      return current && current !== first && mine.includes(current) ? current : undefined;
    },
    30_000,
  );
  assert.ok(issuedByB);
  await waitForLog(b, "secret refreshed", 1);
  await waitForReady(ns, "app");
});

test("a SIGTERMed leader exits 0 and releases the Lease, and the standby takes over", async (t) => {
  const ns = await freshNamespace(t);
  const { a, b, proxies } = await twoReplicas(t, ns);
  await createResource(ns, "before", mapSpec("before-aws"));
  await waitForReady(ns, "before");
  const before = await lease(ns);
  assert.equal(before.holderIdentity, "a");

  a.child.kill("SIGTERM");
  assert.equal(await exitsWithin(a, 15_000, "the SIGTERMed leader"), 0, "a clean exit");
  assert.equal(logged(a, "released leadership").length, 1, "the leader said it released the Lease");
  // Right after the exit the Lease is free or already b's; without the release it would still name a.
  const released = await lease(ns);
  assert.ok(
    released.holderIdentity === "" || released.holderIdentity === "b",
    `the Lease is released (holder ${JSON.stringify(released.holderIdentity)})`,
  );

  const taken = await eventually(
    "b to take the released Lease",
    async () => {
      const spec = await lease(ns);
      return spec.holderIdentity === "b" ? spec : undefined;
    },
    20_000,
    200,
  );
  assert.ok((taken.leaseTransitions ?? 0) > (before.leaseTransitions ?? 0), "the transition was counted");

  // The new leader works: a resource created now gets its Secret from b.
  await createResource(ns, "after", mapSpec("after-aws"));
  await waitForReady(ns, "after");
  await waitForLog(b, "secret created", 1);
  assert.deepEqual(
    logged(b, "secret created").map((l) => l.name),
    ["after"],
    "b created the new resource's Secret and left the existing one alone",
  );
  assert.equal(proxies.b.records({ action: "AssumeRole" }).length, 1);
});

test("a SIGTERMed leader waits for in-flight reconciles to finish, then exits 0", async (t) => {
  const ns = await freshNamespace(t);
  const { a, proxies } = await twoReplicas(t, ns);
  proxies.a.setFaults([{ action: "AssumeRole", kind: "latency", latencyMs: 3_000 }]);
  const names = ["one", "two", "three", "four"];
  for (const name of names) await createResource(ns, name, mapSpec(`${name}-aws`));
  await eventually("every reconcile to be waiting on AssumeRole", () =>
    logged(a, "refreshing credentials").length >= names.length ? true : undefined,
  );

  a.child.kill("SIGTERM");
  assert.equal(await exitsWithin(a, 15_000, "the SIGTERMed leader"), 0);
  for (const name of names) {
    assert.ok(
      (await secretData(ns, `${name}-aws`))?.awsAccessKeyId,
      `the in-flight reconcile of ${name} finished`,
    );
  }
  assert.equal(logged(a, "secret created").length, names.length);
  assert.equal(logged(a, "released leadership").length, 1);
});

test("a SIGTERMed leader whose reconciles hang on AWS still exits within the shutdown limit", async (t) => {
  const ns = await freshNamespace(t);
  const { a, proxies } = await twoReplicas(t, ns);
  // Longer than the operator's 9 s shutdown limit, short enough not to keep the proxy's timer (and this test
  // process) alive for long afterwards.
  proxies.a.setFaults([{ action: "AssumeRole", kind: "latency", latencyMs: 20_000 }]);
  await createResource(ns, "stuck", mapSpec("stuck-aws"));
  await eventually("the reconcile to be waiting on AssumeRole", () =>
    logged(a, "refreshing credentials").length === 1 ? true : undefined,
  );

  a.child.kill("SIGTERM");
  const code = await exitsWithin(a, 15_000, "the SIGTERMed leader with a hanging reconcile");
  assert.equal(code, 1, "a shutdown that abandons work is not a clean exit");
  assert.equal(logged(a, "in-flight work did not finish in time; exiting").length, 1);
  assert.equal(await secretData(ns, "stuck-aws"), undefined);
});

test("release hands the Lease back even when it meets a renewal in flight", async (t) => {
  // In process against the real API server, renewing every millisecond so that release() nearly always meets a
  // renewal in flight; before the fix about half of the releases failed with a conflict or were undone.
  const ns = await freshNamespace(t);
  const w = await world();
  const api = w.kubeConfig.makeApiClient(CoordinationV1Api);
  const kept: string[] = [];
  for (let i = 0; i < 20; i++) {
    const name = `release-${i}`;
    const elector = new LeaderElector({
      client: w.client,
      namespace: ns,
      name,
      identity: "solo",
      logger: pino({ level: "silent" }),
      retryPeriodMs: 1,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => assert.fail("leadership lost"),
    });
    elector.start();
    await eventually(`the elector to lead ${name}`, () => (elector.isLeader() ? true : undefined));
    await new Promise((r) => setTimeout(r, i)); // release at different points of the renew cycle
    await elector.release();
    const holder = (await api.readNamespacedLease({ namespace: ns, name })).spec?.holderIdentity;
    if (holder !== "") kept.push(`${name}: ${JSON.stringify(holder)}`);
  }
  assert.deepEqual(kept, [], "every released Lease has no holder");
});
