// The controller: informers on AWSAssumeRoles and on the operator's own Secrets (label-filtered: unrelated Secrets
// are never cached) feed resource keys into the work queue; workers run the reconciler. Caches run on every
// replica (standbys stay warm and ready); workers run only while this replica leads.
import type { V1Namespace } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.ts";
import type { Logger } from "pino";
import type { AWSAssumeRole } from "../api/schema.ts";
import { KIND } from "../api/schema.ts";
import { CLUSTER_KIND } from "../api/cluster-schema.ts";
import { READY } from "../domain/conditions.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SecretAnnotation } from "../domain/plan.ts";
import { PERMITTED_ROLES_ANNOTATION } from "../domain/namespace-permissions.ts";
import { Informer } from "../kube/informer.ts";
import type { InformerHealth, MetaObject } from "../kube/informer.ts";
import { leanObject } from "../kube/projection.ts";
import { AWSAssumeRoleClient } from "../kube/resources.ts";
import { ClusterAWSAssumeRoleClient } from "../kube/cluster-resources.ts";
import { WorkloadClient, workloadPath } from "../kube/workloads.ts";
import { WORKLOAD_KINDS } from "../api/schema.ts";
import type { RolloutRestartStatus, WorkloadKind } from "../api/schema.ts";
import type { ClusterAWSAssumeRole } from "../api/cluster-schema.ts";
import { consumedSecrets, workloadProjection } from "../domain/rollout-restart.ts";
import type { CachedWorkload, RawWorkload } from "../domain/rollout-restart.ts";
import { RolloutRestarter } from "./rollout-restarter.ts";
import type { RestartObserver, RestartOwner, WorkloadCache } from "./rollout-restarter.ts";
import { ClusterController } from "./cluster-controller.ts";
import type { ClusterObserver } from "./cluster-reconciler.ts";
import { PermittedRolesWatch } from "./permitted-roles.ts";
import { WorkQueue } from "./queue.ts";
import type { QueueMetrics } from "./queue.ts";
import { contentHash } from "./content-hash.ts";
import { OWNER_INDEX } from "./ports.ts";
import type { Cache, CachedSecret } from "./ports.ts";
import { Reconciler, splitKey } from "./reconciler.ts";
import type { ReconcilerOptions } from "./reconciler.ts";
import { cachedSecret, ownerUids } from "./secret-view.ts";
import { ServiceAccountClient } from "../kube/service-accounts.ts";
import { ServiceAccountWiring } from "./service-account-wiring.ts";

export const SECRET_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

export interface ControllerOptions extends Omit<
  ReconcilerOptions,
  "resources" | "secrets" | "logger" | "statusWriter" | "namespaceCache"
> {
  client: KubeClient;
  logger: Logger;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  concurrency: number;
  backoff: { baseMs: number; maxMs: number };
  stallAfterMs: number;
  relistEveryMs: number;
  queueMetrics?: QueueMetrics;
  /** Namespace limits: watch Namespaces for their permitted-roles annotation. */
  namespacePermissions: boolean;
  /** Reconcile ClusterAWSAssumeRoles too (--cluster-assume-roles); watches Namespaces. */
  clusterAssumeRoles?: boolean;
  clusterObserver?: ClusterObserver;
  /** Wire pull secrets into ServiceAccounts (--service-accounts). */
  serviceAccounts?: boolean;
  /** Deadline of one status write. */
  requestTimeoutMs?: number;
  /** Deadline of one reconcile: every outside call it makes is aborted then, and it is retried with backoff. */
  reconcileTimeoutMs?: number;
  /** rolloutRestart (--rollout-restart): watch workloads and restart those that read our Secrets. */
  rolloutRestart?: { maxSpacingMs: number; minRolloutSeconds: number; observer?: RestartObserver };
}

/** The index of the workload caches: Secret name → the workloads whose Pod template reads it. */
const SECRET_INDEX = "secret";

const DEFAULT_RECONCILE_TIMEOUT_MS = 60_000;

/** Several informers (one per watched namespace, or one for all) behind one cache interface. */
class InformerGroup<T extends MetaObject> implements Cache<T> {
  readonly informers: Informer<T>[];
  private readonly all: boolean;

  constructor(informers: Informer<T>[], all: boolean) {
    this.informers = informers;
    this.all = all;
  }

  private pick(namespace: string): Informer<T> | undefined {
    return this.all ? this.informers[0] : this.informers.find((i) => i.name.endsWith(`@${namespace}`));
  }

  get(namespace: string, name: string): T | undefined {
    return this.pick(namespace)?.get(namespace, name);
  }

