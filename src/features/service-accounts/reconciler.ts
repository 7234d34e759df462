// The ServiceAccount wiring's reconciler (--service-accounts): one run per owner of either kind (its object key)
// adds its pull secret to the imagePullSecrets of the ServiceAccounts its spec.serviceAccounts lists, takes out
// the entries it no longer wants, and on deletion takes out all of them (the runtime's finalizer helper, with the
// finalizer set only while the list is non-empty). The record on each ServiceAccount makes removal exact.
import type { Logger } from "pino";
import type { V1Namespace } from "@kubernetes/client-node";
import { KIND, MAX_LISTED_SERVICE_ACCOUNTS } from "../../api/schema.ts";
import type { ClusterAWSAssumeRole } from "../../api/cluster-schema.ts";
import type { ServiceAccountsStatus } from "../../api/schema.ts";
import { Reason } from "../../domain/conditions.ts";
import {
  SERVICE_ACCOUNTS_FINALIZER,
  formatRecord,
  ownerKey,
  parseRecord,
  wirePullSecret,
} from "../../domain/pull-secrets.ts";
import { apiErrorMessage, isConflict, isForbidden, isNotFound } from "../../runtime/api-errors.ts";
import type { CachedServiceAccount } from "../../kube/service-accounts.ts";
import { selectedNamespaces } from "../../credentials/cluster-fan-out.ts";
import type { Cache } from "../../credentials/ports.ts";
import { finalizer } from "../../runtime/finalizer.ts";
import { parseKey } from "../../runtime/object-key.ts";
import type { Reconciler } from "../../runtime/reconciler.ts";
import { done, failed, temporaryError } from "../../runtime/result.ts";
import type { ReconcileResult } from "../../runtime/result.ts";
import { kindOf, ownerByKey } from "../feature.ts";
import type { Owner, OwnerCaches } from "../feature.ts";
import type { ServiceAccountCache } from "./cache.ts";
import { wantsWiring } from "./owner-writes.ts";
import type { OwnerWrites, ServiceAccountWriter } from "./owner-writes.ts";

export interface WiringReconcilerOptions extends OwnerCaches {
  cache: ServiceAccountCache;
  writer: ServiceAccountWriter;
  writes: OwnerWrites;
  namespaceCache: Cache<V1Namespace> | undefined;
  /** Watched namespaces (--namespaces); empty = all. */
  watchedNamespaces: readonly string[];
  logger: Logger;
}

/** Attempts at one ServiceAccount patch before the reconcile is retried with backoff. */
const PATCH_ATTEMPTS = 5;

/** What one apply did: the status to write and the ServiceAccounts that could not be updated. */
interface Wiring {
  status: ServiceAccountsStatus | undefined;
  failures: string[];
}

export class WiringReconciler implements Reconciler {
  private readonly options: WiringReconcilerOptions;
  private readonly watched: ReadonlySet<string> | undefined;

  constructor(options: WiringReconcilerOptions) {
    this.options = options;
    this.watched = options.watchedNamespaces.length ? new Set(options.watchedNamespaces) : undefined;
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const { namespace, name } = parseKey(key);
    // A cluster owner's entries are left alone without --cluster-assume-roles (decided by the flag).
    if (!namespace && !this.options.clusterResources) return done();
    const resource = ownerByKey(this.options, namespace, name);
    const owner = ownerKey(namespace ? KIND : "ClusterAWSAssumeRole", name);
    try {
      if (!resource) {
        // Gone from the cache: entries it still has (its finalizer was removed by someone else) are released.
        await this.releaseAll(owner, namespace, this.options.cache.wiredIn(namespace), signal);
        return done();
      }
      return await this.reconcileOwner(resource, owner, signal);
    } catch (err) {
      return temporaryError(new Error(apiErrorMessage(err)));
    }
  }

