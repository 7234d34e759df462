// The generic controller, built declaratively like controller-runtime's builder and kube-rs's Controller:
// `new Controller(options).for(primary, filter).owns(owned, ...).watches(other, mapper).run(reconciler)`. Events of
// the primary kind, of the objects it owns (mapped to their owner's key through a controller ownerReference, or an
// owner-uid annotation once the reference is gone) and of anything else it watches become object keys in one
// ReconcileLoop. Knows no kind: the kinds' names and the predicates come from the caller.
import type { Logger } from "pino";
import { contentHash } from "./content-hash.ts";
import type { InformerGroup, RuntimeObject, WatchEventType } from "./informer-group.ts";
import { keyOf, objectKey } from "./object-key.ts";
import { ReconcileLoop } from "./reconciler.ts";
import type { Reconciler } from "./reconciler.ts";
import type { QueueMetricsFor } from "./queue.ts";

export interface ControllerOptions {
  /** The kind it reconciles, for logs and metrics. */
  name: string;
  /** The primary kind is cluster-scoped: its keys are bare names (object-key.ts). */
  clusterScoped?: boolean;
  logger: Logger;
  concurrency: number;
  backoff: { baseMs: number; maxMs: number };
  reconcileTimeoutMs: number;
  metrics?: QueueMetricsFor;
}

/**
 * The event filter of the primary kind. An update that changes neither uid, generation, labels nor annotations is
 * status-only: it is reconciled only when `reconcileStatusOnly` says so (a status edited by someone else), never for
 * the controller's own status write coming back or its own failure report (that would bypass the backoff).
 */
export interface PrimaryFilter<K> {
  reconcileStatusOnly(key: string, obj: K): boolean;
}

/** What a primary event was, for the observers (features): `statusOnly` as decided by the filter's hash. */
export interface PrimaryChange {
  deleted: boolean;
  statusOnly: boolean;
}

export type PrimaryObserver<K> = (obj: K, change: PrimaryChange) => void;

export interface OwnsOptions<O> {
  /** The owner's kind as ownerReferences name it. */
  kind: string;
  /** An annotation holding the owner's uid: the owner is still found after its ownerReference was removed. */
  ownerUidAnnotation?: string;
  /** Whether the event (for the owner `key`) needs a reconcile: false for the controller's own write echoed back. */
  filter?: (key: string, obj: O, type: WatchEventType) => boolean;
}

/** Maps an event of a watched object to the keys of the primary objects that should look again. */
export type Mapper<O> = (obj: O, type: WatchEventType) => Iterable<string>;

export class Controller<K extends RuntimeObject> {
  readonly name: string;
  private readonly options: ControllerOptions;
  private primary: InformerGroup<K> | undefined;
  private filter: PrimaryFilter<K> | undefined;
  private loop: ReconcileLoop | undefined;
  private readonly observers: PrimaryObserver<K>[] = [];
  private readonly forgetters: ((key: string) => void)[] = [];
  /** Hash of uid, generation, labels and annotations per primary object, to tell status-only updates apart. */
  private readonly metadataHashes = new Map<string, string>();
  /** uid → key of each primary object, to find the owner of an object whose ownerReferences were removed. */
  private readonly keysByUid = new Map<string, string>();

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.options = options;
  }

  /** The primary kind: its events are filtered (PrimaryFilter), then reconciled. */
  for(primary: InformerGroup<K>, filter?: PrimaryFilter<K>): this {
    this.primary = primary;
    this.filter = filter;
    primary.subscribe((obj, type) => (type === "delete" ? this.deleted(obj) : this.changed(obj)));
    return this;
  }

  /** Objects the primary kind owns: each event reconciles its owner, unless the filter drops it. */
  owns<O extends RuntimeObject>(owned: InformerGroup<O>, options: OwnsOptions<O>): this {
    owned.subscribe((obj, type) => {
      const key = this.ownerKey(obj, options);
      if (key === undefined) return;
      if (options.filter && !options.filter(key, obj, type)) return;
      this.enqueue(key);
    });
    return this;
  }

  /** Anything else: `mapper` names the primary objects an event concerns. */
  watches<O extends RuntimeObject>(other: InformerGroup<O>, mapper: Mapper<O>): this {
    other.subscribe((obj, type) => {
      for (const key of mapper(obj, type)) this.enqueue(key);
    });
    return this;
  }

  /** Told of every primary event after the filter's bookkeeping (the features follow their owners through it). */
  observe(observer: PrimaryObserver<K>): this {
    this.observers.push(observer);
    return this;
  }

  /** Called with the key of each deleted primary object, to drop per-object state. */
  onForget(forget: (key: string) => void): this {
    this.forgetters.push(forget);
    return this;
  }

  /** The reconciler; workers start with startWorkers(). */
  run(reconciler: Reconciler): this {
    this.loop = new ReconcileLoop({ ...this.options, name: this.name }, reconciler);
    return this;
  }

  /** Starts reconciling (the leader): every cached primary object is queued once. */
  startWorkers(): void {
    this.requireLoop().start(this.keys());
  }

  async stopWorkers(): Promise<void> {
    await this.loop?.stop();
  }

  /** Reconcile `key` soon (ignored while workers do not run). */
  enqueue(key: string): void {
    this.loop?.add(key);
  }

  /** The keys of every cached primary object (a watch mapper's "all of them"). */
  keys(namespace?: string): string[] {
    return (this.primary?.list(namespace) ?? []).map((o) => keyOf(o));
  }

  depth(): number {
    return this.loop?.depth() ?? 0;
  }

  private requireLoop(): ReconcileLoop {
    if (!this.loop) throw new Error(`controller ${this.name}: run() was not called`);
    return this.loop;
  }

  private ownerKey<O extends RuntimeObject>(obj: O, options: OwnsOptions<O>): string | undefined {
    const meta = obj.metadata ?? {};
    const ref = meta.ownerReferences?.find((r) => r.controller && r.kind === options.kind);
    if (ref) return objectKey(this.options.clusterScoped ? undefined : meta.namespace, ref.name);
    const uid = options.ownerUidAnnotation ? meta.annotations?.[options.ownerUidAnnotation] : undefined;
    return uid ? this.keysByUid.get(uid) : undefined;
  }

  private changed(obj: K): void {
    const key = keyOf(obj);
    const meta = obj.metadata ?? {};
    if (meta.uid) this.keysByUid.set(meta.uid, key);
    // Hashed: annotations may hold a whole manifest (kubectl's last-applied-configuration).
    const hash = contentHash([meta.uid, meta.generation, meta.labels ?? {}, meta.annotations ?? {}]);
    const statusOnly = this.metadataHashes.get(key) === hash;
    this.metadataHashes.set(key, hash);
    for (const observer of this.observers) observer(obj, { deleted: false, statusOnly });
    if (statusOnly && this.filter && !this.filter.reconcileStatusOnly(key, obj)) return;
    this.enqueue(key);
  }

  private deleted(obj: K): void {
    const key = keyOf(obj);
    for (const observer of this.observers) observer(obj, { deleted: true, statusOnly: false });
    this.metadataHashes.delete(key);
    const uid = obj.metadata?.uid;
    if (uid) this.keysByUid.delete(uid);
    this.loop?.forget(key);
    for (const forget of this.forgetters) forget(key);
    this.enqueue(key); // lets the reconciler clear per-object state and metrics
  }
}
