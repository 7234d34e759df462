// Wires each resource's pull secret into the imagePullSecrets of the ServiceAccounts its spec.serviceAccounts
// lists (--service-accounts), for both kinds, and takes the entries out again. Its own key queue of owners
// ("AWSAssumeRole/<namespace>/<name>", "ClusterAWSAssumeRole/<name>"), fed by the resource, Namespace and
// ServiceAccount watches. ServiceAccounts are cached only as far as needed: one watch per distinct listed name
// (fieldSelector metadata.name=<name>, started and stopped as the set of names changes) and one on the
// ServiceAccounts that carry our record (label-selected), each kept as a lean projection — never a cache of every
// ServiceAccount. The record (an annotation per ServiceAccount: owner → Secret) makes removal exact and survives
// restarts; a finalizer on the resource, only while it lists ServiceAccounts, lets deletion remove the entries.
import type { V1Namespace } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.ts";
import type { Logger } from "pino";
import { CLUSTER_KIND } from "../api/cluster-schema.ts";
import type { ClusterAWSAssumeRole } from "../api/cluster-schema.ts";
import { API_VERSION, KIND, MAX_LISTED_SERVICE_ACCOUNTS } from "../api/schema.ts";
import type { AWSAssumeRole, ServiceAccountsStatus } from "../api/schema.ts";
import { Reason } from "../domain/conditions.ts";
import {
  SERVICE_ACCOUNTS_FINALIZER,
  formatRecord,
  ownerKey,
  parseRecord,
  wirePullSecret,
} from "../domain/pull-secrets.ts";
import { canonicalJson } from "./content-hash.ts";
import { apiErrorMessage, isConflict, isForbidden, isNotFound } from "../kube/errors.ts";
import { Informer } from "../kube/informer.ts";
import { WIRED_SELECTOR, cachedServiceAccount, serviceAccountsPath } from "../kube/service-accounts.ts";
import type { CachedServiceAccount, ServiceAccountClient } from "../kube/service-accounts.ts";
import { selectedNamespaces } from "./cluster-reconciler.ts";
import type { Cache, EventSink } from "./ports.ts";
import { WorkQueue } from "./queue.ts";
import { done, temporaryError } from "./result.ts";
import type { ReconcileResult } from "./result.ts";

type Owner = AWSAssumeRole | ClusterAWSAssumeRole;

/** The adapter calls the wiring makes (ServiceAccountClient implements them). */
export type ServiceAccountWriter = Pick<
  ServiceAccountClient,
  "get" | "listWired" | "patchPullSecrets" | "patchFinalizers" | "patchStatus"
>;

export interface ServiceAccountWiringOptions {
  /** --service-accounts: when false, a resource listing serviceAccounts is told so, and never kept undeletable. */
  enabled: boolean;
  /** --cluster-assume-roles: ClusterAWSAssumeRoles are served (their wiring too). Decided by the flag, not a cache. */
  clusterAssumeRoles: boolean;
  client: KubeClient;
  logger: Logger;
  resources: Cache<AWSAssumeRole>;
  clusterResources: Cache<ClusterAWSAssumeRole> | undefined;
  namespaces: Cache<V1Namespace> | undefined;
  /** Watched namespaces (--namespaces); empty = all. */
  watchedNamespaces: readonly string[];
  writer: ServiceAccountWriter;
  events: EventSink;
  backoff: { baseMs: number; maxMs: number };
  stallAfterMs: number;
  relistEveryMs: number;
  reconcileTimeoutMs: number;
  /** Deadline of each list page of the ServiceAccount watches (--request-timeout-ms). */
  requestTimeoutMs?: number;
}

/** Attempts at one ServiceAccount patch before the reconcile is retried with backoff. */
const PATCH_ATTEMPTS = 5;

export class ServiceAccountWiring {
  readonly queue: WorkQueue;
  private readonly o: ServiceAccountWiringOptions;
  private readonly scopes: (string | undefined)[];
  private readonly watched: ReadonlySet<string> | undefined;
  /** ServiceAccounts that carry our record, one informer per watched namespace (or one for all). */
  private readonly wired: Informer<CachedServiceAccount>[];
  /** Listed name → its informers (one per scope) and how many owners list it. */
  private readonly byName = new Map<
    string,
    { informers: Informer<CachedServiceAccount>[]; owners: number }
  >();
  /** Owner queue key → the names it lists (only owners that want wiring). */
  private readonly namesOf = new Map<string, string[]>();
  /** `${uid}/${generation}` of resources already told the feature is off (pruned on delete). */
  private readonly toldDisabled = new Set<string>();
  private working = false;

