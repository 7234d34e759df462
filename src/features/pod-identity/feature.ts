// Pod Identity as a feature (--pod-identity): the AWSPodIdentityAssociation cache (indexed by ServiceAccount), a lean
// Pod cache (name, ServiceAccount, whether the injection reached it), the credential authority and the webhook that
// every replica serves, and the associations' status, which the leader writes. Its HTTPS server and certificate are
// wired by main.ts (server.ts, certificates.ts) around the routes this feature answers.
import type { V1Namespace, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { POD_IDENTITY_KIND } from "../../api/pod-identity-schema.ts";
import type { AWSPodIdentityAssociation } from "../../api/pod-identity-schema.ts";
import { AssociationCredentials } from "../../credentials/association-credentials.ts";
import type { AwsAccess, Cache, EventSink, ReadinessObserver } from "../../credentials/ports.ts";
import type { CredentialSource } from "../../credentials/source.ts";
import { POD_IDENTITY_ANNOTATION, injectionMissed } from "../../domain/pod-injection.ts";
import { servingOrder } from "../../domain/pod-identity.ts";
import type { SessionTagOptions } from "../../domain/session.ts";
import { associationsPath, podsPath } from "../../kube/pod-identity.ts";
import { leanObject } from "../../kube/projection.ts";
import { Controller } from "../../runtime/controller.ts";
import { InformerGroup } from "../../runtime/informer-group.ts";
import type { Informers } from "../../runtime/informer-group.ts";
import { objectKey } from "../../runtime/object-key.ts";
import type { QueueMetricsFor } from "../../runtime/queue.ts";
import type { Feature } from "../feature.ts";
import { AssociationStatusReconciler } from "./association-status.ts";
import type { CachedPod } from "./association-status.ts";
import { CredentialAuthority } from "./authority.ts";
import type { AuthorityPorts } from "./authority.ts";
import type { Routes } from "./server.ts";
import { admissionWebhookRoute } from "./webhook.ts";

/** Both caches index by ServiceAccount, within the namespace. */
const SERVICE_ACCOUNT_INDEX = "serviceAccount";

export interface PodIdentityOptions {
  informers: Informers;
  /** Watched namespaces (--namespaces); empty = all. */
  watchedNamespaces: readonly string[];
  ports: AuthorityPorts & {
    patchStatus(
      namespace: string,
      name: string,
      status: Record<string, unknown>,
      signal?: AbortSignal,
    ): Promise<void>;
  };
  aws: AwsAccess;
  source?: CredentialSource;
  namespacePermissions: boolean;
  namespaceCache: Cache<V1Namespace> | undefined;
  sessionTags?: SessionTagOptions;
  refreshRatio: number;
  jitterFraction: number;
  backoff: { baseMs: number; maxMs: number };
  permanentErrorRetryMs: number;
  reconcileTimeoutMs: number;
  requestTimeoutMs: number;
  /** The trusted agent's ServiceAccount (--pod-identity-agent). */
  agent: { namespace: string; serviceAccount: string };
  events: EventSink;
  logger: Logger;
  queueMetrics?: QueueMetricsFor;
  /** The per-resource readiness metric. */
  readiness?: ReadinessObserver;
  observer?: {
    onAnswer?(code: string, seconds: number): void;
    onRefresh?(result: "success" | "failure"): void;
  };
}

export class PodIdentityFeature implements Feature {
  readonly name = "pod-identity";
  readonly associations: InformerGroup<AWSPodIdentityAssociation>;
  readonly pods: InformerGroup<CachedPod>;
  readonly credentials: AssociationCredentials;
  readonly authority: CredentialAuthority;
  private readonly controller: Controller<AWSPodIdentityAssociation>;
  private readonly logger: Logger;
  private cachesStarted: Promise<void> | undefined;

  constructor(options: PodIdentityOptions) {
    this.logger = options.logger;
    this.associations = new InformerGroup<AWSPodIdentityAssociation>({
      informers: options.informers,
      scopes: options.watchedNamespaces,
      spec: (ns) => ({
        name: `awspodidentityassociations@${ns ?? "*"}`,
        path: associationsPath(ns),
        transform: (obj) => leanObject(obj as AWSPodIdentityAssociation),
        indexers: { [SERVICE_ACCOUNT_INDEX]: (a) => [a.spec.serviceAccount] },
      }),
    });
    this.pods = new InformerGroup<CachedPod>({
      informers: options.informers,
      scopes: options.watchedNamespaces,
      spec: (ns) => ({
        name: `pods@${ns ?? "*"}`,
        path: podsPath(ns),
        transform: (obj) => cachedPod(obj as V1Pod),
        indexers: { [SERVICE_ACCOUNT_INDEX]: (p) => [p.serviceAccount] },
      }),
    });
    this.credentials = new AssociationCredentials({
      ...options,
      namespaces: options.namespaceCache,
      ...(options.observer?.onRefresh ? { onRefresh: options.observer.onRefresh } : {}),
    });
    this.authority = new CredentialAuthority({
      ports: options.ports,
      associationFor: (namespace, serviceAccount) => this.associationFor(namespace, serviceAccount),
      ready: () => this.synced(),
      credentials: this.credentials,
      agent: options.agent,
      logger: options.logger,
      requestTimeoutMs: options.requestTimeoutMs,
      ...(options.observer?.onAnswer ? { onAnswer: options.observer.onAnswer } : {}),
    });
    const reconciler = new AssociationStatusReconciler({
      associations: this.associations,
      associationsOf: (namespace, serviceAccount) => this.associationsOf(namespace, serviceAccount),
      podsOf: (namespace, serviceAccount) =>
        this.pods.byIndex(SERVICE_ACCOUNT_INDEX, serviceAccount, namespace),
      credentials: this.credentials,
      patchStatus: (namespace, name, status, signal) =>
        options.ports.patchStatus(namespace, name, status, signal),
      events: options.events,
      logger: options.logger,
    });
    this.controller = new Controller<AWSPodIdentityAssociation>({
      name: POD_IDENTITY_KIND,
      logger: options.logger,
      concurrency: 4,
      backoff: options.backoff,
      reconcileTimeoutMs: options.reconcileTimeoutMs,
      ...(options.queueMetrics ? { metrics: options.queueMetrics } : {}),
    })
      .for(this.associations, { reconcileStatusOnly: () => false })
      // The other associations of a ServiceAccount decide which one is a duplicate.
      .watches(this.associations, (a, type) =>
        type === "delete" ? this.keysOf(a.metadata.namespace ?? "", a.spec.serviceAccount) : [],
      )
      .watches(this.pods, (p) => this.keysOf(p.metadata.namespace, p.serviceAccount))
      .observe((a, change) => {
        if (change.deleted) this.credentials.forget(a.metadata.uid ?? "");
      })
      .onForget((key) => reconciler.forget(key))
      .run(reconciler);
    if (options.readiness) this.controller.observe(options.readiness(POD_IDENTITY_KIND));
  }

  /** The association that serves a ServiceAccount: the oldest of those naming it. */
  associationFor(namespace: string, serviceAccount: string): AWSPodIdentityAssociation | undefined {
    return servingOrder(this.associationsOf(namespace, serviceAccount))[0];
  }

  /** The routes of the Pod Identity server: the authority (for the agents) and the webhook (for the API server). */
  routes(): Routes {
    return {
      "GET /v1/pod-credentials": this.authority.route(),
      "POST /mutate": admissionWebhookRoute(
        (namespace, serviceAccount) => this.associationFor(namespace, serviceAccount)?.metadata.name,
        this.logger,
      ),
    };
  }

  private associationsOf(namespace: string, serviceAccount: string): AWSPodIdentityAssociation[] {
    return this.associations.byIndex(SERVICE_ACCOUNT_INDEX, serviceAccount, namespace);
  }

  private keysOf(namespace: string, serviceAccount: string): string[] {
    return this.associationsOf(namespace, serviceAccount).map((a) => objectKey(namespace, a.metadata.name!));
  }

  synced(): boolean {
    return this.associations.informers.every((i) => i.synced);
  }

  ownerChanged(): void {}
  secretChanged(): void {}

  /** A namespace's permitted-roles annotation may have changed: every association looks again. */
  namespaceChanged(): void {
    for (const key of this.controller.keys()) this.controller.enqueue(key);
  }

  startCaches(): void {
    this.cachesStarted ??= Promise.all([this.associations.start(), this.pods.start()]).then(() => {
      this.logger.info({ associations: this.associations.list().length }, "pod identity caches synced");
    });
  }

  startWorkers(): void {
    this.startCaches();
    this.working = true;
    void this.cachesStarted?.then(() => {
      if (this.working) this.controller.startWorkers();
    });
  }

  private working = false;

  async stopWorkers(): Promise<void> {
    this.working = false;
    await this.controller.stopWorkers();
  }

  stopCaches(): void {
    this.associations.stop();
    this.pods.stop();
  }

  cachedObjects(): number {
    return this.associations.list().length + this.pods.list().length;
  }
}

/** What the Pod cache keeps: never the spec, only what the status and the missed-injection report read. */
export function cachedPod(pod: V1Pod): CachedPod {
  const meta = pod.metadata ?? {};
  const annotation = meta.annotations?.[POD_IDENTITY_ANNOTATION];
  return {
    metadata: {
      name: meta.name ?? "",
      namespace: meta.namespace ?? "",
      uid: meta.uid ?? "",
      ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
    },
    serviceAccount: pod.spec?.serviceAccountName ?? "default",
    injected: annotation !== undefined,
    // Finished Pods need no credentials; their restart would be pointless.
    missed:
      annotation === undefined &&
      pod.status?.phase !== "Succeeded" &&
      pod.status?.phase !== "Failed" &&
      !meta.deletionTimestamp &&
      injectionMissed(pod),
  };
}