  list(namespace?: string): readonly T[] {
    if (namespace === undefined) return this.informers.flatMap((i) => i.list());
    return this.pick(namespace)?.list(namespace) ?? [];
  }

  /** The objects an index maps `value` to, in `namespace`. */
  byIndex(index: string, value: string, namespace: string): T[] {
    return (this.pick(namespace)?.byIndex(index, value) ?? []).filter(
      (o) => o.metadata?.namespace === namespace,
    );
  }

  start(): Promise<void[]> {
    return Promise.all(this.informers.map((i) => i.start()));
  }

  stop(): void {
    for (const i of this.informers) i.stop();
  }
}

export class Controller {
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler;
  private readonly resources: InformerGroup<AWSAssumeRole>;
  private readonly secrets: InformerGroup<CachedSecret>;
  private readonly namespaces: Informer<V1Namespace> | undefined;
  /** The ClusterAWSAssumeRole side, with --cluster-assume-roles. */
  readonly cluster: ClusterController | undefined;
  /** spec.serviceAccounts of both kinds (its own queue; told the feature is off without --service-accounts). */
  readonly wiring: ServiceAccountWiring;
  /** Namespaces' permitted-roles annotations, tracked only with --namespace-permissions. */
  private readonly permittedRoles = new PermittedRolesWatch();
  private readonly namespacePermissions: boolean;
  private readonly logger: Logger;
  private readonly stallAfterMs: number;
  /** uid → key, to find the owner of a Secret whose ownerReferences were removed. */
  private readonly keysByUid = new Map<string, string>();
  /** Hash of uid, generation, labels and annotations per resource, to tell status-only updates apart. */
  private readonly metadataHashes = new Map<string, string>();
  private working = false;
  private cachesStarted: Promise<void> | undefined;
  /** The workload caches fill apart: without RBAC for them, credentials must still be refreshed. */
  private workloadCachesStarted: Promise<void> | undefined;
  /** rolloutRestart: one cache per workload kind, and the restarter. */
  private readonly workloads: Map<WorkloadKind, InformerGroup<CachedWorkload>> | undefined;
  readonly restarter: RolloutRestarter | undefined;

