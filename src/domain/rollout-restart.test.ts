import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  RESTARTED_FOR_ANNOTATION,
  consumedSecrets,
  consumes,
  oldRemainingMs,
  parseRestartedFor,
  recommendedDurationSeconds,
  restartNeed,
  restartedForValue,
  restartsAnything,
  rolloutSeconds,
  staggerPlan,
  workloadProjection,
} from "./rollout-restart.ts";
import type { CachedWorkload, RawWorkload } from "./rollout-restart.ts";

const raw: RawWorkload = {
  metadata: {
    namespace: "ns",
    name: "app",
    uid: "u1",
    generation: 3,
    creationTimestamp: "2026-11-30T08:00:00Z",
  },
  spec: {
    progressDeadlineSeconds: 300,
    template: {
      metadata: { annotations: { [RESTARTED_FOR_ANNOTATION]: "a=1", other: "x".repeat(1000) } },
      spec: {
        containers: [
          {
            env: [
              { valueFrom: { secretKeyRef: { name: "by-key" } } },
              { valueFrom: { secretKeyRef: { name: "by-key" } } },
            ],
            envFrom: [{ secretRef: { name: "by-env-from" } }],
          },
        ],
        initContainers: [{ env: [{ valueFrom: { secretKeyRef: { name: "by-init" } } }] }],
        volumes: [
          { secret: { secretName: "mounted" } },
          { projected: { sources: [{ secret: { name: "projected" } }, {}] } },
          {},
        ],
      },
    },
  },
};

const workload = (over: Partial<CachedWorkload> = {}): CachedWorkload => ({
  kind: "Deployment",
  metadata: { namespace: "ns", name: "app", creationTimestamp: "2026-11-30T08:00:00Z" },
  envSecrets: ["creds"],
  volumeSecrets: [],
  ...over,
});

describe("which workloads consume a Secret, and how", () => {
  test("the projection keeps names, the Secret names read by env and by volume, and our annotation only", () => {
    const w = workloadProjection("Deployment", raw);
    assert.deepEqual(w, {
      kind: "Deployment",
      metadata: {
        namespace: "ns",
        name: "app",
        uid: "u1",
        generation: 3,
        creationTimestamp: "2026-11-30T08:00:00Z",
      },
      envSecrets: ["by-env-from", "by-init", "by-key"],
      volumeSecrets: ["mounted", "projected"],
      restartedFor: "a=1",
      progressDeadlineSeconds: 300,
    });
    assert.deepEqual(consumedSecrets(w), ["by-env-from", "by-init", "by-key", "mounted", "projected"]);
  });

  test("only Deployments keep a progress deadline; a workload without a Pod template reads nothing", () => {
    assert.equal(workloadProjection("StatefulSet", raw).progressDeadlineSeconds, undefined);
    const empty = workloadProjection("DaemonSet", { metadata: { name: "x" } });
    assert.deepEqual([empty.envSecrets, empty.volumeSecrets], [[], []]);
  });

  const w = workload({ envSecrets: ["env"], volumeSecrets: ["vol"] });
  for (const [consumers, secret, expected] of [
    ["None", "env", false],
    ["Env", "env", true],
    ["Env", "vol", false],
    ["All", "env", true],
    ["All", "vol", true],
    ["All", "other", false],
  ] as const) {
    test(`consumers ${consumers}: a reader of ${secret} ${expected ? "is" : "is not"} restarted`, () => {
      assert.equal(consumes(w, secret, consumers), expected);
    });
  }

  test("a spec restarts anything only with consumers other than None or a target", () => {
    assert.equal(restartsAnything(undefined), false);
    assert.equal(restartsAnything({}), false);
    assert.equal(restartsAnything({ consumers: "None" }), false);
    assert.equal(restartsAnything({ consumers: "Env" }), true);
    assert.equal(restartsAnything({ targets: [{ kind: "Deployment", name: "x" }] }), true);
  });
});

describe("restarted-for annotation", () => {
  test("records one fingerprint per Secret and keeps the other Secrets' entries", () => {
    assert.equal(restartedForValue(undefined, "b", "2"), "b=2");
    assert.equal(restartedForValue("b=1,a=9", "b", "2"), "a=9,b=2");
    assert.deepEqual(
      [...parseRestartedFor("a=9,b=2")],
      [
        ["a", "9"],
        ["b", "2"],
      ],
    );
    assert.deepEqual([...parseRestartedFor("garbage,,=x")], []);
  });
});

