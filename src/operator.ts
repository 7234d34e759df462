// The composition: the shared caches (AWSAssumeRoles, the operator's own Secrets — label-filtered, so unrelated
// Secrets are never cached — and Namespaces when a setting needs them), one generic Controller per kind, and the
// enabled features, each told of owner, Secret and Namespace events through the Feature interface. Caches run on
// every replica (standbys stay warm and ready); workers run only while this replica leads. The modules of the opt-in
// parts (the cluster kind, the features) are imported by Operator.create only when their flag is on.
import type { V1Namespace } from "@kubernetes/client-node";
import { SharedCaches, kubeInformers } from "./caches.ts";
import type { Logger } from "pino";
import type { KubeClient } from "./kube/client.ts";
import { KIND } from "./api/schema.ts";
import type { AWSAssumeRole, RolloutRestartStatus } from "./api/schema.ts";
import { CLUSTER_KIND } from "./api/cluster-schema.ts";
import type { ClusterAWSAssumeRole } from "./api/cluster-schema.ts";
import { READY } from "./domain/conditions.ts";
import { SecretAnnotation } from "./domain/plan.ts";
import { PERMITTED_ROLES_ANNOTATION } from "./domain/namespace-permissions.ts";
import { AWSAssumeRoleClient } from "./kube/resources.ts";
import { ClusterAWSAssumeRoleClient } from "./kube/cluster-resources.ts";
import { ServiceAccountClient } from "./kube/service-accounts.ts";
import type { ClusterObserver, ReadinessObserver } from "./credentials/ports.ts";
import { Reconciler } from "./credentials/namespaced-reconciler.ts";
import type { ReconcilerOptions } from "./credentials/namespaced-reconciler.ts";
import { PermittedRolesWatch } from "./credentials/permitted-roles.ts";
import type { CachedSecret, EventTarget } from "./credentials/ports.ts";
import type { Feature, Owner, OwnerCaches } from "./features/feature.ts";
import type { RestartObserver } from "./features/rollout-restart/ports.ts";
import { ServiceAccountsDisabled } from "./features/service-accounts/disabled.ts";
import type { PodIdentityFeature, PodIdentityOptions } from "./features/pod-identity/feature.ts";
import { associationsPath } from "./kube/pod-identity.ts";
import { KindDisabled } from "./features/kind-disabled.ts";
import type { KindDisabledOptions } from "./features/kind-disabled.ts";
import { POD_IDENTITY_KIND } from "./api/pod-identity-schema.ts";
import { API_VERSION } from "./api/schema.ts";
import { contentHash } from "./runtime/content-hash.ts";
import { Controller } from "./runtime/controller.ts";
import type { PrimaryChange } from "./runtime/controller.ts";
import type { InformerGroup } from "./runtime/informer-group.ts";
import type { Informers } from "./runtime/informer-group.ts";
import type { QueueMetricsFor } from "./runtime/queue.ts";

export interface OperatorOptions extends Omit<
  ReconcilerOptions,
  "resources" | "secrets" | "logger" | "statusWriter" | "namespaceCache"
> {
  client: KubeClient;
  logger: Logger;
  /** Namespaces to watch (--namespaces); empty = all. */
  watchedNamespaces: string[];
  concurrency: number;
  backoff: { baseMs: number; maxMs: number };
  stallAfterMs: number;
  relistEveryMs: number;
  queueMetrics?: QueueMetricsFor;
  /** The per-resource readiness metric, told of every kind's resources (those of a disabled kind included). */
  readiness?: ReadinessObserver;
  /** Namespace limits: watch Namespaces for their permitted-roles annotation. */
  namespacePermissions: boolean;
  /** Reconcile ClusterAWSAssumeRoles too (--cluster-assume-roles); watches Namespaces. */
  clusterAssumeRoles?: boolean;
  clusterObserver?: ClusterObserver;
  /** Wire pull secrets into ServiceAccounts (--service-accounts). */
  serviceAccounts?: boolean;
  /** Deadline of one request (list pages, status writes). */
  requestTimeoutMs?: number;
  /** Deadline of one reconcile, of every controller and feature: every outside call it makes is aborted then. */
  reconcileTimeoutMs?: number;
  /** rolloutRestart (--rollout-restart): watch workloads and restart those that read our Secrets. */
  rolloutRestart?: { maxSpacingMs: number; minRolloutSeconds: number; observer?: RestartObserver };
  /** Pod Identity (--pod-identity): serve AWSPodIdentityAssociations through the node agents. */
  podIdentity?: {
    /** The trusted agent's ServiceAccount (--pod-identity-agent). */
    agent: { namespace: string; serviceAccount: string };
    observer?: PodIdentityOptions["observer"];
  };
}