  constructor(o: ControllerOptions) {
    this.logger = o.logger;
    this.stallAfterMs = o.stallAfterMs;
    this.namespacePermissions = o.namespacePermissions;
    const all = o.namespaces.length === 0;
    const scopes = all ? [undefined] : o.namespaces;
    const resourceClient = new AWSAssumeRoleClient(o.client);
    const common = {
      client: o.client,
      logger: o.logger,
      stallAfterMs: o.stallAfterMs,
      relistEveryMs: o.relistEveryMs,
      ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    };

    this.resources = new InformerGroup(
      scopes.map(
        (ns) =>
          new Informer<AWSAssumeRole>({
            ...common,
            name: `awsassumeroles@${ns ?? "*"}`,
            path: AWSAssumeRoleClient.path(ns),
            transform: (obj) => leanObject(obj as AWSAssumeRole),
            onAdd: (r) => this.resourceChanged(r),
            onUpdate: (r) => this.resourceChanged(r),
            onDelete: (r) => this.resourceDeleted(r),
          }),
      ),
      all,
    );
    this.secrets = new InformerGroup(
      scopes.map(
        (ns) =>
          new Informer<CachedSecret>({
            ...common,
            name: `secrets@${ns ?? "*"}`,
            path: ns ? `/api/v1/namespaces/${ns}/secrets` : "/api/v1/secrets",
            labelSelector: SECRET_SELECTOR,
            // Metadata and the hash of the data: no credentials in the cache.
            transform: (obj) => cachedSecret(obj as CachedSecret),
            indexers: { [OWNER_INDEX]: ownerUids },
            onAdd: (s) => this.secretChanged(s),
            onUpdate: (s) => this.secretChanged(s),
            onDelete: (s) => this.secretChanged(s, true),
          }),
      ),
      all,
    );
    this.namespaces =
      o.namespacePermissions || o.clusterAssumeRoles
        ? new Informer<V1Namespace>({
            ...common,
            name: "namespaces@*",
            path: "/api/v1/namespaces",
            transform: (obj) => leanObject(obj as V1Namespace),
            onAdd: (n) => this.namespaceChanged(n),
            onUpdate: (n) => this.namespaceChanged(n),
            onDelete: (n) => this.namespaceDeleted(n),
          })
        : undefined;
    this.cluster =
      o.clusterAssumeRoles && this.namespaces
        ? new ClusterController({
            ...o,
            onResourceChanged: (r, deleted) => this.clusterResourceChanged(r, deleted),
            ...(o.clusterObserver ? { observer: o.clusterObserver } : {}),
            secrets: this.secrets,
            namespaces: this.namespaces,
            watchedNamespaces: o.namespaces,
            reconcileTimeoutMs: o.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS,
            onResource: (r, deleted) =>
              deleted ? this.wiring.resourceDeleted(r) : this.wiring.resourceChanged(r),
          })
        : undefined;
    this.wiring = new ServiceAccountWiring({
      enabled: o.serviceAccounts ?? false,
      clusterAssumeRoles: o.clusterAssumeRoles ?? false,
      client: o.client,
      logger: o.logger,
      resources: this.resources,
      clusterResources: this.cluster?.informer,
      namespaces: this.namespaces,
      watchedNamespaces: o.namespaces,
      writer: new ServiceAccountClient(o.client),
      events: o.events,
      backoff: o.backoff,
      stallAfterMs: o.stallAfterMs,
      relistEveryMs: o.relistEveryMs,
      ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
      reconcileTimeoutMs: o.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS,
    });
    this.reconciler = new Reconciler({
      ...o,
      // The cache is only where the annotation is read; o.namespacePermissions alone decides whether it applies.
      ...(this.namespaces ? { namespaceCache: this.namespaces } : {}),
      resources: this.resources,
      secrets: this.secrets,
      statusWriter: resourceClient,
      logger: o.logger,
    });
    this.queue = new WorkQueue({
      concurrency: o.concurrency,
      backoff: o.backoff,
      handler: (key) =>
        this.reconciler.reconcile(
          key,
          AbortSignal.timeout(o.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS),
        ),
      onError: (key, err, kind) => {
        const [namespace, name] = splitKey(key);
        o.logger.debug(
          { namespace, name, err: err.message, kind },
          kind === "temporaryError" ? "reconcile failed; retrying with backoff" : "reconcile failed",
        );
      },
      ...(o.queueMetrics ? { metrics: o.queueMetrics } : {}),
    });

    if (o.rolloutRestart) {
      // Only names and the Secret names a Pod template reads are cached, never the workload itself.
      const workloads = new Map<WorkloadKind, InformerGroup<CachedWorkload>>();
      for (const kind of WORKLOAD_KINDS) {
        const informers = scopes.map(
          (ns) =>
            new Informer<CachedWorkload>({
              ...common,
              name: `${kind.toLowerCase()}s@${ns ?? "*"}`,
              path: workloadPath(kind, ns),
              transform: (obj) => workloadProjection(kind, obj as RawWorkload),
              indexers: { [SECRET_INDEX]: consumedSecrets },
              onAdd: (w) => this.workloadChanged(w),
              onUpdate: (w) => this.workloadChanged(w),
              onDelete: (w) => this.workloadChanged(w),
            }),
        );
        workloads.set(kind, new InformerGroup(informers, all));
      }
      this.workloads = workloads;
      const cache: WorkloadCache = {
        get: (kind, namespace, name) => workloads.get(kind)!.get(namespace, name),
        readers: (namespace, secretName) =>
          [...workloads.values()].flatMap((g) => g.byIndex(SECRET_INDEX, secretName, namespace)),
      };
      const clusterClient = new ClusterAWSAssumeRoleClient(o.client);
      this.restarter = new RolloutRestarter({
        secrets: this.secrets,
        workloads: cache,
        writer: new WorkloadClient(o.client),
        events: o.events,
        logger: o.logger,
        ownerOf: (secret) => this.restartOwner(secret, resourceClient, clusterClient),
        refreshRatio: o.refreshRatio,
        maxSpacingMs: o.rolloutRestart.maxSpacingMs,
        minRolloutSeconds: o.rolloutRestart.minRolloutSeconds,
        retryMs: o.permanentErrorRetryMs,
        backoff: o.backoff,
        ...(o.rolloutRestart.observer ? { observer: o.rolloutRestart.observer } : {}),
      });
    }
  }

