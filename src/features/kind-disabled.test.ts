// The stand-in for a kind whose feature is off, through fakes: each resource is told once per generation
// (Ready=False, FeatureDisabled, one Warning event), a serving controller's report is never overwritten, a conflict
// is no failure, and workers run only on the leader.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { FakeEvents } from "../credentials/ports.fakes.ts";
import { FakeInformers } from "../runtime/informers.fakes.ts";
import type { FakeWatch } from "../runtime/informers.fakes.ts";
import { KindDisabled } from "./kind-disabled.ts";
import type { ReportedResource } from "./kind-disabled.ts";

interface Patch {
  namespace: string;
  name: string;
  resourceVersion: string | undefined;
  status: Record<string, unknown>;
}

function setup(options: {
  clusterScoped: boolean;
  overwrite?: boolean;
  fail?: (patch: Patch) => Error | undefined;
}) {
  const informers = new FakeInformers();
  const events = new FakeEvents();
  const patches: Patch[] = [];
  const standIn = new KindDisabled({
    kind: options.clusterScoped ? "ClusterAWSAssumeRole" : "AWSPodIdentityAssociation",
    apiVersion: "pincette.net/v1",
    flag: options.clusterScoped ? "--cluster-assume-roles" : "--pod-identity",
    chartValue: options.clusterScoped ? "clusterAssumeRoles.enabled" : "podIdentity.enabled",
    consequence: "nothing is served",
    clusterScoped: options.clusterScoped,
    overwrite: options.overwrite ?? false,
    informers: informers.port,
    watchedNamespaces: ["a", "b"],
    path: (ns) => (ns ? `/ns/${ns}/things` : "/things"),
    patchStatus: (namespace, name, resourceVersion, status) => {
      const patch = { namespace, name, resourceVersion, status };
      const err = options.fail?.(patch);
      if (err) return Promise.reject(err);
      patches.push(patch);
      return Promise.resolve();
    },
    events,
    logger: pino({ level: "silent" }),
    backoff: { baseMs: 1, maxMs: 5 },
    reconcileTimeoutMs: 1000,
    now: () => new Date("2026-01-01T00:00:00Z"),
  });
  return { informers, events, patches, standIn };
}

const resource = (
  extra: Partial<ReportedResource["metadata"]> = {},
  status?: ReportedResource["status"],
) => ({
  metadata: { name: "r", uid: "u1", generation: 1, resourceVersion: "10", ...extra },
  spec: { roleName: "secret-spec-is-not-kept" },
  ...(status ? { status } : {}),
});

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("KindDisabled", () => {
  test("a cluster-scoped kind is watched once, whatever the watched namespaces; the namespaced one per namespace", () => {
    assert.deepEqual(
      [...setup({ clusterScoped: true }).informers.watches.keys()],
      ["clusterawsassumeroles@*"],
    );
    assert.deepEqual(
      [...setup({ clusterScoped: false }).informers.watches.keys()],
      ["awspodidentityassociations@a", "awspodidentityassociations@b"],
    );
  });

  test("tells a new resource once: Ready=False FeatureDisabled naming the flag, one Warning event, the resourceVersion as precondition", async () => {
    const { informers, events, patches, standIn } = setup({ clusterScoped: true });
    standIn.startWorkers();
    const watch = informers.get<ReportedResource>("clusterawsassumeroles@*");
    watch.put(resource());
    await until("the status patch", () => patches.length === 1);
    const [patch] = patches;
    assert.equal(patch!.namespace, "");
    assert.equal(patch!.name, "r");
    assert.equal(patch!.resourceVersion, "10");
    assert.equal(patch!.status.observedGeneration, 1);
    const [ready] = patch!.status.conditions as { reason: string; status: string; message: string }[];
    assert.equal(ready!.status, "False");
    assert.equal(ready!.reason, "FeatureDisabled");
    assert.match(ready!.message, /without --cluster-assume-roles \(chart: clusterAssumeRoles\.enabled\)/);
    assert.deepEqual(events.reasons(), ["FeatureDisabled"]);
    assert.equal(events.events[0]!.type, "Warning");

    // Its own report coming back needs nothing; a new generation is told again.
    watch.put(resource({ resourceVersion: "11" }, { conditions: patch!.status.conditions as never }));
    await sleep(30);
    assert.equal(patches.length, 1);
    watch.put(
      resource({ generation: 2, resourceVersion: "12" }, { conditions: patch!.status.conditions as never }),
    );
    await until("the second generation's patch", () => patches.length === 2);
    assert.deepEqual(events.reasons(), ["FeatureDisabled", "FeatureDisabled"]);
    await standIn.stopWorkers();
  });

  test("never overwrites a serving controller's report on the current generation", async () => {
    const { informers, events, patches, standIn } = setup({ clusterScoped: false });
    standIn.startWorkers();
    informers.get<ReportedResource>("awspodidentityassociations@a").put(
      resource(
        { namespace: "a" },
        {
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "Associated",
              message: "served",
              observedGeneration: 1,
              lastTransitionTime: "t",
            },
          ],
        },
      ),
    );
    await sleep(30);
    assert.deepEqual(patches, []);
    assert.deepEqual(events.events, []);
    await standIn.stopWorkers();
  });

  test("with overwrite (one install serves the kind), an earlier run's report is replaced once, then left to whoever writes next", async () => {
    const { informers, patches, standIn } = setup({ clusterScoped: false, overwrite: true });
    standIn.startWorkers();
    const served = {
      conditions: [
        {
          type: "Ready",
          status: "True" as const,
          reason: "Associated",
          message: "served",
          observedGeneration: 1,
          lastTransitionTime: "t",
        },
      ],
    };
    const watch = informers.get<ReportedResource>("awspodidentityassociations@a");
    watch.put(resource({ namespace: "a" }, served));
    await until("the report", () => patches.length === 1);
    watch.put(resource({ namespace: "a", resourceVersion: "12" }, served));
    await sleep(30);
    assert.equal(patches.length, 1);
    await standIn.stopWorkers();
  });

  test("a conflict (the resource changed since it was read) is no failure and writes no event", async () => {
    const conflict = Object.assign(new Error("conflict"), { statusCode: 409 });
    const { informers, events, standIn } = setup({ clusterScoped: true, fail: () => conflict });
    standIn.startWorkers();
    informers.get<ReportedResource>("clusterawsassumeroles@*").put(resource());
    await sleep(30);
    assert.deepEqual(events.events, []);
    await standIn.stopWorkers();
  });

  test("caches start on every replica, but only a leader writes; the cache keeps no spec", async () => {
    const { informers, patches, standIn } = setup({ clusterScoped: true });
    standIn.startCaches();
    const watch = informers.get<ReportedResource>("clusterawsassumeroles@*") as FakeWatch<ReportedResource>;
    assert.ok(watch.started);
    watch.put(resource());
    await sleep(30);
    assert.deepEqual(patches, []);
    assert.equal(standIn.cachedObjects(), 1);
    assert.ok(!("spec" in watch.list()[0]!));
    standIn.startWorkers();
    await until("the leader's patch", () => patches.length === 1);
    await standIn.stopWorkers();
    standIn.stopCaches();
  });
});