const DEFAULT_RECONCILE_TIMEOUT_MS = 60_000;

/** The modules of the opt-in parts; each is present only when its flag is on. */
interface OptionalModules {
  cluster?: typeof import("./credentials/cluster-reconciler.ts");
  serviceAccounts?: typeof import("./features/service-accounts/feature.ts");
  podIdentity?: typeof import("./features/pod-identity/feature.ts") & typeof import("./kube/pod-identity.ts");
  rolloutRestart?: typeof import("./features/rollout-restart/feature.ts") &
    typeof import("./kube/workloads.ts");
}

/**
 * Imports what the enabled flags need and nothing else: an off feature costs no RSS (docs/benchmarks.md, "imports").
 */
export async function loadOptionalModules(options: OperatorOptions): Promise<OptionalModules> {
  const [cluster, serviceAccounts, podIdentity, rolloutRestart] = await Promise.all([
    options.clusterAssumeRoles ? import("./credentials/cluster-reconciler.ts") : undefined,
    options.serviceAccounts ? import("./features/service-accounts/feature.ts") : undefined,
    options.podIdentity
      ? Promise.all([import("./features/pod-identity/feature.ts"), import("./kube/pod-identity.ts")])
      : undefined,
    options.rolloutRestart
      ? Promise.all([import("./features/rollout-restart/feature.ts"), import("./kube/workloads.ts")])
      : undefined,
  ]);
  return {
    ...(cluster ? { cluster } : {}),
    ...(serviceAccounts ? { serviceAccounts } : {}),
    ...(podIdentity ? { podIdentity: { ...podIdentity[0], ...podIdentity[1] } } : {}),
    ...(rolloutRestart ? { rolloutRestart: { ...rolloutRestart[0], ...rolloutRestart[1] } } : {}),
  };
}

export class Operator {
  readonly reconciler: Reconciler;
  /** The AWSAssumeRole controller. */
  readonly namespaced: Controller<AWSAssumeRole>;
  /** The ClusterAWSAssumeRole controller, with --cluster-assume-roles. */
  readonly cluster: Controller<ClusterAWSAssumeRole> | undefined;
  /** The enabled features (and the stand-in that reports spec.serviceAccounts ignored without the flag). */
  readonly features: Feature[] = [];
  /** The Pod Identity feature, with --pod-identity: its routes are served by main.ts on every replica. */
  podIdentity: PodIdentityFeature | undefined;
  private readonly resources: InformerGroup<AWSAssumeRole>;
  private readonly clusterResources: InformerGroup<ClusterAWSAssumeRole> | undefined;
  private readonly secrets: InformerGroup<CachedSecret>;
  private readonly namespaceCache: InformerGroup<V1Namespace> | undefined;
  private readonly logger: Logger;
  private readonly stallAfterMs: number;
  private readonly caches: SharedCaches;
  private cachesStarted: Promise<void> | undefined;

  /** The operator with the modules its flags need imported. */
  static async create(options: OperatorOptions): Promise<Operator> {
    return new Operator(options, await loadOptionalModules(options));
  }