  constructor(o: ServiceAccountWiringOptions) {
    this.o = o;
    this.scopes = o.watchedNamespaces.length ? [...o.watchedNamespaces] : [undefined];
    this.watched = o.watchedNamespaces.length ? new Set(o.watchedNamespaces) : undefined;
    this.wired = o.enabled
      ? this.scopes.map((ns) =>
          this.informer(`serviceaccounts-wired@${ns ?? "*"}`, ns, { labelSelector: WIRED_SELECTOR }),
        )
      : [];
    this.queue = new WorkQueue({
      concurrency: 2,
      backoff: o.backoff,
      handler: (key) => this.reconcile(key, AbortSignal.timeout(o.reconcileTimeoutMs)),
      onError: (key, err, kind) =>
        o.logger.debug({ owner: key, err: err.message, kind }, "service account wiring failed"),
    });
  }

  private informer(
    name: string,
    namespace: string | undefined,
    selector: { labelSelector?: string; fieldSelector?: string },
  ): Informer<CachedServiceAccount> {
    const changed = (sa: CachedServiceAccount) => this.serviceAccountChanged(sa);
    return new Informer<CachedServiceAccount>({
      client: this.o.client,
      logger: this.o.logger,
      stallAfterMs: this.o.stallAfterMs,
      relistEveryMs: this.o.relistEveryMs,
      ...(this.o.requestTimeoutMs ? { requestTimeoutMs: this.o.requestTimeoutMs } : {}),
      name,
      path: serviceAccountsPath(namespace),
      ...selector,
      transform: (obj) => cachedServiceAccount(obj as never),
      onAdd: changed,
      onUpdate: changed,
      onDelete: changed,
    });
  }

  /** Starts the watch on wired ServiceAccounts in the background: readiness does not wait for it (RBAC may lack). */
  startCaches(): void {
    for (const i of this.wired) {
      void i.start().then(() => {
        if (this.working) for (const key of this.namesOf.keys()) this.queue.add(key);
      });
    }
  }

  stopCaches(): void {
    for (const i of this.wired) i.stop();
    for (const { informers } of this.byName.values()) for (const i of informers) i.stop();
    this.byName.clear();
  }

  startWorkers(): void {
    this.working = true;
    for (const r of this.o.resources.list()) if (concerns(r)) this.queue.add(queueKey(r));
    for (const r of this.o.clusterResources?.list() ?? []) if (concerns(r)) this.queue.add(queueKey(r));
    this.queue.start();
  }

  async stopWorkers(): Promise<void> {
    this.working = false;
    await this.queue.shutdown();
  }

  /** Memory check for tests and metrics: ServiceAccounts cached in all of the wiring's informers. */
  cachedServiceAccounts(): number {
    let n = 0;
    for (const i of this.wired) n += i.list().length;
    for (const { informers } of this.byName.values()) for (const i of informers) n += i.list().length;
    return n;
  }

  /** A resource of either kind was added or changed: follow its names, and look at it again. */
  resourceChanged(r: Owner): void {
    const key = queueKey(r);
    const followed = this.namesOf.has(key);
    this.follow(key, this.o.enabled && wantsWiring(r) ? r.spec.serviceAccounts! : []);
    if (this.working && (followed || concerns(r))) this.queue.add(key);
  }

  resourceDeleted(r: Owner): void {
    const key = queueKey(r);
    const followed = this.namesOf.has(key);
    this.follow(key, []);
    for (const told of this.toldDisabled)
      if (told.startsWith(`${r.metadata.uid}/`)) this.toldDisabled.delete(told);
    // Gone from the cache: entries it still has (its finalizer was removed by someone else) are released.
    if (this.working && this.o.enabled && (followed || concerns(r))) this.queue.add(key);
  }

  /** A Namespace's labels changed: cluster resources may select a different set now. */
  namespaceChanged(): void {
    if (!this.working || !this.o.enabled) return;
    for (const r of this.o.clusterResources?.list() ?? []) if (wantsWiring(r)) this.queue.add(queueKey(r));
  }

  private serviceAccountChanged(sa: CachedServiceAccount): void {
    if (!this.working) return;
    const { namespace, name } = sa.metadata;
    for (const r of this.o.resources.list(namespace))
      if (r.spec.serviceAccounts?.includes(name)) this.queue.add(queueKey(r));
    for (const r of this.o.clusterResources?.list() ?? [])
      if (r.spec.serviceAccounts?.includes(name)) this.queue.add(queueKey(r));
    for (const owner of Object.keys(parseRecord(sa.metadata.record))) {
      const [kind, ownerName] = splitOwner(owner);
      this.queue.add(kind === KIND ? `${KIND}/${namespace}/${ownerName}` : `${CLUSTER_KIND}/${ownerName}`);
    }
  }

