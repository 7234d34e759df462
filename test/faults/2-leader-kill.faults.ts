// Fault: two replicas with --leader-elect; the leader is SIGKILLed again and again (its Lease is not released, so
// the standby must wait it out) and a replacement replica with a new name joins each time, as a Deployment would
// start a new pod. Each replica talks to AWS through its own proxy, so the records show that only the leader of
// the moment ever called AWS. Credentials live long enough to outlast a failover (Lease 15 s + retry period).
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { eventually, world } from "../support/world.ts";
import type { RunningOperator } from "../support/operator.ts";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import { sleep } from "./checker.ts";
import {
  CI,
  RESOURCES,
  assertInvariants,
  createFleet,
  fleet,
  newProxy,
  operator,
  randomBetween,
  report,
  setUp,
  soak,
} from "./scenario.ts";
import type { Scenario } from "./scenario.ts";
import type { TestContext } from "../support/world.ts";

// Refreshing at half the lifetime leaves a margin of 0.45 × 60 = 27 s, more than a failover after a kill -9
// (the 15 s Lease, up to two 2 s retry periods, and the first reconciles).
const LIFETIME_SECONDS = 60;
const REFRESH_RATIO = "0.5";
const KILLS = CI ? 2 : 4;
const LEASE = "faults-leader";

interface Replica {
  id: string;
  op: RunningOperator;
  proxy: AwsProxy;
  killedAt?: number;
}

test(`leader SIGKILLed ${KILLS}× with two replicas: the standby takes over, nothing expires, only the leader calls AWS`, async (t) => {
  const sc = await setUp(t, LIFETIME_SECONDS);
  const replicas: Replica[] = [];
  const w = await world();
  const leases = w.kubeConfig.makeApiClient(CoordinationV1Api);
  const holder = async () =>
    (await leases.readNamespacedLease({ namespace: sc.namespace, name: LEASE })).spec?.holderIdentity;

  // The first replica has no one to wait for: it leads at once.
  replicas.push(await replica(t, sc, "replica-0", "workers started", sc.proxy));
  replicas.push(await replica(t, sc, "replica-1", "caches synced"));
  assert.equal(await holder(), "replica-0");
  await createFleet(sc.namespace, fleet(RESOURCES));
  await sc.checker.waitRecovered(Date.now(), 60_000);

  const failovers: number[] = [];
  let lastKill = 0;
  let lastTakeover = 0;
  for (let i = 0; i < KILLS; i++) {
    await sleep(randomBetween(1_000, 8_000));
    const leaderId = await holder();
    const leader = replicas.find((r) => r.id === leaderId && r.killedAt === undefined);
    assert.ok(leader, `the Lease holder ${leaderId} is a live replica`);
    await leader.op.kill();
    leader.killedAt = lastKill = Date.now();
    replicas.push(await replica(t, sc, `replica-${replicas.length}`, "caches synced"));
    const next = await eventually(
      `a standby to take over from ${leader.id}`,
      async () => {
        const id = await holder();
        const r = replicas.find((c) => c.id === id && c.killedAt === undefined);
        return r && r.op.output().includes('"became leader"') ? r : undefined;
      },
      60_000,
      200,
    );
    lastTakeover = Date.now();
    failovers.push(lastTakeover - leader.killedAt);
    t.diagnostic(`kill ${i + 1}: ${leader.id} → ${next.id} in ${failovers.at(-1)} ms`);
  }

  // The fault ends when a new leader works; the failover itself is reported above.
  const recoveryMs = await sc.checker.waitRecovered(lastTakeover, 90_000);
  await soak(sc, lastKill);
  const summary = await sc.checker.stop();

  // Only the leader of the moment calls AWS: every replica's calls fall between it becoming leader and its death.
  const outside: string[] = [];
  for (const r of replicas) {
    const became = r.op.logs().find((l) => l.msg === "became leader");
    const from = became ? Date.parse(String(became.time)) : Infinity;
    const until = r.killedAt ?? Infinity;
    for (const rec of r.proxy.records()) {
      const at = Date.parse(rec.time);
      if (at < from || at > until) outside.push(`${r.id}: ${rec.action} at ${rec.time}`);
    }
  }

  report({
    title: `leader SIGKILLed ${KILLS}× (two replicas, --leader-elect, refresh ratio ${REFRESH_RATIO})`,
    scenario: sc,
    summary,
    recoveryMs,
    extra: [
      [
        "failover per kill (kill → new leader)",
        failovers.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", "),
      ],
      ["replicas started", String(replicas.length)],
      ["AWS calls outside the caller's leadership", String(outside.length)],
    ],
  });
  assertInvariants(summary);
  assert.deepEqual(outside, [], "a replica calls AWS only while it leads");
});

async function replica(
  t: TestContext,
  sc: Scenario,
  id: string,
  waitFor: string,
  proxy?: AwsProxy,
): Promise<Replica> {
  const own = proxy ?? (await newProxy(t, sc.lifetimeSeconds));
  if (own !== sc.proxy) sc.checker.addProxy(own);
  const op = await operator(t, sc, id, {
    awsEndpoint: own.url,
    waitFor,
    args: [
      "--leader-elect",
      "--leader-election-namespace",
      sc.namespace,
      "--leader-election-id",
      LEASE,
      "--instance",
      id,
      "--refresh-ratio",
      REFRESH_RATIO,
    ],
  });
  return { id, op, proxy: own };
}