  private constructor(options: OperatorOptions, modules: OptionalModules) {
    this.logger = options.logger;
    this.stallAfterMs = options.stallAfterMs;
    const informers = kubeInformers(options);

    const reconcileTimeoutMs = options.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS;
    const controllerOptions = {
      logger: options.logger,
      backoff: options.backoff,
      reconcileTimeoutMs,
      ...(options.queueMetrics ? { metrics: options.queueMetrics } : {}),
    };

    const caches = new SharedCaches({ ...options, informers });
    this.caches = caches;
    this.resources = caches.resources;
    this.secrets = caches.secrets;
    this.namespaceCache = caches.namespaceCache;
    this.clusterResources = caches.clusterResources;

    // Features first: they see a Secret event before any echo check (our own write is what restarts follow).
    this.buildFeatures(options, modules, informers, reconcileTimeoutMs);
    this.secrets.subscribe((s, type) => {
      for (const f of this.features) f.secretChanged(s, type === "delete");
    });
    this.namespaceCache?.subscribe(() => {
      for (const f of this.features) f.namespaceChanged();
    });
    const toFeatures = (owner: Owner, change: PrimaryChange) => {
      for (const f of this.features) f.ownerChanged(owner, change);
    };

    this.reconciler = new Reconciler({
      ...options,
      // The cache is only where the annotation is read; options.namespacePermissions alone decides whether it applies.
      ...(this.namespaceCache ? { namespaceCache: this.namespaceCache } : {}),
      resources: this.resources,
      secrets: this.secrets,
      statusWriter: new AWSAssumeRoleClient(options.client),
      logger: options.logger,
    });
    const reconciler = this.reconciler;
    this.namespaced = new Controller<AWSAssumeRole>({
      ...controllerOptions,
      name: KIND,
      concurrency: options.concurrency,
    })
      .for(this.resources, {
        // A status-only update of a failing resource is our own failure report (reconciling at once would bypass
        // the backoff and call AWS again); our own status write needs no reconcile either.
        reconcileStatusOnly: (key, r) => !failing(r) && !reconciler.isOwnStatus(key, r),
      })
      .owns(this.secrets, {
        kind: KIND,
        ownerUidAnnotation: SecretAnnotation.ownerUid,
        filter: (key, s, type) => {
          if (type !== "delete") return !reconciler.isOwnSecretWrite(key, s); // our own write echoed back
          reconciler.expectOutsideCache(key);
          return true;
        },
      })
      .observe(toFeatures)
      .onForget((key) => reconciler.forget(key))
      .run(reconciler);
    if (options.readiness) this.namespaced.observe(options.readiness(KIND));
    // The annotation matters to namespaced resources only with --namespace-permissions (the Namespace cache may
    // exist for --cluster-assume-roles alone).
    if (options.namespacePermissions && this.namespaceCache) {
      const permittedRoles = new PermittedRolesWatch();
      this.namespaced.watches(this.namespaceCache, (n, type) => {
        const name = n.metadata?.name ?? "";
        // The namespace controller deletes a namespace's contents before the namespace: nothing to requeue.
        if (type === "delete") {
          permittedRoles.deleted(name);
          return [];
        }
        // A namespace first seen while working is new (or its watch lagged): its resources may have been
        // reconciled before the namespace was in the cache, and so found not permitted. Look at them again.
        const changed = permittedRoles.changed(name, n.metadata?.annotations?.[PERMITTED_ROLES_ANNOTATION]);
        return changed ? this.namespaced.keys(name) : [];
      });
    }
    this.cluster = modules.cluster
      ? this.clusterController(modules.cluster, options, controllerOptions, toFeatures)
      : undefined;
  }

  private clusterController(
    { ClusterReconciler }: NonNullable<OptionalModules["cluster"]>,
    options: OperatorOptions,
    controllerOptions: Omit<ConstructorParameters<typeof Controller>[0], "name" | "concurrency">,
    toFeatures: (owner: Owner, change: PrimaryChange) => void,
  ): Controller<ClusterAWSAssumeRole> | undefined {
    const { clusterResources, namespaceCache } = this;
    if (!clusterResources || !namespaceCache) return undefined;
    const reconciler = new ClusterReconciler({
      ...options,
      // One reconcile writes many copies: as many at once as the worker pool would reconcile resources.
      writeConcurrency: options.concurrency,
      resources: clusterResources,
      secrets: this.secrets,
      namespaceCache,
      watchedNamespaces: options.watchedNamespaces,
      statusWriter: new ClusterAWSAssumeRoleClient(options.client),
      ...(options.clusterObserver ? { observer: options.clusterObserver } : {}),
    });
    const controller = new Controller<ClusterAWSAssumeRole>({
      ...controllerOptions,
      name: CLUSTER_KIND,
      clusterScoped: true,
      concurrency: Math.max(1, Math.min(options.concurrency, 4)),
    })
      .for(clusterResources, {
        reconcileStatusOnly: (name, r) => !failing(r) && !reconciler.isOwnStatus(name, r),
      })
      .owns(this.secrets, {
        kind: CLUSTER_KIND,
        filter: (name, s, type) => {
          if (type !== "delete") return !reconciler.isOwnSecretWrite(name, s);
          reconciler.expectOutsideCache(name, s.metadata?.namespace ?? "");
          return true;
        },
      })
      .observe(toFeatures)
      .onForget((name) => reconciler.forget(name))
      .run(reconciler);
    if (options.readiness) controller.observe(options.readiness(CLUSTER_KIND));
    // A namespace that starts or stops matching a selector is served or cleaned up within seconds: no polling.
    const namespaceHashes = new Map<string, string>();
    controller.watches(namespaceCache, (n, type) => {
      const name = n.metadata?.name ?? "";
      if (type === "delete") {
        namespaceHashes.delete(name);
        return controller.keys();
      }
      const meta = n.metadata ?? {};
      const hash = contentHash([meta.labels ?? {}, meta.annotations ?? {}, !!meta.deletionTimestamp]);
      if (namespaceHashes.get(name) === hash) return [];
      namespaceHashes.set(name, hash);
      return controller.keys();
    });
    return controller;
  }