  /** Reference-counts the names an owner lists; starts a watch for a new name and stops one nobody lists. */
  private follow(key: string, names: readonly string[]): void {
    const before = this.namesOf.get(key) ?? [];
    const after = [...new Set(names)];
    if (after.length) this.namesOf.set(key, after);
    else this.namesOf.delete(key);
    for (const name of after) {
      if (before.includes(name)) continue;
      const entry = this.byName.get(name);
      if (entry) {
        entry.owners++;
        continue;
      }
      const informers = this.scopes.map((ns) =>
        this.informer(`serviceaccounts-${name}@${ns ?? "*"}`, ns, { fieldSelector: `metadata.name=${name}` }),
      );
      this.byName.set(name, { informers, owners: 1 });
      for (const i of informers) {
        // Owners of a name whose ServiceAccounts do not exist get no watch event: look at them once it has listed.
        void i.start().then(() => this.nameSynced(name));
      }
    }
    for (const name of before) {
      if (after.includes(name)) continue;
      const entry = this.byName.get(name);
      if (!entry || --entry.owners > 0) continue;
      for (const i of entry.informers) i.stop();
      this.byName.delete(name);
    }
  }

  private nameSynced(name: string): void {
    if (!this.working) return;
    for (const [key, names] of this.namesOf) if (names.includes(name)) this.queue.add(key);
  }

  /** The cached ServiceAccount, from its name's watch, or else from the wired watch. */
  private serviceAccount(namespace: string, name: string): CachedServiceAccount | undefined {
    const pick = (informers: Informer<CachedServiceAccount>[]) =>
      (this.watched ? informers[this.scopes.indexOf(namespace)] : informers[0])?.get(namespace, name);
    const entry = this.byName.get(name);
    return (entry && pick(entry.informers)) ?? pick(this.wired);
  }

