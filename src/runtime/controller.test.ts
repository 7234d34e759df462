// The generic Controller through fake informers: the status-only event filter, owned objects mapped to their owner
// (ownerReference, then the owner-uid annotation), the watches mapper, the per-reconcile deadline, the error policy.
import { afterEach, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { Controller } from "./controller.ts";
import type { PrimaryChange } from "./controller.ts";
import { InformerGroup } from "./informer-group.ts";
import type { RuntimeObject } from "./informer-group.ts";
import { FakeInformers } from "./informers.fakes.ts";
import type { Reconciler } from "./reconciler.ts";
import { done, temporaryError } from "./result.ts";
import type { ReconcileResult } from "./result.ts";

interface Thing extends RuntimeObject {
  metadata: NonNullable<RuntimeObject["metadata"]>;
  status?: string;
}

/** Records each reconcile; `next` decides its result. */
class RecordingReconciler implements Reconciler {
  readonly keys: string[] = [];
  readonly signals: AbortSignal[] = [];
  next: (key: string, signal: AbortSignal) => Promise<ReconcileResult> = () => Promise.resolve(done());
  private waiters: (() => void)[] = [];

  reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    this.keys.push(key);
    this.signals.push(signal);
    for (const w of this.waiters.splice(0)) w();
    return this.next(key, signal);
  }

  /** Resolves once `n` reconciles have started. */
  async started(n: number): Promise<void> {
    while (this.keys.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

function group<T extends RuntimeObject>(informers: FakeInformers, name: string, scopes: string[] = []) {
  return new InformerGroup<T>({
    informers: informers.port,
    scopes,
    spec: (ns) => ({ name: `${name}@${ns ?? "*"}`, path: `/${name}`, transform: (o) => o as T }),
  });
}

function setup(options: { reconcileTimeoutMs?: number; clusterScoped?: boolean } = {}) {
  const informers = new FakeInformers();
  const things = group<Thing>(informers, "things");
  const owned = group<Thing>(informers, "owned");
  const others = group<Thing>(informers, "others");
  const reconciler = new RecordingReconciler();
  const ownStatus = new Set<string>();
  const changes: PrimaryChange[] = [];
  const forgotten: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const controller = new Controller<Thing>({
    name: "Thing",
    logger,
    concurrency: 1,
    backoff: { baseMs: 1, maxMs: 1 },
    reconcileTimeoutMs: options.reconcileTimeoutMs ?? 60_000,
    ...(options.clusterScoped ? { clusterScoped: true } : {}),
  })
    .for(things, { reconcileStatusOnly: (key) => !ownStatus.has(key) })
    .owns(owned, {
      kind: "Thing",
      ownerUidAnnotation: "owner-uid",
      filter: (_key, obj) => obj.metadata.labels?.["echo"] !== "true",
    })
    .watches(others, (obj) => (obj.metadata.labels?.["wakes"] ? [obj.metadata.labels["wakes"]] : []))
    .observe((_obj, change) => changes.push(change))
    .onForget((key) => forgotten.push(key))
    .run(reconciler);
  return {
    controller,
    reconciler,
    ownStatus,
    changes,
    forgotten,
    lines,
    things: informers.get<Thing>("things@*"),
    owned: informers.get<Thing>("owned@*"),
    others: informers.get<Thing>("others@*"),
  };
}

const thing = (name: string, extra: Partial<Thing["metadata"]> = {}, status?: string): Thing => ({
  metadata: { namespace: "ns", name, uid: `uid-${name}`, generation: 1, ...extra },
  ...(status ? { status } : {}),
});

afterEach(() => mock.timers.reset());

describe("Controller", () => {
  test("queues every cached primary object when workers start, and nothing before", async () => {
    const h = setup();
    h.things.put(thing("a"));
    h.things.put(thing("b"));
    assert.equal(h.controller.depth(), 0, "no work before startWorkers");
    h.controller.startWorkers();
    await h.reconciler.started(2);
    assert.deepEqual(h.reconciler.keys.sort(), ["ns/a", "ns/b"]);
    await h.controller.stopWorkers();
  });

  test("a status-only update is reconciled unless the filter calls it the controller's own", async () => {
    const h = setup();
    h.controller.startWorkers();
    h.things.put(thing("a"));
    await h.reconciler.started(1);
    h.ownStatus.add("ns/a");
    h.things.put(thing("a", {}, "written by us"));
    h.things.put(thing("a", { generation: 2 }, "written by us")); // a spec change counts, whatever the status
    await h.reconciler.started(2);
    h.ownStatus.delete("ns/a");
    h.things.put(thing("a", { generation: 2 }, "edited by someone"));
    await h.reconciler.started(3);
    await h.controller.stopWorkers();
    assert.equal(h.reconciler.keys.length, 3);
    assert.deepEqual(
      h.changes.map((c) => c.statusOnly),
      [false, true, false, true],
    );
  });

  test("owned objects reconcile their owner: by controller ownerReference, else by the owner-uid annotation", async () => {
    const h = setup();
    h.things.put(thing("a"));
    h.controller.startWorkers();
    await h.reconciler.started(1);
    const ref = { kind: "Thing", name: "a", uid: "uid-a", controller: true };
    h.owned.put(thing("s1", { ownerReferences: [ref] }));
    await h.reconciler.started(2);
    h.owned.put(thing("s2", { annotations: { "owner-uid": "uid-a" } }));
    await h.reconciler.started(3);
    h.owned.put(thing("s3", { ownerReferences: [{ ...ref, kind: "Other" }] })); // another kind's
    h.owned.put(thing("s4", { ownerReferences: [ref], labels: { echo: "true" } })); // dropped by the filter
    h.owned.put(thing("s5", { annotations: { "owner-uid": "uid-unknown" } }));
    h.others.put(thing("o", { labels: { wakes: "ns/a" } }));
    await h.reconciler.started(4);
    await h.controller.stopWorkers();
    assert.deepEqual(h.reconciler.keys, ["ns/a", "ns/a", "ns/a", "ns/a"]);
  });

  test("a cluster-scoped primary kind maps owned objects to bare names", async () => {
    const h = setup({ clusterScoped: true });
    h.controller.startWorkers();
    h.owned.put(
      thing("copy", { ownerReferences: [{ kind: "Thing", name: "c", uid: "u", controller: true }] }),
    );
    await h.reconciler.started(1);
    await h.controller.stopWorkers();
    assert.deepEqual(h.reconciler.keys, ["c"]);
  });

  test("a deleted primary object is forgotten and reconciled once more; its uid no longer maps", async () => {
    const h = setup();
    h.things.put(thing("a"));
    h.things.remove(thing("a"));
    assert.deepEqual(h.forgotten, ["ns/a"]);
    h.controller.startWorkers();
    h.owned.put(thing("s", { annotations: { "owner-uid": "uid-a" } }));
    h.others.put(thing("o", { labels: { wakes: "ns/b" } }));
    await h.reconciler.started(1);
    await h.controller.stopWorkers();
    assert.deepEqual(h.reconciler.keys, ["ns/b"]);
  });

  test("each reconcile's signal aborts at the reconcile deadline", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const h = setup({ reconcileTimeoutMs: 5_000 });
    h.reconciler.next = (_key, signal) =>
      new Promise((resolve) => signal.addEventListener("abort", () => resolve(done())));
    h.things.put(thing("a"));
    h.controller.startWorkers();
    await h.reconciler.started(1);
    const signal = h.reconciler.signals[0]!;
    mock.timers.tick(4_999);
    assert.equal(signal.aborted, false);
    mock.timers.tick(1);
    assert.equal(signal.aborted, true);
    await h.controller.stopWorkers();
  });

  test("error policy: a failure is logged with the key's namespace and name, and retried with backoff", async () => {
    const h = setup();
    let calls = 0;
    h.reconciler.next = () => Promise.resolve(++calls === 1 ? temporaryError(new Error("boom")) : done());
    h.things.put(thing("a"));
    h.controller.startWorkers();
    await h.reconciler.started(2);
    await h.controller.stopWorkers();
    const line = h.lines.find((l) => l.err === "boom");
    assert.ok(line, "the failure is logged");
    assert.equal(line.namespace, "ns");
    assert.equal(line.name, "a");
    assert.equal(line.controller, "Thing");
    assert.equal(line.msg, "reconcile failed; retrying with backoff");
  });
});
