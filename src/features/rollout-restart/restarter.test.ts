// The restarter with in-memory fakes of its ports: one restart per run with the spacing in between, the live object
// decides, a restart is recorded in the Pod template so a second process restarts nothing, RBAC and missing
// targets are reported, and a window too short for the rollouts is a Warning with a recommendation.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { RolloutRestartSpec, RolloutRestartStatus, WorkloadKind } from "../../api/schema.ts";
import { SecretAnnotation } from "../../domain/plan.ts";
import {
  RESTARTED_AT_ANNOTATION,
  RESTARTED_FOR_ANNOTATION,
  workloadProjection,
} from "../../domain/rollout-restart.ts";
import type { CachedWorkload, RawWorkload } from "../../domain/rollout-restart.ts";
import { FakeEvents, T0, apiError } from "../../credentials/ports.fakes.ts";
import type { CachedSecret } from "../../credentials/ports.ts";
import { RolloutRestarter } from "./restarter.ts";
import type { RestartOwner, WorkloadWriter } from "./ports.ts";

const NS = "ns";

/** Workloads as the API holds them; the cache is always current here (its projection of the same objects). */
class FakeWorkloads implements WorkloadWriter {
  readonly objects = new Map<string, { kind: WorkloadKind; raw: RawWorkload }>();
  patches: { kind: WorkloadKind; name: string; annotations: Record<string, string> }[] = [];
  failWith: Error | undefined;
  private version = 1;

  add(kind: WorkloadKind, name: string, reads: string[], created = "2020-01-01T00:00:00Z"): void {
    this.objects.set(`${kind}/${name}`, {
      kind,
      raw: {
        metadata: {
          namespace: NS,
          name,
          resourceVersion: String(this.version++),
          creationTimestamp: created,
        },
        spec: {
          template: {
            metadata: { annotations: {} },
            spec: {
              containers: [{ env: reads.map((s) => ({ valueFrom: { secretKeyRef: { name: s } } })) }],
            },
          },
        },
      },
    });
  }

  cache = {
    get: (kind: WorkloadKind, _ns: string, name: string): CachedWorkload | undefined => {
      const o = this.objects.get(`${kind}/${name}`);
      return o && workloadProjection(o.kind, o.raw);
    },
    readers: (_ns: string, secretName: string): CachedWorkload[] =>
      [...this.objects.values()]
        .map((o) => workloadProjection(o.kind, o.raw))
        .filter((w) => w.envSecrets.includes(secretName) || w.volumeSecrets.includes(secretName)),
  };

  get(kind: WorkloadKind, _ns: string, name: string): Promise<RawWorkload | undefined> {
    return Promise.resolve(structuredClone(this.objects.get(`${kind}/${name}`)?.raw));
  }

  patchTemplateAnnotations(
    kind: WorkloadKind,
    _ns: string,
    name: string,
    resourceVersion: string,
    annotations: Record<string, string>,
  ): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    const o = this.objects.get(`${kind}/${name}`)!;
    if (o.raw.metadata!.resourceVersion !== resourceVersion) return Promise.reject(apiError(409));
    Object.assign(o.raw.spec!.template!.metadata!.annotations!, annotations);
    o.raw.metadata!.resourceVersion = String(this.version++);
    this.patches.push({ kind, name, annotations });
    return Promise.resolve();
  }

  restartedFor(kind: WorkloadKind, name: string): string | undefined {
    return this.objects.get(`${kind}/${name}`)?.raw.spec?.template?.metadata?.annotations?.[
      RESTARTED_FOR_ANNOTATION
    ];
  }
}

function secret(hash: string, writtenAt: Date, lifetimeMs: number): CachedSecret {
  return {
    metadata: {
      namespace: NS,
      name: "creds",
      annotations: {
        [SecretAnnotation.dataHash]: hash,
        [SecretAnnotation.lastRefreshTime]: writtenAt.toISOString(),
        [SecretAnnotation.expirationTime]: new Date(writtenAt.getTime() + lifetimeMs).toISOString(),
      },
    },
    dataHash: hash,
  };
}