  private buildFeatures(
    options: OperatorOptions,
    modules: OptionalModules,
    informers: Informers,
    reconcileTimeoutMs: number,
  ): void {
    const owners: OwnerCaches = { resources: this.resources, clusterResources: this.clusterResources };
    const common = {
      logger: options.logger,
      events: options.events,
      backoff: options.backoff,
      reconcileTimeoutMs,
      ...(options.queueMetrics ? { queueMetrics: options.queueMetrics } : {}),
    };
    const writer = new ServiceAccountClient(options.client);
    this.features.push(
      modules.serviceAccounts
        ? new modules.serviceAccounts.ServiceAccountWiring({
            ...owners,
            ...common,
            informers,
            namespaceCache: this.namespaceCache,
            watchedNamespaces: options.watchedNamespaces,
            writer,
          })
        : new ServiceAccountsDisabled({ ...owners, ...common, writer }),
    );
    // A kind whose feature is off is told so (Ready=False, FeatureDisabled), never silently ignored.
    const disabled = {
      ...common,
      apiVersion: API_VERSION,
      informers,
      watchedNamespaces: options.watchedNamespaces,
      ...(options.readiness ? { readiness: options.readiness } : {}),
    };
    if (!options.clusterAssumeRoles) {
      this.features.push(
        new KindDisabled({
          ...disabled,
          kind: CLUSTER_KIND,
          flag: "--cluster-assume-roles",
          chartValue: "clusterAssumeRoles.enabled",
          consequence: "no Secret is written to any namespace",
          clusterScoped: true,
          // Several installs (--namespaces) may see one cluster resource, and one of them may serve it.
          overwrite: false,
          path: () => ClusterAWSAssumeRoleClient.path,
          patchStatus: statusPatcher(
            options.client,
            (_ns, name) => `${ClusterAWSAssumeRoleClient.path}/${name}`,
          ),
        }),
      );
    }
    if (!options.podIdentity) {
      this.features.push(
        new KindDisabled({
          ...disabled,
          kind: POD_IDENTITY_KIND,
          flag: "--pod-identity",
          chartValue: "podIdentity.enabled",
          consequence: "its ServiceAccount's Pods get no credentials from the node endpoint",
          clusterScoped: false,
          // One install per cluster serves Pod Identity (its agent holds the node's address): an Associated status
          // left by an earlier run with the flag is no longer true.
          overwrite: true,
          path: associationsPath,
          patchStatus: statusPatcher(options.client, (ns, name) => `${associationsPath(ns)}/${name}`),
        }),
      );
    }
    if (options.podIdentity && modules.podIdentity) {
      const { PodIdentityFeature, PodIdentityClient } = modules.podIdentity;
      this.podIdentity = new PodIdentityFeature({
        ...common,
        informers,
        watchedNamespaces: options.watchedNamespaces,
        ports: new PodIdentityClient(options.client),
        aws: options.aws,
        namespacePermissions: options.namespacePermissions,
        namespaceCache: options.namespacePermissions ? this.namespaceCache : undefined,
        ...(options.sessionTags ? { sessionTags: options.sessionTags } : {}),
        refreshRatio: options.refreshRatio,
        jitterFraction: options.jitterFraction,
        permanentErrorRetryMs: options.permanentErrorRetryMs,
        requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
        agent: options.podIdentity.agent,
        ...(options.podIdentity.observer ? { observer: options.podIdentity.observer } : {}),
        ...(options.readiness ? { readiness: options.readiness } : {}),
      });
      this.features.push(this.podIdentity);
    }
    if (options.rolloutRestart && modules.rolloutRestart) {
      const { RolloutRestartFeature, WorkloadClient, workloadPath } = modules.rolloutRestart;
      const resourceClient = new AWSAssumeRoleClient(options.client);
      const clusterClient = new ClusterAWSAssumeRoleClient(options.client);
      const writeStatus = (owner: EventTarget, status: RolloutRestartStatus, signal?: AbortSignal) =>
        owner.kind === CLUSTER_KIND
          ? clusterClient.patchStatus(owner.name, { rolloutRestart: status }, signal)
          : resourceClient.patchStatus(owner.namespace, owner.name, { rolloutRestart: status }, signal);
      this.features.push(
        new RolloutRestartFeature({
          ...owners,
          ...common,
          informers,
          watchedNamespaces: options.watchedNamespaces,
          workloadPath,
          secrets: this.secrets,
          writer: new WorkloadClient(options.client),
          writeStatus,
          refreshRatio: options.refreshRatio,
          maxSpacingMs: options.rolloutRestart.maxSpacingMs,
          minRolloutSeconds: options.rolloutRestart.minRolloutSeconds,
          retryMs: options.permanentErrorRetryMs,
          ...(options.rolloutRestart.observer ? { observer: options.rolloutRestart.observer } : {}),
        }),
      );
    }
  }