describe("restart decision", () => {
  const writtenAt = new Date("2026-11-30T09:00:00.500Z");
  const BEFORE = "2026-11-30T08:00:00Z";
  const SAME_SECOND = "2026-11-30T09:00:00Z";
  const AFTER = "2026-11-30T09:00:01Z";
  for (const [behaviour, restartedFor, created, at, expected] of [
    [
      "restarted for the current fingerprint: nothing to do (an operator restart restarts nothing)",
      "x=0,creds=h2",
      BEFORE,
      writtenAt,
      "done",
    ],
    ["restarted for an older fingerprint: restart", "creds=h1", AFTER, writtenAt, "restart"],
    [
      "never restarted, created before the current credentials were written: restart",
      undefined,
      BEFORE,
      writtenAt,
      "restart",
    ],
    [
      "never restarted, created in the second of the write: restart (it may predate the write)",
      undefined,
      SAME_SECOND,
      writtenAt,
      "restart",
    ],
    [
      "never restarted, created after the write: it started with the current credentials",
      undefined,
      AFTER,
      writtenAt,
      "started-after",
    ],
    [
      "an entry for another Secret only does not count for this one",
      "other=h2",
      AFTER,
      writtenAt,
      "started-after",
    ],
    ["without a write time the creation rule cannot apply: restart", undefined, AFTER, undefined, "restart"],
  ] as const) {
    test(behaviour, () => {
      const w = workload({
        ...(restartedFor ? { restartedFor } : {}),
        metadata: { creationTimestamp: created },
      });
      assert.equal(restartNeed(w, "creds", "h2", at), expected);
    });
  }
});

describe("stagger schedule and in-time check", () => {
  const plan = (count: number, remainingMs: number, rolloutMs: number, maxSpacingMs = 30_000) =>
    staggerPlan({ count, oldRemainingMs: remainingMs, rolloutMs, maxSpacingMs });
  test("restarts are spread over the time the last rollout leaves, capped at the maximum spacing", () => {
    // 3600 s lifetime at 2/3: 1200 s left; rollouts 600 s; 4 restarts: 200 s apart would fit, capped at 30 s.
    const p = plan(4, 1_200_000, 600_000);
    assert.deepEqual(p, { spacingMs: 30_000, spreadMs: 90_000, inTime: true, neededMs: 690_000 });
  });
  test("a tight window shrinks the spacing, never below one second", () => {
    const p = plan(11, 150_000, 120_000);
    assert.equal(p.spacingMs, 3000);
    assert.equal(p.inTime, true);
    const tight = plan(11, 125_000, 120_000);
    assert.equal(tight.spacingMs, 1000);
    assert.equal(tight.inTime, false, "10 s of spread + 120 s of rollout do not fit into 125 s");
  });
  test("the default 900 s lifetime leaves 300 s: too short for a Deployment's default 600 s progress deadline", () => {
    const p = plan(1, 300_000, 600_000);
    assert.equal(p.inTime, false);
    assert.equal(recommendedDurationSeconds(p.neededMs, 2 / 3), 1800);
  });
  test("one restart needs no spacing", () => {
    assert.equal(plan(1, 1e6, 0, 5000).spacingMs, 0);
  });
  test("rollout time: a Deployment's progress deadline (default 600 s), others the minimum", () => {
    assert.equal(rolloutSeconds(workload(), 120), 600);
    assert.equal(rolloutSeconds(workload({ progressDeadlineSeconds: 60 }), 120), 120);
    assert.equal(rolloutSeconds(workload({ kind: "DaemonSet" }), 120), 120);
  });
  test("the old credentials' remaining lifetime: known from their expiry, else estimated from the refresh ratio", () => {
    const writtenAt = new Date(1_000_000);
    const expiration = new Date(1_000_000 + 900_000);
    assert.equal(
      oldRemainingMs({ previousExpiration: new Date(1_250_000), writtenAt, expiration, refreshRatio: 2 / 3 }),
      250_000,
    );
    assert.equal(
      oldRemainingMs({ previousExpiration: undefined, writtenAt, expiration, refreshRatio: 2 / 3 }),
      300_000,
    );
    assert.equal(
      oldRemainingMs({ previousExpiration: new Date(0), writtenAt, expiration, refreshRatio: 2 / 3 }),
      0,
      "already expired",
    );
  });
});