  private synced(names: readonly string[]): boolean {
    return (
      this.wired.every((i) => i.synced) &&
      names.every((n) => this.byName.get(n)?.informers.every((i) => i.synced) ?? false)
    );
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const { kind, namespace, name } = parseQueueKey(key);
    if (kind === CLUSTER_KIND && !this.o.clusterAssumeRoles) return done();
    const resource =
      kind === KIND ? this.o.resources.get(namespace, name) : this.o.clusterResources!.get("", name);
    const owner = ownerKey(kind, name);
    try {
      if (!this.o.enabled) return await this.reconcileDisabled(resource, signal);
      if (!resource) {
        await this.releaseAll(owner, namespace, this.cachedWired(namespace), signal);
        return done();
      }
      if (resource.metadata.deletionTimestamp) return await this.finalize(resource, owner, signal);
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
    const finalizers = resource.metadata.finalizers ?? [];
    const hasFinalizer = finalizers.includes(SERVICE_ACCOUNTS_FINALIZER);
    // The finalizer comes before the first entry, so a deletion can always take the entries out again.
    if (wants && !hasFinalizer) {
      await this.setFinalizers(resource, [...finalizers, SERVICE_ACCOUNTS_FINALIZER], signal);
      return done(); // the watch brings the resource back with its finalizer
    }
    if (!this.synced(names)) return done(); // each watch enqueues its owners once it has listed

    const log = this.o.logger.child({
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
        const sa = this.serviceAccount(namespace, saName);
        if (!sa) {
          missing.push(`${namespace}/${saName}`);
          continue;
        }
        try {
          if (await this.apply(sa, owner, resource.spec.secretName, log, signal)) wiredCount++;
          else missing.push(`${namespace}/${saName}`);
        } catch (err) {
          failures.push(`${namespace}/${saName}: ${apiErrorMessage(err)}`);
        }
      }
    }
    // Entries this owner no longer wants: a name left the list, a namespace stopped matching, secretName changed.
    const stale = this.cachedWired(resource.metadata.namespace ?? "").filter((sa) => {
      const had = parseRecord(sa.metadata.record)[owner];
      const at = `${sa.metadata.namespace}/${sa.metadata.name}`;
      return had !== undefined && (!wanted.has(at) || had !== resource.spec.secretName);
    });
    for (const sa of stale) {
      if (wanted.has(`${sa.metadata.namespace}/${sa.metadata.name}`)) continue; // swapped by apply() above
      try {
        await this.apply(sa, owner, undefined, log, signal);
      } catch (err) {
        failures.push(`${sa.metadata.namespace}/${sa.metadata.name}: ${apiErrorMessage(err)}`);
      }
    }

    if (!wants && hasFinalizer && failures.length === 0) {
      await this.dropFinalizer(resource, signal);
    }
    const status = wants ? summary(wiredCount, missing, failures, names.length * targets.length) : undefined;
    await this.writeStatus(resource, status, signal);
    if (failures.length > 0) {
      this.event(
        resource,
        "Warning",
        Reason.ServiceAccountPatchFailed,
        `Could not update ${failures.length} ServiceAccount(s); retrying. First: ${failures[0]}`,
      );
      return temporaryError(new Error(`could not update ServiceAccounts: ${failures[0]}`));
    }
    return done();
  }

  /** The resource is being deleted: take its entries out (live list: the cache may lag), then let it go. */
  private async finalize(resource: Owner, owner: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const finalizers = resource.metadata.finalizers ?? [];
    if (!finalizers.includes(SERVICE_ACCOUNTS_FINALIZER)) return done();
    const namespace = resource.metadata.namespace ?? "";
    try {
      const live = (
        await Promise.all(this.liveScopes(namespace).map((ns) => this.o.writer.listWired(ns, signal)))
      ).flat();
      await this.releaseAll(owner, namespace, live, signal);
    } catch (err) {
      // Not allowed to read or patch ServiceAccounts (RBAC taken away): keeping the finalizer would make the
      // resource undeletable for as long as that lasts. Let it go, and say which entries may remain.
      if (!isForbidden(err)) throw err;
      this.event(
        resource,
        "Warning",
        Reason.ServiceAccountsNotCleaned,
        `Not allowed to update ServiceAccounts (${apiErrorMessage(err)}): imagePullSecrets entries for Secret ` +
          `${resource.spec.secretName} may remain in ${resource.spec.serviceAccounts?.join(", ") ?? "them"}; ` +
          `the resource is deleted anyway`,
      );
    }
    await this.dropFinalizer(resource, signal);
    return done();
  }

  /** Without --service-accounts: say so on resources that list ServiceAccounts, and never hold a deletion. */
  private async reconcileDisabled(
    resource: Owner | undefined,
    signal?: AbortSignal,
  ): Promise<ReconcileResult> {
    if (!resource) return done();
    const finalizers = resource.metadata.finalizers ?? [];
    if (resource.metadata.deletionTimestamp) {
      if (finalizers.includes(SERVICE_ACCOUNTS_FINALIZER)) {
        const kind = kindOf(resource) === KIND ? "aar" : "caar";
        const where = resource.metadata.namespace ? ` -n ${resource.metadata.namespace}` : "";
        try {
          await this.dropFinalizer(resource, signal);
        } catch (err) {
          // The chart grants patch on the resources only with serviceAccounts.enabled: say how to let it go.
          if (!isForbidden(err)) throw err;
          this.event(
            resource,
            "Warning",
            Reason.ServiceAccountsNotCleaned,
            `The operator runs without --service-accounts and may not remove its finalizer ` +
              `(${apiErrorMessage(err)}): remove it with kubectl patch ${kind} ${resource.metadata.name}${where} ` +
              `--type=merge -p '{"metadata":{"finalizers":null}}'; entries it added for Secret ` +
              `${resource.spec.secretName} remain in imagePullSecrets`,
          );
          throw err;
        }
        this.event(
          resource,
          "Warning",
          Reason.ServiceAccountsNotCleaned,
          `The operator runs without --service-accounts: imagePullSecrets entries for Secret ` +
            `${resource.spec.secretName} that it added earlier remain; the resource is deleted anyway`,
        );
      }
      return done();
    }
    if (!resource.spec.serviceAccounts?.length) {
      await this.writeStatus(resource, undefined, signal);
      return done();
    }
    const message =
      "The operator runs without --service-accounts (Helm: serviceAccounts.enabled), so spec.serviceAccounts " +
      "is ignored: no ServiceAccount gets the Secret";
    await this.writeStatus(resource, { wired: 0, missing: 0, message }, signal);
    const told = `${resource.metadata.uid}/${resource.metadata.generation}`;
    if (!this.toldDisabled.has(told)) {
      this.toldDisabled.add(told);
      this.event(resource, "Warning", Reason.ServiceAccountsDisabled, message);
    }
    return done();
  }

  /** Removes this owner's entries from the given ServiceAccounts (those whose record names it). */
  private async releaseAll(
    owner: string,
    namespace: string,
    candidates: readonly CachedServiceAccount[],
    signal?: AbortSignal,
  ): Promise<void> {
    const log = this.o.logger.child({ owner, namespace });
    for (const sa of candidates) {
      if (parseRecord(sa.metadata.record)[owner] === undefined) continue;
      // A namespaced owner's record key is only its name: it counts only in its own namespace.
      if (owner.startsWith(`${KIND}/`) && sa.metadata.namespace !== namespace) continue;
      await this.apply(sa, owner, undefined, log, signal);
    }
  }

  /**
   * Makes `sa` hold (or not hold) `secretName` for `owner`; a conflict reads it again and retries. Returns false
   * when the ServiceAccount is gone.
   */
  private async apply(
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
        await this.o.writer.patchPullSecrets(
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
        current = await this.o.writer.get(current.metadata.namespace, current.metadata.name, signal);
      }
    }
    return false;
  }