  /** Fills the caches (all replicas). Resolves when every informer but the features' own has listed once. */
  startCaches(): Promise<void> {
    for (const f of this.features) f.startCaches();
    this.cachesStarted ??= this.caches.start().then(() => this.logger.info("caches synced"));
    return this.cachesStarted;
  }

  /** Starts reconciling (the leader): every known resource is queued once. */
  async startWorkers(): Promise<void> {
    await this.startCaches();
    this.namespaced.startWorkers();
    this.cluster?.startWorkers();
    for (const f of this.features) f.startWorkers();
    this.logger.info({ resources: this.resources.list().length }, "workers started");
  }

  /** Stops taking work and waits for in-flight reconciles. */
  async stopWorkers(): Promise<void> {
    await Promise.all([
      this.namespaced.stopWorkers(),
      this.cluster?.stopWorkers(),
      ...this.features.map((f) => f.stopWorkers()),
    ]);
  }

  stopCaches(): void {
    this.caches.stop();
    for (const f of this.features) f.stopCaches();
  }

  synced(): boolean {
    return this.caches.informers().every((i) => i.synced);
  }

  /** Names of informers whose watch has been silent for longer than the watchdog's limit. */
  stalledInformers(): string[] {
    return this.watches()
      .filter((w) => w.stalled)
      .map((w) => w.name);
  }

  /** Each informer /healthz looks at, and whether the watchdog finds its watch stalled. */
  watches(): { name: string; stalled: boolean }[] {
    return this.caches.informers().map((i) => ({ name: i.name, stalled: i.stalled(this.stallAfterMs) }));
  }

  resourceCount(): number {
    return this.resources.list().length;
  }

  clusterResourceCount(): number {
    return this.clusterResources?.list().length ?? 0;
  }

  /** ServiceAccounts the wiring caches (0 without --service-accounts). */
  cachedServiceAccounts(): number {
    return this.features.find((f) => f.name === "service-accounts")?.cachedObjects() ?? 0;
  }
}

/** A merge patch of a resource's status subresource with its resourceVersion as a precondition. */
function statusPatcher(
  client: KubeClient,
  pathOf: (namespace: string, name: string) => string,
): KindDisabledOptions["patchStatus"] {
  return async (namespace, name, resourceVersion, status, signal) => {
    await client.mergePatch(
      `${pathOf(namespace, encodeURIComponent(name))}/status`,
      { metadata: resourceVersion ? { resourceVersion } : {}, status },
      { signal },
    );
  };
}

/** Whether the resource's status says it is failing (Ready=False). */
function failing(r: Owner): boolean {
  return r.status?.conditions?.some((c) => c.type === READY && c.status === "False") === true;
}