  private async reconcileOwner(
    resource: Owner,
    owner: string,
    signal?: AbortSignal,
  ): Promise<ReconcileResult> {
    const wants = wantsWiring(resource);
    const names = wants ? resource.spec.serviceAccounts! : [];
    const hasFinalizer = resource.metadata.finalizers?.includes(SERVICE_ACCOUNTS_FINALIZER) ?? false;
    // Each watch enqueues its owners once it has listed; until then nothing is applied, nor a finalizer dropped.
    if (
      !resource.metadata.deletionTimestamp &&
      (hasFinalizer || !wants) &&
      !this.options.cache.synced(names)
    ) {
      return done();
    }
    let wiring: Wiring | undefined;
    const result = await finalizer({
      finalizer: SERVICE_ACCOUNTS_FINALIZER,
      metadata: resource.metadata,
      needed: wants,
      setFinalizers: (finalizers) => this.options.writes.setFinalizers(resource, finalizers, signal),
      apply: async () => {
        wiring = await this.apply(resource, owner, wants, signal);
        return wiring.failures.length
          ? temporaryError(new Error(`could not update ServiceAccounts: ${wiring.failures[0]}`))
          : done();
      },
      cleanup: async () => {
        await this.cleanup(resource, owner, signal);
        return done();
      },
    });
    // After the finalizer: a status write changes the resourceVersion the finalizer patch is conditioned on.
    if (wiring) {
      await this.options.writes.writeStatus(resource, wiring.status, signal);
      if (failed(result)) {
        this.options.writes.event(
          resource,
          "Warning",
          Reason.ServiceAccountPatchFailed,
          `Could not update ${wiring.failures.length} ServiceAccount(s); retrying. First: ${wiring.failures[0]}`,
        );
      }
    }
    return result;
  }

  /** Adds the Secret to the listed ServiceAccounts in every target namespace; removes entries no longer wanted. */
  private async apply(resource: Owner, owner: string, wants: boolean, signal?: AbortSignal): Promise<Wiring> {
    const names = wants ? resource.spec.serviceAccounts! : [];
    const log = this.options.logger.child({
      kind: kindOf(resource),
      namespace: resource.metadata.namespace,
      name: resource.metadata.name,
    });
    const targets = wants ? this.targetNamespaces(resource) : [];
    const wanted = new Set<string>();
    const missing: string[] = [];
    const failures: string[] = [];
    let wiredCount = 0;
    for (const namespace of targets) {
      for (const saName of names) {
        wanted.add(`${namespace}/${saName}`);
        const sa = this.options.cache.get(namespace, saName);
        if (!sa) {
          missing.push(`${namespace}/${saName}`);
          continue;
        }
        try {
          if (await this.patch(sa, owner, resource.spec.secretName, log, signal)) wiredCount++;
          else missing.push(`${namespace}/${saName}`);
        } catch (err) {
          failures.push(`${namespace}/${saName}: ${apiErrorMessage(err)}`);
        }
      }
    }
    // Entries this owner no longer wants: a name left the list, a namespace stopped matching, secretName changed.
    const stale = this.options.cache.wiredIn(resource.metadata.namespace).filter((sa) => {
      const had = parseRecord(sa.metadata.record)[owner];
      const at = `${sa.metadata.namespace}/${sa.metadata.name}`;
      return had !== undefined && (!wanted.has(at) || had !== resource.spec.secretName);
    });
    for (const sa of stale) {
      if (wanted.has(`${sa.metadata.namespace}/${sa.metadata.name}`)) continue; // swapped by patch() above
      try {
        await this.patch(sa, owner, undefined, log, signal);
      } catch (err) {
        failures.push(`${sa.metadata.namespace}/${sa.metadata.name}: ${apiErrorMessage(err)}`);
      }
    }
    const status = wants ? summary(wiredCount, missing, failures, names.length * targets.length) : undefined;
    return { status, failures };
  }