  private targetNamespaces(resource: Owner): string[] {
    if (kindOf(resource) === KIND) return [resource.metadata.namespace!];
    if (!this.o.clusterAssumeRoles || !this.o.namespaces) return [];
    return selectedNamespaces(this.o.namespaces, this.watched, resource as ClusterAWSAssumeRole);
  }

  /** Cached ServiceAccounts carrying a record: for a namespaced owner in its namespace, else everywhere watched. */
  private cachedWired(namespace: string): CachedServiceAccount[] {
    return this.wired.flatMap((i) => i.list(namespace || undefined));
  }

  private liveScopes(namespace: string): (string | undefined)[] {
    return namespace ? [namespace] : this.scopes;
  }

  private dropFinalizer(resource: Owner, signal?: AbortSignal): Promise<void> {
    const rest = (resource.metadata.finalizers ?? []).filter((f) => f !== SERVICE_ACCOUNTS_FINALIZER);
    return this.setFinalizers(resource, rest, signal);
  }

  private async setFinalizers(resource: Owner, finalizers: string[], signal?: AbortSignal): Promise<void> {
    const { namespace, name, resourceVersion } = resource.metadata;
    await this.o.writer.patchFinalizers(namespace ?? "", name!, resourceVersion, finalizers, signal);
  }

  private async writeStatus(
    resource: Owner,
    status: ServiceAccountsStatus | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const current = resource.status?.serviceAccounts;
    if (canonicalJson(current ?? null) === canonicalJson(status ?? null)) return;
    await this.o.writer.patchStatus(
      resource.metadata.namespace ?? "",
      resource.metadata.name!,
      status ?? null,
      signal,
    );
  }

  private event(resource: Owner, type: "Normal" | "Warning", reason: string, message: string): void {
    const { namespace, name, uid } = resource.metadata;
    this.o.events.emit(
      { apiVersion: API_VERSION, kind: kindOf(resource), namespace: namespace ?? "", name: name!, uid: uid! },
      type,
      reason,
      message,
    );
  }
}

/** Whether the resource asks for wiring: serviceAccounts listed, on a pull secret (the CRD enforces the pair). */
export function wantsWiring(r: Owner): boolean {
  return (r.spec.serviceAccounts?.length ?? 0) > 0 && r.spec.secretType === "EcrDockerConfigJson";
}

/** Whether the wiring has anything to do for the resource: names listed, our finalizer, or our status to clear. */
function concerns(r: Owner): boolean {
  return (
    (r.spec.serviceAccounts?.length ?? 0) > 0 ||
    (r.metadata.finalizers?.includes(SERVICE_ACCOUNTS_FINALIZER) ?? false) ||
    r.status?.serviceAccounts !== undefined
  );
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

/** The kind, from the spec (list items need not carry `kind`; namespaceSelector is required on the cluster kind). */
function kindOf(r: Owner): typeof KIND | typeof CLUSTER_KIND {
  return "namespaceSelector" in r.spec ? CLUSTER_KIND : KIND;
}

function queueKey(r: Owner): string {
  return kindOf(r) === CLUSTER_KIND
    ? `${CLUSTER_KIND}/${r.metadata.name}`
    : `${KIND}/${r.metadata.namespace}/${r.metadata.name}`;
}

function parseQueueKey(key: string): { kind: string; namespace: string; name: string } {
  const parts = key.split("/");
  return parts[0] === CLUSTER_KIND
    ? { kind: CLUSTER_KIND, namespace: "", name: parts[1]! }
    : { kind: KIND, namespace: parts[1]!, name: parts[2]! };
}

function splitOwner(owner: string): [string, string] {
  const slash = owner.indexOf("/");
  return [owner.slice(0, slash), owner.slice(slash + 1)];
}