function setup(
  spec: RolloutRestartSpec,
  options: { maxSpacingMs?: number; minRolloutSeconds?: number } = {},
) {
  const clock = { now: T0 };
  const workloads = new FakeWorkloads();
  const events = new FakeEvents();
  const secrets = new Map<string, CachedSecret>();
  const statuses: RolloutRestartStatus[] = [];
  const owner: RestartOwner = {
    key: "AWSAssumeRole:ns/app",
    target: { apiVersion: "pincette.net/v1", kind: "AWSAssumeRole", namespace: NS, name: "app", uid: "u" },
    spec,
    status: undefined,
    writeStatus: (s) => {
      statuses.push(s);
      return Promise.resolve();
    },
  };
  const make = () =>
    new RolloutRestarter({
      secrets: {
        get: (ns, name) => secrets.get(`${ns}/${name}`),
        list: () => [...secrets.values()],
      },
      workloads: workloads.cache,
      writer: workloads,
      events,
      logger: pino({ level: "silent" }),
      ownerOf: () => owner,
      refreshRatio: 2 / 3,
      maxSpacingMs: options.maxSpacingMs ?? 10_000,
      minRolloutSeconds: options.minRolloutSeconds ?? 0,
      retryMs: 60_000,
      now: () => clock.now,
    });
  const put = (s: CachedSecret, r: RolloutRestarter) => {
    secrets.set(`${NS}/creds`, s);
    r.secretChanged(s, false);
  };
  return { clock, workloads, events, statuses, owner, make, put };
}

const advance = (clock: { now: Date }, ms: number) => (clock.now = new Date(clock.now.getTime() + ms));

