// The ClusterAWSAssumeRole side of the controller: an informer on the cluster-scoped resources and a work queue of
// their names. It shares the Secret and Namespace caches with the namespaced side; the Controller forwards Secret
// events of copies it owns and every Namespace change (a namespace that starts or stops matching a selector is
// served or cleaned up within seconds: no polling).
import type { V1Namespace } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.ts";
import type { CachedSecret } from "./ports.ts";
import { CLUSTER_KIND } from "../api/cluster-schema.ts";
import type { ClusterAWSAssumeRole } from "../api/cluster-schema.ts";
import { READY } from "../domain/conditions.ts";
import { Informer } from "../kube/informer.ts";
import { leanObject } from "../kube/projection.ts";
import { ClusterAWSAssumeRoleClient } from "../kube/cluster-resources.ts";
import { ClusterReconciler } from "./cluster-reconciler.ts";
import type { ClusterReconcilerOptions } from "./cluster-reconciler.ts";
import { contentHash } from "../runtime/content-hash.ts";
import { WorkQueue } from "../runtime/queue.ts";
import type { QueueMetrics } from "../runtime/queue.ts";

export interface ClusterControllerOptions extends Omit<
  ClusterReconcilerOptions,
  "resources" | "statusWriter"
> {
  client: KubeClient;
  concurrency: number;
  backoff: { baseMs: number; maxMs: number };
  stallAfterMs: number;
  relistEveryMs: number;
  queueMetrics?: QueueMetrics;
  /** Deadline of one status write. */
  requestTimeoutMs?: number;
  /** Deadline of one reconcile (all its writes included): every outside call is aborted then. */
  reconcileTimeoutMs: number;
  /** Every resource event, for the ServiceAccount wiring. */
  onResource?: (r: ClusterAWSAssumeRole, deleted: boolean) => void;
  /** Told of every spec or metadata change and every delete (rolloutRestart looks at the resource's Secrets). */
  onResourceChanged?: (r: ClusterAWSAssumeRole, deleted: boolean) => void;
}

export class ClusterController {
  readonly queue: WorkQueue;
  readonly reconciler: ClusterReconciler;
  readonly informer: Informer<ClusterAWSAssumeRole>;
  /** Hash of uid, generation, labels and annotations per resource, to tell status-only updates apart. */
  private readonly metadataHashes = new Map<string, string>();
  /** Hash of labels and annotations per namespace, to requeue only when something a selector reads changed. */
  private readonly namespaceHashes = new Map<string, string>();
  private readonly onResource: ((r: ClusterAWSAssumeRole, deleted: boolean) => void) | undefined;
  private working = false;
  private readonly onResourceChanged: ((r: ClusterAWSAssumeRole, deleted: boolean) => void) | undefined;

  constructor(o: ClusterControllerOptions) {
    this.onResourceChanged = o.onResourceChanged;
    const client = new ClusterAWSAssumeRoleClient(o.client);
    this.onResource = o.onResource;
    this.informer = new Informer<ClusterAWSAssumeRole>({
      client: o.client,
      logger: o.logger,
      stallAfterMs: o.stallAfterMs,
      relistEveryMs: o.relistEveryMs,
      ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
      name: "clusterawsassumeroles",
      path: ClusterAWSAssumeRoleClient.path,
      transform: (obj) => leanObject(obj as ClusterAWSAssumeRole),
      onAdd: (r) => this.resourceChanged(r),
      onUpdate: (r) => this.resourceChanged(r),
      onDelete: (r) => this.resourceDeleted(r),
    });
    this.reconciler = new ClusterReconciler({
      // One reconcile writes many copies: as many at once as the worker pool would reconcile resources.
      writeConcurrency: o.concurrency,
      ...o,
      resources: this.informer,
      statusWriter: client,
    });
    this.queue = new WorkQueue({
      concurrency: Math.max(1, Math.min(o.concurrency, 4)),
      backoff: o.backoff,
      handler: (name) => this.reconciler.reconcile(name, AbortSignal.timeout(o.reconcileTimeoutMs)),
      onError: (name, err, kind) =>
        o.logger.debug({ kind: CLUSTER_KIND, name, err: err.message, result: kind }, "reconcile failed"),
      ...(o.queueMetrics ? { metrics: o.queueMetrics } : {}),
    });
  }

  startWorkers(): void {
    this.working = true;
    for (const r of this.informer.list()) this.queue.add(r.metadata.name!);
    this.queue.start();
  }

  async stopWorkers(): Promise<void> {
    this.working = false;
    await this.queue.shutdown();
  }

  resourceCount(): number {
    return this.informer.list().length;
  }

  /** A Secret event for a copy one of our resources owns; `left`: it left the label-filtered cache. */
  secretChanged(owner: string, s: CachedSecret, left: boolean): void {
    if (left) this.reconciler.expectOutsideCache(owner, s.metadata?.namespace ?? "");
    else if (this.reconciler.isOwnSecretWrite(owner, s)) return;
    if (this.working) this.queue.add(owner);
  }

  /** Any Namespace event: when its labels or annotations changed, every cluster resource looks again. */
  namespaceChanged(n: V1Namespace, deleted: boolean): void {
    const name = n.metadata?.name ?? "";
    const hash = contentHash([
      n.metadata?.labels ?? {},
      n.metadata?.annotations ?? {},
      !!n.metadata?.deletionTimestamp,
    ]);
    if (deleted) this.namespaceHashes.delete(name);
    else if (this.namespaceHashes.get(name) === hash) return;
    else this.namespaceHashes.set(name, hash);
    if (!this.working) return;
    for (const r of this.informer.list()) this.queue.add(r.metadata.name!);
  }

  private resourceChanged(r: ClusterAWSAssumeRole): void {
    this.onResource?.(r, false);
    const name = r.metadata.name!;
    const metadataHash = contentHash([
      r.metadata.uid,
      r.metadata.generation,
      r.metadata.labels ?? {},
      r.metadata.annotations ?? {},
    ]);
    const statusOnly = this.metadataHashes.get(name) === metadataHash;
    this.metadataHashes.set(name, metadataHash);
    if (!statusOnly) this.onResourceChanged?.(r, false);
    const failing = r.status?.conditions?.some((c) => c.type === READY && c.status === "False") === true;
    if (statusOnly && (failing || this.reconciler.isOwnStatus(name, r))) return;
    if (this.working) this.queue.add(name);
  }

  private resourceDeleted(r: ClusterAWSAssumeRole): void {
    this.onResource?.(r, true);
    const name = r.metadata.name!;
    this.onResourceChanged?.(r, true);
    this.metadataHashes.delete(name);
    this.queue.forget(name);
    this.reconciler.forget(name);
    if (this.working) this.queue.add(name);
  }
}
