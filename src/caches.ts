// The caches the controllers and features share: AWSAssumeRoles, the operator's own Secrets (label-filtered, so
// unrelated Secrets are never cached; metadata and a data hash only, indexed by owner uid), Namespaces when a setting
// reads them, and ClusterAWSAssumeRoles with --cluster-assume-roles; and the Informers port over src/kube's Informer.
import type { V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeClient } from "./kube/client.ts";
import type { AWSAssumeRole } from "./api/schema.ts";
import type { ClusterAWSAssumeRole } from "./api/cluster-schema.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "./domain/plan.ts";
import { Informer } from "./kube/informer.ts";
import { leanObject } from "./kube/projection.ts";
import { AWSAssumeRoleClient } from "./kube/resources.ts";
import { ClusterAWSAssumeRoleClient } from "./kube/cluster-resources.ts";
import { OWNER_INDEX } from "./credentials/ports.ts";
import type { CachedSecret } from "./credentials/ports.ts";
import { cachedSecret, ownerUids } from "./credentials/secret-view.ts";
import { InformerGroup } from "./runtime/informer-group.ts";
import type {
  InformerHealth,
  Informers,
  RuntimeObject,
  WatchHandlers,
  WatchSpec,
} from "./runtime/informer-group.ts";

export const SECRET_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

export interface SharedCachesOptions {
  informers: Informers;
  /** Namespaces to watch (--namespaces); empty = all. */
  watchedNamespaces: readonly string[];
  namespacePermissions: boolean;
  clusterAssumeRoles?: boolean;
}

export class SharedCaches {
  readonly resources: InformerGroup<AWSAssumeRole>;
  readonly secrets: InformerGroup<CachedSecret>;
  readonly namespaceCache: InformerGroup<V1Namespace> | undefined;
  readonly clusterResources: InformerGroup<ClusterAWSAssumeRole> | undefined;

  constructor(options: SharedCachesOptions) {
    const { informers } = options;
    const scopes = options.watchedNamespaces;
    this.resources = new InformerGroup<AWSAssumeRole>({
      informers,
      scopes,
      spec: (ns) => ({
        name: `awsassumeroles@${ns ?? "*"}`,
        path: AWSAssumeRoleClient.path(ns),
        transform: (obj) => leanObject(obj as AWSAssumeRole),
      }),
    });
    this.secrets = new InformerGroup<CachedSecret>({
      informers,
      scopes,
      spec: (ns) => ({
        name: `secrets@${ns ?? "*"}`,
        path: ns ? `/api/v1/namespaces/${ns}/secrets` : "/api/v1/secrets",
        labelSelector: SECRET_SELECTOR,
        // Metadata and the hash of the data: no credentials in the cache.
        transform: (obj) => cachedSecret(obj as CachedSecret),
        indexers: { [OWNER_INDEX]: ownerUids },
      }),
    });
    // Each setting that reads Namespaces builds the cache; none of them switches another on by it.
    this.namespaceCache =
      options.namespacePermissions || options.clusterAssumeRoles
        ? new InformerGroup<V1Namespace>({
            informers,
            scopes: [],
            spec: () => ({
              name: "namespaces@*",
              path: "/api/v1/namespaces",
              transform: (obj) => leanObject(obj as V1Namespace),
            }),
          })
        : undefined;
    this.clusterResources = options.clusterAssumeRoles
      ? new InformerGroup<ClusterAWSAssumeRole>({
          informers,
          scopes: [],
          spec: () => ({
            name: "clusterawsassumeroles",
            path: ClusterAWSAssumeRoleClient.path,
            transform: (obj) => leanObject(obj as ClusterAWSAssumeRole),
          }),
        })
      : undefined;
  }

  /** Resolves once every shared informer has listed once. */
  async start(): Promise<void> {
    await Promise.all([
      this.resources.start(),
      this.secrets.start(),
      this.namespaceCache?.start(),
      this.clusterResources?.start(),
    ]);
  }

  stop(): void {
    this.resources.stop();
    this.secrets.stop();
    this.namespaceCache?.stop();
    this.clusterResources?.stop();
  }

  /** The informers /readyz and /healthz look at (the features' own caches fill apart). */
  informers(): InformerHealth[] {
    return [
      ...this.resources.informers,
      ...this.secrets.informers,
      ...(this.namespaceCache?.informers ?? []),
      ...(this.clusterResources?.informers ?? []),
    ];
  }
}

/** The Informers port over src/kube's Informer. */
export function kubeInformers(options: {
  client: KubeClient;
  logger: Logger;
  stallAfterMs: number;
  relistEveryMs: number;
  requestTimeoutMs?: number;
}): Informers {
  return <T extends RuntimeObject>(spec: WatchSpec<T>, handlers: WatchHandlers<T>) =>
    new Informer<T>({
      client: options.client,
      logger: options.logger,
      stallAfterMs: options.stallAfterMs,
      relistEveryMs: options.relistEveryMs,
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...spec,
      ...handlers,
    });
}