  /** The resource that owns an owned Secret, with what rolloutRestart reads and writes of it. */
  private restartOwner(
    secret: CachedSecret,
    resourceClient: AWSAssumeRoleClient,
    clusterClient: ClusterAWSAssumeRoleClient,
  ): RestartOwner | undefined {
    const meta = secret.metadata;
    const ref = meta.ownerReferences?.find(
      (r) => r.controller && (r.kind === KIND || r.kind === CLUSTER_KIND),
    );
    if (!ref) return undefined;
    if (ref.kind === CLUSTER_KIND) {
      const r: ClusterAWSAssumeRole | undefined = this.cluster?.informer.get("", ref.name);
      if (!r || r.metadata.uid !== ref.uid) return undefined;
      return {
        key: `${CLUSTER_KIND}:${ref.name}`,
        target: { apiVersion: r.apiVersion, kind: CLUSTER_KIND, namespace: "", name: ref.name, uid: ref.uid },
        spec: r.spec.rolloutRestart,
        status: r.status?.rolloutRestart,
        writeStatus: (status: RolloutRestartStatus, signal?: AbortSignal) =>
          clusterClient.patchStatus(ref.name, { rolloutRestart: status }, signal),
      };
    }
    const namespace = meta.namespace!;
    const r = this.resources.get(namespace, ref.name);
    if (!r || r.metadata.uid !== ref.uid) return undefined;
    return {
      key: `${KIND}:${namespace}/${ref.name}`,
      target: { apiVersion: r.apiVersion, kind: KIND, namespace, name: ref.name, uid: ref.uid },
      spec: r.spec.rolloutRestart,
      status: r.status?.rolloutRestart,
      writeStatus: (status: RolloutRestartStatus, signal?: AbortSignal) =>
        resourceClient.patchStatus(namespace, ref.name, { rolloutRestart: status }, signal),
    };
  }

  /** A workload changed: the Secrets it reads, and those whose owners name it as a target, look again. */
  private workloadChanged(w: CachedWorkload): void {
    const restarter = this.restarter;
    if (!restarter) return;
    restarter.workloadChanged(w);
    const namespace = w.metadata.namespace!;
    const names = (targets: { kind: string; name: string }[] | undefined) =>
      targets?.some((t) => t.kind === w.kind && t.name === w.metadata.name) === true;
    for (const r of this.resources.list(namespace)) {
      if (names(r.spec.rolloutRestart?.targets)) restarter.add(`${namespace}/${r.spec.secretName}`);
    }
    for (const r of this.cluster?.informer.list() ?? []) {
      if (names(r.spec.rolloutRestart?.targets) && this.secrets.get(namespace, r.spec.secretName)) {
        restarter.add(`${namespace}/${r.spec.secretName}`);
      }
    }
  }

  /** A ClusterAWSAssumeRole's spec changed (or it was deleted): its copies look again. */
  private clusterResourceChanged(r: ClusterAWSAssumeRole, deleted: boolean): void {
    if (!this.restarter) return;
    if (deleted) {
      this.restarter.forgetOwner(`${CLUSTER_KIND}:${r.metadata.name}`);
      return;
    }
    for (const s of this.secrets.list()) {
      const ref = s.metadata.ownerReferences?.find((o) => o.controller && o.kind === CLUSTER_KIND);
      if (ref?.uid === r.metadata.uid) this.restarter.add(`${s.metadata.namespace}/${s.metadata.name}`);
    }
  }

  /** Fills the caches (all replicas). Resolves when every informer but the workload caches has listed once. */
  startCaches(): Promise<void> {
    this.workloadCachesStarted ??= Promise.all(
      [...(this.workloads?.values() ?? [])].map((g) => g.start()),
    ).then(() => undefined);
    this.cachesStarted ??= Promise.all([
      this.resources.start(),
      this.secrets.start(),
      this.namespaces?.start(),
      this.cluster?.informer.start(),
    ]).then(() => {
      this.wiring.startCaches();
      this.logger.info("caches synced");
    });
    return this.cachesStarted;
  }

  /** Starts reconciling (the leader): every known resource is queued once. */
  async startWorkers(): Promise<void> {
    await this.startCaches();
    this.working = true;
    for (const r of this.resources.list()) this.queue.add(keyOf(r));
    this.queue.start();
    this.cluster?.startWorkers();
    this.wiring.startWorkers();
    // Restarts begin once the workload caches are filled (their list may fail for want of RBAC: it is retried).
    void this.workloadCachesStarted?.then(() => {
      if (this.working) this.restarter?.start();
    });
    this.logger.info({ resources: this.resources.list().length }, "workers started");
  }

  /** Stops taking work and waits for in-flight reconciles. */
  async stopWorkers(): Promise<void> {
    this.working = false;
    await Promise.all([
      this.queue.shutdown(),
      this.cluster?.stopWorkers(),
      this.restarter?.stop(),
      this.wiring.stopWorkers(),
    ]);
  }

  stopCaches(): void {
    this.resources.stop();
    this.secrets.stop();
    this.namespaces?.stop();
    this.cluster?.informer.stop();
    this.wiring.stopCaches();
    for (const g of this.workloads?.values() ?? []) g.stop();
  }

