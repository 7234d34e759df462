// rolloutRestart as a feature (--rollout-restart): watches Deployments, StatefulSets and DaemonSets (only names and
// the Secrets a Pod template reads are cached, never the workload), follows the owned Secrets and their owners of
// both kinds, and restarts the workloads that read a Secret after its credentials were rewritten, one reconcile per
// Secret (restarter.ts). Its caches fill apart from the others: without RBAC for them credentials are still refreshed.
import type { Logger } from "pino";
import type { QueueMetricsFor } from "../../runtime/queue.ts";
import { CLUSTER_KIND } from "../../api/cluster-schema.ts";
import { KIND, WORKLOAD_KINDS } from "../../api/schema.ts";
import type { RolloutRestartStatus, WorkloadKind } from "../../api/schema.ts";
import { consumedSecrets, workloadProjection } from "../../domain/rollout-restart.ts";
import type { CachedWorkload, RawWorkload } from "../../domain/rollout-restart.ts";
import type { CachedSecret, Cache, EventSink, EventTarget } from "../../credentials/ports.ts";
import type { PrimaryChange } from "../../runtime/controller.ts";
import { InformerGroup } from "../../runtime/informer-group.ts";
import type { Informers } from "../../runtime/informer-group.ts";
import { keyOf, objectKey } from "../../runtime/object-key.ts";
import { ReconcileLoop } from "../../runtime/reconciler.ts";
import { kindOf } from "../feature.ts";
import type { Feature, Owner, OwnerCaches } from "../feature.ts";
import type { RestartObserver, RestartOwner, WorkloadCache, WorkloadWriter } from "./ports.ts";
import { RolloutRestarter } from "./restarter.ts";

export interface RolloutRestartOptions extends OwnerCaches {
  informers: Informers;
  /** Watched namespaces (--namespaces); empty = all. */
  watchedNamespaces: readonly string[];
  /** The list and watch path of a workload kind in a namespace (undefined: all). */
  workloadPath(kind: WorkloadKind, namespace: string | undefined): string;
  secrets: Cache<CachedSecret>;
  writer: WorkloadWriter;
  /** Writes status.rolloutRestart of an owner of either kind. */
  writeStatus(owner: EventTarget, status: RolloutRestartStatus, signal?: AbortSignal): Promise<void>;
  events: EventSink;
  logger: Logger;
  refreshRatio: number;
  maxSpacingMs: number;
  minRolloutSeconds: number;
  /** Retry delay after a failed or forbidden restart. */
  retryMs: number;
  backoff: { baseMs: number; maxMs: number };
  /** Deadline of one run (--reconcile-timeout-ms). */
  reconcileTimeoutMs: number;
  /** The work queue's metrics (workqueue_*{name}), given the queue's name. */
  queueMetrics?: QueueMetricsFor;
  observer?: RestartObserver;
  now?: () => Date;
}

/** The index of the workload caches: Secret name → the workloads whose Pod template reads it. */
const SECRET_INDEX = "secret";

export class RolloutRestartFeature implements Feature {
  readonly name = "rollout-restart";
  readonly restarter: RolloutRestarter;
  private readonly options: RolloutRestartOptions;
  private readonly workloads = new Map<WorkloadKind, InformerGroup<CachedWorkload>>();
  private readonly loop: ReconcileLoop;
  private cachesStarted: Promise<void> | undefined;