  /** The resource is being deleted: take its entries out (live list: the cache may lag). */
  private async cleanup(resource: Owner, owner: string, signal?: AbortSignal): Promise<void> {
    const namespace = resource.metadata.namespace ?? "";
    const scopes = namespace
      ? [namespace]
      : this.options.watchedNamespaces.length
        ? this.options.watchedNamespaces
        : [undefined];
    try {
      const live = (await Promise.all(scopes.map((ns) => this.options.writer.listWired(ns, signal)))).flat();
      await this.releaseAll(owner, namespace, live, signal);
    } catch (err) {
      // Not allowed to read or patch ServiceAccounts (RBAC taken away): keeping the finalizer would make the
      // resource undeletable for as long as that lasts. Let it go, and say which entries may remain.
      if (!isForbidden(err)) throw err;
      this.options.writes.event(
        resource,
        "Warning",
        Reason.ServiceAccountsNotCleaned,
        `Not allowed to update ServiceAccounts (${apiErrorMessage(err)}): imagePullSecrets entries for Secret ` +
          `${resource.spec.secretName} may remain in ${resource.spec.serviceAccounts?.join(", ") ?? "them"}; ` +
          `the resource is deleted anyway`,
      );
    }
  }

  /** Removes this owner's entries from the given ServiceAccounts (those whose record names it). */
  private async releaseAll(
    owner: string,
    namespace: string,
    candidates: readonly CachedServiceAccount[],
    signal?: AbortSignal,
  ): Promise<void> {
    const log = this.options.logger.child({ owner, namespace });
    for (const sa of candidates) {
      if (parseRecord(sa.metadata.record)[owner] === undefined) continue;
      // A namespaced owner's record key is only its name: it counts only in its own namespace.
      if (owner.startsWith(`${KIND}/`) && sa.metadata.namespace !== namespace) continue;
      await this.patch(sa, owner, undefined, log, signal);
    }
  }

  /**
   * Makes `sa` hold (or not hold) `secretName` for `owner`; a conflict reads it again and retries. Returns false
   * when the ServiceAccount is gone.
   */
  private async patch(
    sa: CachedServiceAccount,
    owner: string,
    secretName: string | undefined,
    log: Logger,
    signal?: AbortSignal,
  ): Promise<boolean> {
    let current: CachedServiceAccount | undefined = sa;
    for (let attempt = 1; current; attempt++) {
      const wiring = wirePullSecret(
        current.imagePullSecrets,
        parseRecord(current.metadata.record),
        owner,
        secretName,
      );
      if (!wiring.changed) return true;
      try {
        await this.options.writer.patchPullSecrets(
          current,
          wiring.imagePullSecrets,
          formatRecord(wiring.record),
          signal,
        );
        log.info(
          { serviceAccount: `${current.metadata.namespace}/${current.metadata.name}`, secretName, owner },
          secretName ? "imagePullSecrets entry added" : "imagePullSecrets entry removed",
        );
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        if (!isConflict(err) || attempt >= PATCH_ATTEMPTS) throw err;
        current = await this.options.writer.get(current.metadata.namespace, current.metadata.name, signal);
      }
    }
    return false;
  }

  private targetNamespaces(resource: Owner): string[] {
    if (kindOf(resource) === KIND) return [resource.metadata.namespace!];
    if (!this.options.clusterResources || !this.options.namespaceCache) return [];
    return selectedNamespaces(this.options.namespaceCache, this.watched, resource as ClusterAWSAssumeRole);
  }
}

function summary(wired: number, missing: string[], failures: string[], total: number): ServiceAccountsStatus {
  const parts = [`${wired} of ${total} ServiceAccount(s) hold the Secret in imagePullSecrets`];
  if (missing.length) parts.push(`${missing.length} do not exist yet and get it when they are created`);
  if (failures.length) parts.push(`${failures.length} could not be updated (first: ${failures[0]})`);
  return {
    wired,
    missing: missing.length,
    ...(missing.length ? { missingNames: missing.slice(0, MAX_LISTED_SERVICE_ACCOUNTS) } : {}),
    message: parts.join("; "),
  };
}