  private informers(): InformerHealth[] {
    return [
      ...this.resources.informers,
      ...this.secrets.informers,
      ...(this.namespaces ? [this.namespaces] : []),
      ...(this.cluster ? [this.cluster.informer] : []),
    ];
  }

  synced(): boolean {
    return this.informers().every((i) => i.synced);
  }

  /** Names of informers whose watch has been silent for longer than the watchdog's limit. */
  stalledInformers(): string[] {
    return this.informers()
      .filter((i) => i.stalled(this.stallAfterMs))
      .map((i) => i.name);
  }

  resourceCount(): number {
    return this.resources.list().length;
  }

  private resourceChanged(r: AWSAssumeRole): void {
    this.wiring.resourceChanged(r);
    const key = keyOf(r);
    if (r.metadata.uid) this.keysByUid.set(r.metadata.uid, key);
    // A status-only update of a failing resource is our own failure report: reconciling at once would bypass the
    // queue's backoff and call AWS again. Anything else (spec, metadata, a status edited by someone) counts.
    // Hashed: annotations may hold a whole manifest (kubectl's last-applied-configuration).
    const metadataHash = contentHash([
      r.metadata.uid,
      r.metadata.generation,
      r.metadata.labels ?? {},
      r.metadata.annotations ?? {},
    ]);
    const statusOnly = this.metadataHashes.get(key) === metadataHash;
    this.metadataHashes.set(key, metadataHash);
    if (!statusOnly) this.restarter?.add(`${r.metadata.namespace}/${r.spec.secretName}`);
    const failing = r.status?.conditions?.some((c) => c.type === READY && c.status === "False") === true;
    // Our own status write coming back through the watch needs no reconcile either: its reconcile scheduled the next.
    if (statusOnly && (failing || this.reconciler.isOwnStatus(key, r))) return;
    if (this.working) this.queue.add(key);
  }

  private resourceDeleted(r: AWSAssumeRole): void {
    this.wiring.resourceDeleted(r);
    const key = keyOf(r);
    this.metadataHashes.delete(key);
    if (r.metadata.uid) this.keysByUid.delete(r.metadata.uid);
    this.queue.forget(key);
    this.reconciler.forget(key);
    this.restarter?.forgetOwner(`${KIND}:${key}`);
    if (this.working) this.queue.add(key); // lets the reconciler clear per-resource state and metrics
  }

  private namespaceChanged(n: V1Namespace): void {
    this.cluster?.namespaceChanged(n, false);
    this.wiring.namespaceChanged();
    // The annotation matters to namespaced resources only with --namespace-permissions (the Namespace watch may
    // exist for --cluster-assume-roles alone).
    if (!this.namespacePermissions) return;
    const name = n.metadata?.name ?? "";
    if (!this.permittedRoles.changed(name, n.metadata?.annotations?.[PERMITTED_ROLES_ANNOTATION])) return;
    // A namespace first seen while working is new (or its watch lagged): its resources may have been reconciled
    // before the namespace was in the cache, and so found not permitted. Look at them again.
    if (!this.working) return;
    for (const r of this.resources.list(name)) this.queue.add(keyOf(r));
  }

  /** The namespace controller deletes a namespace's contents before the namespace: nothing to requeue. */
  private namespaceDeleted(n: V1Namespace): void {
    this.cluster?.namespaceChanged(n, true);
    this.wiring.namespaceChanged();
    this.permittedRoles.deleted(n.metadata?.name ?? "");
  }

  /** `left`: the Secret left the label-filtered cache (deleted, or its label removed: it may still exist). */
  private secretChanged(s: CachedSecret, left = false): void {
    const meta = s.metadata ?? {};
    // Before the echo check: our own write is exactly what restarts follow.
    this.restarter?.secretChanged(s, left);
    const clusterOwner = meta.ownerReferences?.find((ref) => ref.controller && ref.kind === CLUSTER_KIND);
    if (clusterOwner) {
      this.cluster?.secretChanged(clusterOwner.name, s, left);
      return;
    }
    const owner = meta.ownerReferences?.find((ref) => ref.controller && ref.kind === KIND);
    const byUid = meta.annotations?.[SecretAnnotation.ownerUid];
    const key = owner ? `${meta.namespace}/${owner.name}` : byUid ? this.keysByUid.get(byUid) : undefined;
    if (!key) return;
    if (left) this.reconciler.expectOutsideCache(key);
    else if (this.reconciler.isOwnSecretWrite(key, s)) return; // our own write echoed back by the watch
    if (this.working) this.queue.add(key);
  }
}

function keyOf(r: { metadata?: { namespace?: string; name?: string } }): string {
  return `${r.metadata?.namespace}/${r.metadata?.name}`;
}
