// The ClusterAWSAssumeRole reconcile with in-memory fakes of its ports: one issue of credentials for the whole
// fan-out, copies added and repaired without AWS, stray copies deleted, foreign Secrets left alone.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { V1Namespace } from "@kubernetes/client-node";
import { pino } from "pino";
import type { ClusterAWSAssumeRole, ClusterAWSAssumeRoleSpec } from "../api/cluster-schema.ts";
import { SecretAnnotation } from "../domain/plan.ts";
import { ClusterReconciler } from "./cluster-reconciler.ts";
import type { ClusterReconcilerOptions } from "./cluster-reconciler.ts";
import { FakeAws, FakeEvents, FakeSecrets, T0 } from "./ports.fakes.ts";
import type { Cache } from "./ports.ts";

class MapCache<T extends { metadata?: { name?: string } }> implements Cache<T> {
  readonly objects = new Map<string, T>();
  get(_namespace: string, name: string): T | undefined {
    return this.objects.get(name);
  }
  list(): readonly T[] {
    return [...this.objects.values()];
  }
  set(object: T): void {
    this.objects.set(object.metadata!.name!, object);
  }
}

class FakeClusterResources extends MapCache<ClusterAWSAssumeRole> {
  statusWrites = 0;
  async patchStatus(name: string, status: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    // Like the transport: a request under an aborted signal never reaches the API server.
    signal?.throwIfAborted();
    const current = this.objects.get(name);
    if (!current) return;
    this.statusWrites++;
    const merged: Record<string, unknown> = { ...(current.status ?? {}) };
    for (const [k, v] of Object.entries(status)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    this.set({ ...current, metadata: { ...current.metadata }, status: merged });
  }
}

function setup(options: Partial<ClusterReconcilerOptions> = {}) {
  const clock = { now: T0 };
  const now = () => clock.now;
  const resources = new FakeClusterResources();
  const namespaces = new MapCache<V1Namespace>();
  const secrets = new FakeSecrets();
  const events = new FakeEvents();
  const aws = new FakeAws(now);
  const make = () =>
    new ClusterReconciler({
      resources,
      secrets: secrets.cache,
      namespaceCache: namespaces,
      secretWriter: secrets.writer,
      statusWriter: resources,
      events,
      aws,
      logger: pino({ level: "silent" }),
      refreshRatio: 2 / 3,
      jitterFraction: 0,
      conflictRetryMs: 30_000,
      permanentErrorRetryMs: 60_000,
      watchedNamespaces: [],
      namespacePermissions: false,
      now,
      ...options,
    });
  const namespace = (
    name: string,
    labels: Record<string, string> = {},
    annotations?: Record<string, string>,
  ) => namespaces.set({ metadata: { name, labels, ...(annotations ? { annotations } : {}) } });
  const apply = (name: string, spec: Partial<ClusterAWSAssumeRoleSpec> = {}) =>
    resources.set({
      apiVersion: "pincette.net/v1",
      kind: "ClusterAWSAssumeRole",
      metadata: { name, uid: `uid-${name}`, generation: 1 },
      spec: {
        roleName: "app",
        secretName: "aws",
        secretType: "Map",
        namespaceSelector: { matchLabels: { aws: "yes" } },
        ...spec,
      },
    });
  const copies = () =>
    secrets
      .list()
      .filter((s) => s.metadata?.ownerReferences?.some((r) => r.uid === "uid-fan"))
      .map((s) => s.metadata!.namespace!)
      .sort();
  return { clock, resources, namespaces, secrets, events, aws, make, namespace, apply, copies };
}

describe("ClusterReconciler", () => {
  test("assumes the role once and writes identical copies to every selected namespace", async () => {
    const w = setup();
    for (const ns of ["a", "b", "c"]) w.namespace(ns, { aws: "yes" });
    w.namespace("other", { aws: "no" });
    w.apply("fan");
    const result = await w.make().reconcile("fan");
    assert.equal(result.kind, "requeueAfter");
    assert.equal(w.aws.requests.length, 1, "one AssumeRole for the fan-out");
    assert.equal(w.aws.requests[0]!.sessionName, "caar.fan");
    assert.deepEqual(w.copies(), ["a", "b", "c"]);
    const data = new Set(w.copies().map((ns) => JSON.stringify(w.secrets.get(ns, "aws")!.data)));
    assert.equal(data.size, 1, "the same credentials everywhere");
    const owner = w.secrets.get("a", "aws")!.metadata!.ownerReferences![0]!;
    assert.deepEqual([owner.kind, owner.name, owner.controller], ["ClusterAWSAssumeRole", "fan", true]);
    const status = w.resources.get("", "fan")!.status!;
    assert.deepEqual(status.namespaces, { selected: 3, ready: 3, conflicts: 0, denied: 0, failing: [] });
    assert.equal(status.conditions?.[0]?.status, "True");
    assert.equal(
      w.events.events.filter((e) => e.reason === "Created").length,
      1,
      "one event for the fan-out",
    );
  });

  test("a restarted reconciler with fresh copies makes no AWS call and no write", async () => {
    const w = setup();
    for (const ns of ["a", "b"]) w.namespace(ns, { aws: "yes" });
    w.apply("fan");
    await w.make().reconcile("fan");
    const [writes, statusWrites] = [w.secrets.writes, w.resources.statusWrites];
    const result = await w.make().reconcile("fan");
    assert.equal(result.kind, "requeueAfter");
    assert.equal(w.aws.requests.length, 1);
    assert.equal(w.secrets.writes, writes, "no Secret write");
    assert.equal(w.resources.statusWrites, statusWrites, "no status write");
    assert.equal(w.secrets.liveReads, 0);
  });

  test("a namespace that starts matching gets the current credentials without an AWS call, also after a restart", async () => {
    const w = setup();
    w.namespace("a", { aws: "yes" });
    w.apply("fan");
    const reconciler = w.make();
    await reconciler.reconcile("fan");
    w.namespace("b", { aws: "yes" });
    await reconciler.reconcile("fan");
    assert.deepEqual(w.copies(), ["a", "b"]);
    w.namespace("c", { aws: "yes" });
    await w.make().reconcile("fan"); // restarted: the data is read once from a fresh copy
    assert.deepEqual(w.copies(), ["a", "b", "c"]);
    assert.equal(w.aws.requests.length, 1, "still one AssumeRole");
    assert.equal(w.secrets.liveReads, 1);
    assert.equal(
      w.secrets.get("c", "aws")!.data!.awsAccessKeyId,
      w.secrets.get("a", "aws")!.data!.awsAccessKeyId,
    );
    const times = (ns: string) =>
      w.secrets.get(ns, "aws")!.metadata!.annotations![SecretAnnotation.lastRefreshTime];
    assert.equal(times("c"), times("a"), "one issue, one refresh time");
  });

  test("a namespace that stops matching loses its copy", async () => {
    const w = setup();
    for (const ns of ["a", "b"]) w.namespace(ns, { aws: "yes" });
    w.apply("fan");
    const reconciler = w.make();
    await reconciler.reconcile("fan");
    w.namespace("b", {});
    await reconciler.reconcile("fan");
    assert.deepEqual(w.copies(), ["a"]);
    assert.deepEqual(w.resources.get("", "fan")!.status!.namespaces?.selected, 1);
  });

  test("a Secret of that name that is not ours is left alone and reported; the rest proceed", async () => {
    const w = setup();
    for (const ns of ["a", "b"]) w.namespace(ns, { aws: "yes" });
    await w.secrets.create({ metadata: { namespace: "b", name: "aws" }, data: { mine: "eA==" } });
    w.apply("fan");
    const result = await w.make().reconcile("fan");
    assert.deepEqual(w.copies(), ["a"]);
    assert.deepEqual(w.secrets.get("b", "aws")!.data, { mine: "eA==" }, "untouched");
    const status = w.resources.get("", "fan")!.status!;
    assert.equal(status.namespaces?.conflicts, 1);
    assert.equal(status.namespaces?.failing?.[0]?.namespace, "b");
    assert.equal(status.conditions?.[0]?.reason, "SecretConflict");
    assert.deepEqual(result, { kind: "requeueAfter", delayMs: 30_000 });
  });

  test("when the refresh time comes, one AssumeRole rewrites every copy", async () => {
    const w = setup();
    for (const ns of ["a", "b", "c"]) w.namespace(ns, { aws: "yes" });
    w.apply("fan");
    const reconciler = w.make();
    await reconciler.reconcile("fan");
    w.clock.now = new Date(T0.getTime() + 700_000);
    await reconciler.reconcile("fan");
    assert.equal(w.aws.requests.length, 2);
    const refreshed = new Set(
      w
        .copies()
        .map((ns) => w.secrets.get(ns, "aws")!.metadata!.annotations![SecretAnnotation.lastRefreshTime]),
    );
    assert.deepEqual([...refreshed], [w.clock.now.toISOString()]);
  });

  test("a scheduled refresh of a Ready fan-out writes no event; with refreshEvents it writes Refreshed", async () => {
    for (const refreshEvents of [false, true]) {
      const w = setup({ refreshEvents });
      for (const ns of ["a", "b"]) w.namespace(ns, { aws: "yes" });
      w.apply("fan");
      const reconciler = w.make();
      await reconciler.reconcile("fan");
      w.clock.now = new Date(T0.getTime() + 700_000);
      await reconciler.reconcile("fan");
      assert.equal(w.aws.requests.length, 2, "refreshed");
      assert.deepEqual(
        w.events.reasons(),
        refreshEvents ? ["Created", "Refreshed"] : ["Created"],
        `refreshEvents: ${refreshEvents}`,
      );
    }
  });

  test("a scheduled refresh that also fills a new namespace, or leaves one failing, keeps its Refreshed event", async () => {
    const w = setup();
    w.namespace("a", { aws: "yes" });
    w.apply("fan");
    const reconciler = w.make();
    await reconciler.reconcile("fan");
    w.namespace("b", { aws: "yes" });
    w.clock.now = new Date(T0.getTime() + 700_000);
    await reconciler.reconcile("fan");
    assert.deepEqual(w.copies(), ["a", "b"]);
    assert.deepEqual(w.events.reasons(), ["Created", "Refreshed"]);
    assert.match(w.events.events[1]!.message, /in 2 namespace\(s\)/);

    await w.secrets.create({ metadata: { namespace: "c", name: "aws" }, data: { mine: "eA==" } });
    w.namespace("c", { aws: "yes" });
    await reconciler.reconcile("fan"); // SecretConflict in c: Ready=False, with its Warning
    w.clock.now = new Date(T0.getTime() + 1_400_000);
    await reconciler.reconcile("fan");
    assert.equal(w.aws.requests.length, 3);
    assert.deepEqual(w.events.reasons(), ["Created", "Refreshed", "SecretConflict", "Refreshed"]);
  });

  test("with namespace permissions, a namespace whose annotation does not permit the role gets no copy", async () => {
    const w = setup({ namespacePermissions: true });
    w.namespace("a", { aws: "yes" }, { "aws-assume-role.pincette.net/permitted-roles": "app" });
    w.namespace("b", { aws: "yes" });
    w.apply("fan");
    await w.make().reconcile("fan");
    assert.deepEqual(w.copies(), ["a"]);
    const status = w.resources.get("", "fan")!.status!;
    assert.equal(status.namespaces?.denied, 1);
    assert.equal(status.conditions?.[0]?.reason, "RoleNotPermitted");
  });

  test("only watched namespaces are served, and no namespace selected means no AWS call", async () => {
    const w = setup({ watchedNamespaces: ["z"] });
    w.namespace("a", { aws: "yes" });
    w.apply("fan");
    await w.make().reconcile("fan");
    assert.deepEqual(w.copies(), []);
    assert.equal(w.aws.requests.length, 0);
    assert.equal(w.resources.get("", "fan")!.status!.conditions?.[0]?.reason, "NoNamespacesSelected");
  });
});

describe("ClusterReconciler and AWS's answers", () => {
  test("an expiry already past is InvalidExpiration with backoff, and no copy is written", async () => {
    const w = setup();
    w.namespace("a", { aws: "yes" });
    w.apply("fan");
    w.aws.answers = [
      {
        accessKeyId: "A",
        secretAccessKey: "S",
        sessionToken: "T",
        expirationTime: new Date(T0.getTime() - 1000),
      },
    ];
    const result = await w.make().reconcile("fan");
    assert.equal(result.kind, "temporaryError");
    assert.deepEqual(w.copies(), []);
    assert.equal(w.resources.get("", "fan")!.status!.conditions?.[0]?.reason, "InvalidExpiration");
  });
});

// The namespaced and the cluster path used to be copies that drifted apart; these held only for the namespaced one.
describe("ClusterReconciler shares the credential steps with the namespaced kind", () => {
  test("an AWS call that timed out backs off up to the permanent-error delay", async () => {
    const w = setup();
    w.namespace("a", { aws: "yes" });
    w.apply("fan");
    w.aws.hang = true;
    const result = await w.make().reconcile("fan", AbortSignal.timeout(20));
    assert.equal(result.kind, "temporaryError");
    assert.equal(result.kind === "temporaryError" ? result.maxBackoffMs : undefined, 60_000);
  });

  test("a reconcile that ran out of time still says why in status", async () => {
    const w = setup();
    w.namespace("a", { aws: "yes" });
    w.apply("fan");
    w.aws.hang = true;
    await w.make().reconcile("fan", AbortSignal.timeout(20));
    const ready = w.resources.get("", "fan")!.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "False");
    assert.equal(ready?.reason, "AWSUnavailable");
  });

  test("an implausible expiry is described in the same words as for an AWSAssumeRole", async () => {
    const w = setup();
    w.namespace("a", { aws: "yes" });
    w.apply("fan");
    w.aws.answers = [
      {
        accessKeyId: "A",
        secretAccessKey: "S",
        sessionToken: "T",
        expirationTime: new Date(T0.getTime() - 1000),
      },
    ];
    await w.make().reconcile("fan");
    const message = w.resources.get("", "fan")!.status?.conditions?.[0]?.message ?? "";
    assert.equal(
      message,
      "AWS returned credentials with an expiry that has already passed. The likely cause is clock skew between " +
        "this node and AWS (check NTP). The Secrets were left as they were; retrying with growing backoff.",
    );
  });
});