  constructor(options: RolloutRestartOptions) {
    this.options = options;
    for (const kind of WORKLOAD_KINDS) {
      const group = new InformerGroup<CachedWorkload>({
        informers: options.informers,
        scopes: options.watchedNamespaces,
        spec: (ns) => ({
          name: `${kind.toLowerCase()}s@${ns ?? "*"}`,
          path: options.workloadPath(kind, ns),
          transform: (obj) => workloadProjection(kind, obj as RawWorkload),
          indexers: { [SECRET_INDEX]: consumedSecrets },
        }),
      });
      group.subscribe((w) => this.workloadChanged(w));
      this.workloads.set(kind, group);
    }
    const cache: WorkloadCache = {
      get: (kind, namespace, name) => this.workloads.get(kind)!.get(namespace, name),
      readers: (namespace, secretName) =>
        [...this.workloads.values()].flatMap((g) => g.byIndex(SECRET_INDEX, secretName, namespace)),
    };
    this.restarter = new RolloutRestarter({
      secrets: options.secrets,
      workloads: cache,
      writer: options.writer,
      events: options.events,
      logger: options.logger,
      ownerOf: (secret) => this.ownerOf(secret),
      refreshRatio: options.refreshRatio,
      maxSpacingMs: options.maxSpacingMs,
      minRolloutSeconds: options.minRolloutSeconds,
      retryMs: options.retryMs,
      ...(options.observer ? { observer: options.observer } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.loop = new ReconcileLoop(
      {
        name: this.name,
        logger: options.logger,
        concurrency: 4,
        backoff: options.backoff,
        reconcileTimeoutMs: options.reconcileTimeoutMs,
        ...(options.queueMetrics ? { metrics: options.queueMetrics } : {}),
      },
      this.restarter,
    );
  }

  startCaches(): void {
    this.cachesStarted ??= Promise.all([...this.workloads.values()].map((g) => g.start())).then(
      () => undefined,
    );
  }

  /** Restarts begin once the workload caches are filled (their list may fail for want of RBAC: it is retried). */
  startWorkers(): void {
    this.startCaches();
    this.working = true;
    void this.cachesStarted?.then(() => {
      if (this.working) this.loop.start(this.options.secrets.list().map((s) => keyOf(s)));
    });
  }

  private working = false;

  async stopWorkers(): Promise<void> {
    this.working = false;
    await this.loop.stop();
  }

  stopCaches(): void {
    for (const g of this.workloads.values()) g.stop();
  }

  cachedObjects(): number {
    let n = 0;
    for (const g of this.workloads.values()) n += g.list().length;
    return n;
  }

  /** A spec or metadata change: the owner's Secrets look again. A deleted owner is forgotten. */
  ownerChanged(owner: Owner, change: PrimaryChange): void {
    if (change.deleted) {
      this.restarter.forgetOwner(owner.metadata.uid ?? "");
      return;
    }
    if (change.statusOnly) return;
    if (kindOf(owner) === KIND) {
      this.loop.add(objectKey(owner.metadata.namespace, owner.spec.secretName));
      return;
    }
    for (const s of this.options.secrets.list()) {
      const ref = s.metadata.ownerReferences?.find((r) => r.controller && r.kind === CLUSTER_KIND);
      if (ref?.uid === owner.metadata.uid) this.loop.add(keyOf(s));
    }
  }

  /** Before any echo check: our own Secret write is exactly what restarts follow. */
  secretChanged(secret: CachedSecret, left: boolean): void {
    this.restarter.secretChanged(secret, left);
    if (!left) this.loop.add(keyOf(secret));
  }

  namespaceChanged(): void {}

  /** A workload changed: the Secrets it reads, and those whose owners name it as a target, look again. */
  private workloadChanged(w: CachedWorkload): void {
    const namespace = w.metadata.namespace!;
    for (const name of new Set([...w.envSecrets, ...w.volumeSecrets])) {
      if (this.options.secrets.get(namespace, name)) this.loop.add(objectKey(namespace, name));
    }
    const names = (targets: { kind: string; name: string }[] | undefined) =>
      targets?.some((t) => t.kind === w.kind && t.name === w.metadata.name) === true;
    for (const r of this.options.resources.list(namespace)) {
      if (names(r.spec.rolloutRestart?.targets)) this.loop.add(objectKey(namespace, r.spec.secretName));
    }
    for (const r of this.options.clusterResources?.list() ?? []) {
      if (names(r.spec.rolloutRestart?.targets) && this.options.secrets.get(namespace, r.spec.secretName)) {
        this.loop.add(objectKey(namespace, r.spec.secretName));
      }
    }
  }

  /** The resource that owns an owned Secret, with what rolloutRestart reads and writes of it. */
  private ownerOf(secret: CachedSecret): RestartOwner | undefined {
    const meta = secret.metadata;
    const ref = meta.ownerReferences?.find(
      (r) => r.controller && (r.kind === KIND || r.kind === CLUSTER_KIND),
    );
    if (!ref) return undefined;
    const namespace = ref.kind === CLUSTER_KIND ? "" : meta.namespace!;
    const r =
      ref.kind === CLUSTER_KIND
        ? this.options.clusterResources?.get("", ref.name)
        : this.options.resources.get(namespace, ref.name);
    if (!r || r.metadata.uid !== ref.uid) return undefined;
    const target: EventTarget = {
      apiVersion: r.apiVersion,
      kind: ref.kind,
      namespace,
      name: ref.name,
      uid: ref.uid,
    };
    return {
      key: ref.uid,
      target,
      spec: r.spec.rolloutRestart,
      status: r.status?.rolloutRestart,
      writeStatus: (status, signal) => this.options.writeStatus(target, status, signal),
    };
  }
}