describe("rollout restarter", () => {
  test("restarts one consumer per run, the spacing apart, and records the fingerprint; a new process restarts nothing", async () => {
    const h = setup({ consumers: "Env" });
    for (const name of ["a", "b", "c"]) h.workloads.add("Deployment", name, ["creds"]);
    h.workloads.add("Deployment", "other", ["not-ours"]);
    const r = h.make();
    // Lifetime 3600 s, so 1200 s remain of the old credentials (estimate): rollouts of 600 s fit, 10 s apart.
    h.put(secret("h1", T0, 3_600_000), r);

    const first = await r.reconcile("ns/creds");
    assert.deepEqual(first, { kind: "requeueAfter", delayMs: 10_000 });
    assert.deepEqual(
      h.workloads.patches.map((p) => p.name),
      ["a"],
    );
    assert.equal(h.workloads.restartedFor("Deployment", "a"), "creds=h1");
    assert.match(h.workloads.patches[0]!.annotations[RESTARTED_AT_ANNOTATION]!, /^2030-01-01T00:00:00Z$/);

    assert.deepEqual(await r.reconcile("ns/creds"), { kind: "requeueAfter", delayMs: 10_000 }, "not yet due");
    assert.equal(h.workloads.patches.length, 1);
    advance(h.clock, 10_000);
    await r.reconcile("ns/creds");
    advance(h.clock, 10_000);
    assert.deepEqual(await r.reconcile("ns/creds"), { kind: "done" });
    assert.deepEqual(
      h.workloads.patches.map((p) => p.name),
      ["a", "b", "c"],
    );
    assert.equal(h.events.reasons().filter((x) => x === "Restarted").length, 3);
    const status = h.statuses.at(-1)!;
    assert.deepEqual(
      status.restarts!.map((e) => `${e.name}:${e.outcome}`),
      ["c:Restarted", "b:Restarted", "a:Restarted"],
    );
    assert.equal(status.conditions![0]!.reason, "RestartsDone");

    // A new process (operator restart, failover) with the same Secret: everything is recorded as done.
    const again = h.make();
    h.put(secret("h1", T0, 3_600_000), again);
    assert.deepEqual(await again.reconcile("ns/creds"), { kind: "done" });
    assert.equal(h.workloads.patches.length, 3);

    // A new credential set restarts each once more.
    advance(h.clock, 60_000);
    h.put(secret("h2", h.clock.now, 3_600_000), again);
    await again.reconcile("ns/creds");
    assert.equal(h.workloads.restartedFor("Deployment", "a"), "creds=h2");
  });

  test("a workload created after the current credentials were written is not restarted until the next set", async () => {
    const h = setup({ consumers: "Env" });
    h.workloads.add("Deployment", "new", ["creds"], "2030-01-01T00:00:05Z");
    const r = h.make();
    h.put(secret("h1", T0, 3_600_000), r);
    assert.deepEqual(await r.reconcile("ns/creds"), { kind: "done" });
    assert.equal(h.workloads.patches.length, 0);
    advance(h.clock, 60_000);
    h.put(secret("h2", h.clock.now, 3_600_000), r);
    await r.reconcile("ns/creds");
    assert.equal(h.workloads.restartedFor("Deployment", "new"), "creds=h2");
  });

  test("a forbidden patch is reported once as RestartForbidden and retried later, not every run", async () => {
    const h = setup({ consumers: "Env" });
    h.workloads.add("DaemonSet", "agent", ["creds"]);
    h.workloads.failWith = apiError(403);
    const r = h.make();
    h.put(secret("h1", T0, 3_600_000), r);
    assert.deepEqual(await r.reconcile("ns/creds"), { kind: "requeueAfter", delayMs: 60_000 });
    assert.deepEqual(await r.reconcile("ns/creds"), { kind: "requeueAfter", delayMs: 60_000 });
    assert.deepEqual(h.events.reasons(), ["RestartForbidden"]);
    const condition = h.statuses.at(-1)!.conditions![0]!;
    assert.equal(condition.status, "False");
    assert.equal(condition.reason, "RestartForbidden");
    assert.match(condition.message, /may not restart DaemonSet ns\/agent/);
    assert.equal(h.statuses.at(-1)!.restarts![0]!.outcome, "Forbidden");
  });

  test("a named target that does not exist is reported; consumers None restarts only targets", async () => {
    const h = setup({
      consumers: "None",
      targets: [
        { kind: "StatefulSet", name: "db" },
        { kind: "Deployment", name: "missing" },
      ],
    });
    h.workloads.add("StatefulSet", "db", []);
    h.workloads.add("Deployment", "reader", ["creds"]);
    const r = h.make();
    h.put(secret("h1", T0, 3_600_000), r);
    await r.reconcile("ns/creds");
    assert.deepEqual(
      h.workloads.patches.map((p) => p.name),
      ["db"],
    );
    assert.ok(h.events.reasons().includes("TargetNotFound"));
    const status = h.statuses.at(-1)!;
    assert.equal(status.conditions![0]!.reason, "TargetNotFound");
    assert.ok(status.restarts!.some((e) => e.name === "missing" && e.outcome === "NotFound"));
  });

  test("old credentials with too little time left for the rollouts: a RestartWindowShort Warning recommending a longer duration", async () => {
    const h = setup({ consumers: "Env" }, { minRolloutSeconds: 400 });
    h.workloads.add("Deployment", "a", ["creds"]);
    const r = h.make();
    // 900 s lifetime: 300 s of the old credentials remain, a rollout is given 400 s.
    h.put(secret("h1", T0, 900_000), r);
    await r.reconcile("ns/creds");
    const warning = h.events.events.find((e) => e.reason === "RestartWindowShort");
    assert.ok(warning, "a Warning event");
    assert.match(warning.message, /300 s left/);
    assert.match(warning.message, /durationSeconds of at least 1200/);
    assert.equal(h.statuses.at(-1)!.conditions![0]!.reason, "RestartWindowShort");
    assert.equal(h.workloads.patches.length, 1, "the restart is still made: late is better than never");
  });

  test("the defaults fit: 900 s credentials leave 300 s, a rollout is given 120 s, no warning", async () => {
    const h = setup({ consumers: "Env" }, { minRolloutSeconds: 120 });
    h.workloads.add("Deployment", "a", ["creds"]);
    const r = h.make();
    h.put(secret("h1", T0, 900_000), r);
    await r.reconcile("ns/creds");
    assert.equal(
      h.events.events.find((e) => e.reason === "RestartWindowShort"),
      undefined,
    );
    assert.equal(h.workloads.patches.length, 1);
  });
});
