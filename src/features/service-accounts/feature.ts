// ServiceAccount wiring as a feature (--service-accounts): follows the owners of both kinds, the Namespaces and the
// cached ServiceAccounts (cache.ts), and queues the owners whose wiring may have to change for its reconciler.
import type { Logger } from "pino";
import type { QueueMetricsFor } from "../../runtime/queue.ts";
import type { V1Namespace } from "@kubernetes/client-node";
import { CLUSTER_KIND } from "../../api/cluster-schema.ts";
import { KIND } from "../../api/schema.ts";
import { parseRecord } from "../../domain/pull-secrets.ts";
import type { CachedServiceAccount } from "../../kube/service-accounts.ts";
import type { Cache, EventSink } from "../../credentials/ports.ts";
import type { PrimaryChange } from "../../runtime/controller.ts";
import type { Informers } from "../../runtime/informer-group.ts";
import { keyOf, objectKey } from "../../runtime/object-key.ts";
import { ReconcileLoop } from "../../runtime/reconciler.ts";
import type { Feature, Owner, OwnerCaches } from "../feature.ts";
import { ServiceAccountCache } from "./cache.ts";
import { OwnerWrites, concerns, wantsWiring } from "./owner-writes.ts";
import type { ServiceAccountWriter } from "./owner-writes.ts";
import { WiringReconciler } from "./reconciler.ts";

export interface ServiceAccountWiringOptions extends OwnerCaches {
  informers: Informers;
  namespaceCache: Cache<V1Namespace> | undefined;
  /** Watched namespaces (--namespaces); empty = all. */
  watchedNamespaces: readonly string[];
  writer: ServiceAccountWriter;
  events: EventSink;
  logger: Logger;
  backoff: { baseMs: number; maxMs: number };
  /** Deadline of one reconcile (--reconcile-timeout-ms). */
  reconcileTimeoutMs: number;
  /** The work queue's metrics (workqueue_*{name}), given the queue's name. */
  queueMetrics?: QueueMetricsFor;
}

export class ServiceAccountWiring implements Feature {
  readonly name = "service-accounts";
  private readonly options: ServiceAccountWiringOptions;
  private readonly cache: ServiceAccountCache;
  private readonly loop: ReconcileLoop;

  constructor(options: ServiceAccountWiringOptions) {
    this.options = options;
    this.cache = new ServiceAccountCache({
      informers: options.informers,
      watchedNamespaces: options.watchedNamespaces,
      onChange: (sa) => this.serviceAccountChanged(sa),
      onNameSynced: (name) => {
        for (const key of this.cache.ownersOf(name)) this.loop.add(key);
      },
    });
    const reconciler = new WiringReconciler({
      ...options,
      cache: this.cache,
      writes: new OwnerWrites(options.writer, options.events),
    });
    this.loop = new ReconcileLoop(
      {
        name: this.name,
        logger: options.logger,
        concurrency: 2,
        backoff: options.backoff,
        reconcileTimeoutMs: options.reconcileTimeoutMs,
        ...(options.queueMetrics ? { metrics: options.queueMetrics } : {}),
      },
      reconciler,
    );
  }

  /** Starts the watch on wired ServiceAccounts in the background: readiness does not wait for it (RBAC may lack). */
  startCaches(): void {
    void this.cache.start().then(() => {
      for (const key of this.cache.owners()) this.loop.add(key);
    });
  }

  stopCaches(): void {
    this.cache.stop();
  }

  startWorkers(): void {
    const owners = [...this.options.resources.list(), ...(this.options.clusterResources?.list() ?? [])];
    this.loop.start(owners.filter(concerns).map((r) => keyOf(r)));
  }

  async stopWorkers(): Promise<void> {
    await this.loop.stop();
  }

  cachedObjects(): number {
    return this.cache.size();
  }

  /** An owner of either kind: follow the names it lists, and look at it again. */
  ownerChanged(owner: Owner, change: PrimaryChange): void {
    const key = keyOf(owner);
    const followed = this.cache.follows(key);
    this.cache.follow(key, !change.deleted && wantsWiring(owner) ? owner.spec.serviceAccounts! : []);
    if (followed || concerns(owner)) this.loop.add(key);
  }

  secretChanged(): void {}

  /** A Namespace changed: cluster resources may select a different set now. */
  namespaceChanged(): void {
    for (const r of this.options.clusterResources?.list() ?? []) if (wantsWiring(r)) this.loop.add(keyOf(r));
  }

  private serviceAccountChanged(sa: CachedServiceAccount): void {
    const { namespace, name } = sa.metadata;
    for (const r of this.options.resources.list(namespace))
      if (r.spec.serviceAccounts?.includes(name)) this.loop.add(keyOf(r));
    for (const r of this.options.clusterResources?.list() ?? [])
      if (r.spec.serviceAccounts?.includes(name)) this.loop.add(keyOf(r));
    for (const owner of Object.keys(parseRecord(sa.metadata.record))) {
      const slash = owner.indexOf("/");
      const kind = owner.slice(0, slash);
      const ownerName = owner.slice(slash + 1);
      if (kind === KIND) this.loop.add(objectKey(namespace, ownerName));
      else if (kind === CLUSTER_KIND) this.loop.add(objectKey(undefined, ownerName));
    }
  }
}
