// ServiceAccount access for the imagePullSecrets wiring: the lean projection its caches keep, live reads, and
// merge patches guarded by resourceVersion; plus finalizer patches on both resource kinds. Decisions live in the
// engine (service-account-wiring.ts) and the domain (pull-secrets.ts).
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { ConfigurationOptions, KubeConfig, V1ServiceAccount } from "@kubernetes/client-node";
import { CLUSTER_PLURAL } from "../api/cluster-schema.ts";
import { GROUP, PLURAL, VERSION } from "../api/schema.ts";
import { WIRED_ANNOTATION, WIRED_LABEL, WIRED_LABEL_VALUE } from "../domain/pull-secrets.ts";
import type { PullSecretRef } from "../domain/pull-secrets.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS, abortOptions, deadline } from "./deadline.ts";
import { isNotFound } from "./errors.ts";

export const WIRED_SELECTOR = `${WIRED_LABEL}=${WIRED_LABEL_VALUE}`;

/** What the caches keep of a ServiceAccount: its identity, version, imagePullSecrets and our record. */
export interface CachedServiceAccount {
  metadata: { name: string; namespace: string; resourceVersion?: string; record?: string };
  imagePullSecrets: PullSecretRef[];
}

export function cachedServiceAccount(obj: V1ServiceAccount): CachedServiceAccount {
  const meta = obj.metadata ?? {};
  const record = meta.annotations?.[WIRED_ANNOTATION];
  return {
    metadata: {
      name: meta.name ?? "",
      namespace: meta.namespace ?? "",
      ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
      ...(record !== undefined ? { record } : {}),
    },
    imagePullSecrets: (obj.imagePullSecrets ?? []) as PullSecretRef[],
  };
}

/** The path to list and watch ServiceAccounts, in all namespaces or one. */
export function serviceAccountsPath(namespace?: string): string {
  return namespace ? `/api/v1/namespaces/${namespace}/serviceaccounts` : "/api/v1/serviceaccounts";
}

export class ServiceAccountClient {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly requestTimeoutMs: number;

  constructor(kubeConfig: KubeConfig, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.requestTimeoutMs = requestTimeoutMs;
  }

  private options(signal: AbortSignal | undefined, patch = false): ConfigurationOptions {
    return abortOptions(
      deadline(this.requestTimeoutMs, signal),
      patch ? setHeaderOptions("Content-Type", PatchStrategy.MergePatch) : undefined,
    );
  }

  async get(
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<CachedServiceAccount | undefined> {
    try {
      return cachedServiceAccount(
        await this.core.readNamespacedServiceAccount({ namespace, name }, this.options(signal)),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** ServiceAccounts that carry our record (label-selected), live: in one namespace or all. */
  async listWired(namespace: string | undefined, signal?: AbortSignal): Promise<CachedServiceAccount[]> {
    const list = namespace
      ? await this.core.listNamespacedServiceAccount(
          { namespace, labelSelector: WIRED_SELECTOR },
          this.options(signal),
        )
      : await this.core.listServiceAccountForAllNamespaces(
          { labelSelector: WIRED_SELECTOR },
          this.options(signal),
        );
    return list.items.map(cachedServiceAccount);
  }

  /**
   * Writes imagePullSecrets and our record. A JSON merge patch replaces the whole list (ServiceAccount's
   * imagePullSecrets has no strategic merge key, and server-side apply would take ownership of the entries other
   * managers wrote), so the patch carries metadata.resourceVersion as a precondition: if anyone changed the
   * ServiceAccount since it was read, the API server answers 409 and the caller reads it again. A concurrent edit
   * is never overwritten.
   */
  async patchPullSecrets(
    sa: CachedServiceAccount,
    imagePullSecrets: PullSecretRef[],
    record: string | undefined,
    signal?: AbortSignal,
  ): Promise<CachedServiceAccount> {
    const body = {
      metadata: {
        resourceVersion: sa.metadata.resourceVersion,
        annotations: { [WIRED_ANNOTATION]: record ?? null },
        labels: { [WIRED_LABEL]: record === undefined ? null : WIRED_LABEL_VALUE },
      },
      imagePullSecrets,
    };
    return cachedServiceAccount(
      await this.core.patchNamespacedServiceAccount(
        { namespace: sa.metadata.namespace, name: sa.metadata.name, body },
        this.options(signal, true),
      ),
    );
  }

  /**
   * Sets a resource's finalizers (namespace empty for the cluster kind), guarded by resourceVersion like the
   * ServiceAccount patch: a merge patch replaces the list, and the precondition keeps other controllers' entries.
   */
  patchFinalizers(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    finalizers: string[],
    signal?: AbortSignal,
  ): Promise<void> {
    const body = { metadata: { resourceVersion, finalizers: finalizers.length ? finalizers : null } };
    return this.patchResource(namespace, name, body, false, signal);
  }

  /** Writes status.serviceAccounts alone (a merge patch on the status subresource leaves the rest as it is). */
  patchStatus(
    namespace: string,
    name: string,
    serviceAccounts: unknown,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.patchResource(namespace, name, { status: { serviceAccounts } }, true, signal);
  }

  /** A merge patch on a resource of either kind, or its status; a resource deleted meanwhile is not an error. */
  private async patchResource(
    namespace: string,
    name: string,
    body: object,
    status: boolean,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const options = this.options(signal, true);
    try {
      if (namespace) {
        const request = { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body };
        await (status
          ? this.custom.patchNamespacedCustomObjectStatus(request, options)
          : this.custom.patchNamespacedCustomObject(request, options));
      } else {
        const request = { group: GROUP, version: VERSION, plural: CLUSTER_PLURAL, name, body };
        await (status
          ? this.custom.patchClusterCustomObjectStatus(request, options)
          : this.custom.patchClusterCustomObject(request, options));
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
