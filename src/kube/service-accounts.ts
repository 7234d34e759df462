// ServiceAccount access for the imagePullSecrets wiring: the lean projection its caches keep, live reads, and
// merge patches guarded by resourceVersion; plus finalizer patches on both resource kinds. Decisions live in the
// ServiceAccount wiring (features/service-accounts/) and the domain (pull-secrets.ts).
import type { V1ServiceAccount, V1ServiceAccountList } from "@kubernetes/client-node";
import { CLUSTER_PLURAL } from "../api/cluster-schema.ts";
import { GROUP, PLURAL, VERSION } from "../api/schema.ts";
import { WIRED_ANNOTATION, WIRED_LABEL, WIRED_LABEL_VALUE } from "../domain/pull-secrets.ts";
import type { PullSecretRef } from "../domain/pull-secrets.ts";
import type { KubeClient } from "./client.ts";
import { isNotFound } from "../runtime/api-errors.ts";

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
  return namespace
    ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts`
    : "/api/v1/serviceaccounts";
}

const serviceAccountPath = (namespace: string, name: string) =>
  `${serviceAccountsPath(namespace)}/${encodeURIComponent(name)}`;

export class ServiceAccountClient {
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  async get(
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<CachedServiceAccount | undefined> {
    const sa = await this.client.getIfExists<V1ServiceAccount>(serviceAccountPath(namespace, name), {
      signal,
    });
    return sa && cachedServiceAccount(sa);
  }

  /** ServiceAccounts that carry our record (label-selected), live: in one namespace or all. */
  async listWired(namespace: string | undefined, signal?: AbortSignal): Promise<CachedServiceAccount[]> {
    const list = await this.client.get<V1ServiceAccountList>(serviceAccountsPath(namespace), {
      query: { labelSelector: WIRED_SELECTOR },
      signal,
    });
    return (list.items ?? []).map(cachedServiceAccount);
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
      await this.client.mergePatch<V1ServiceAccount>(
        serviceAccountPath(sa.metadata.namespace, sa.metadata.name),
        body,
        { signal },
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
    const path =
      (namespace
        ? `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}`
        : `/apis/${GROUP}/${VERSION}/${CLUSTER_PLURAL}/${encodeURIComponent(name)}`) +
      (status ? "/status" : "");
    try {
      await this.client.mergePatch(path, body, { signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
