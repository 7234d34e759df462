// The ServiceAccounts the wiring caches, and no others: one watch per distinct listed name (fieldSelector
// metadata.name=<name>, started and stopped as owners list and unlist it, reference-counted) and one on the
// ServiceAccounts that carry our record (label-selected), each per watched namespace (or one for all) and kept as a
// lean projection — never a cache of every ServiceAccount.
import { InformerGroup } from "../../runtime/informer-group.ts";
import type { Informers, WatchSpec } from "../../runtime/informer-group.ts";
import { WIRED_SELECTOR, cachedServiceAccount, serviceAccountsPath } from "../../kube/service-accounts.ts";
import type { CachedServiceAccount } from "../../kube/service-accounts.ts";

export interface ServiceAccountCacheOptions {
  informers: Informers;
  /** Watched namespaces (--namespaces); empty = all. */
  watchedNamespaces: readonly string[];
  /** Every event of a cached ServiceAccount. */
  onChange(sa: CachedServiceAccount): void;
  /** A name's watches have all listed once (owners of a name no ServiceAccount has get no event otherwise). */
  onNameSynced(name: string): void;
}

export class ServiceAccountCache {
  private readonly options: ServiceAccountCacheOptions;
  /** ServiceAccounts that carry our record. */
  private readonly wired: InformerGroup<CachedServiceAccount>;
  /** Listed name → its watches and how many owners list it. */
  private readonly byName = new Map<string, { group: InformerGroup<CachedServiceAccount>; owners: number }>();
  /** Owner key → the names it lists (only owners that want wiring). */
  private readonly namesOf = new Map<string, string[]>();

  constructor(options: ServiceAccountCacheOptions) {
    this.options = options;
    this.wired = this.group((ns) => ({
      name: `serviceaccounts-wired@${ns ?? "*"}`,
      path: serviceAccountsPath(ns),
      labelSelector: WIRED_SELECTOR,
      transform: (obj) => cachedServiceAccount(obj as never),
    }));
  }

  private group(
    spec: (ns: string | undefined) => WatchSpec<CachedServiceAccount>,
  ): InformerGroup<CachedServiceAccount> {
    const group = new InformerGroup<CachedServiceAccount>({
      informers: this.options.informers,
      scopes: this.options.watchedNamespaces,
      spec,
    });
    group.subscribe((sa) => this.options.onChange(sa));
    return group;
  }

  /** Starts the watch on wired ServiceAccounts; resolves once it has listed. */
  start(): Promise<void> {
    return this.wired.start();
  }

  stop(): void {
    this.wired.stop();
    for (const { group } of this.byName.values()) group.stop();
    this.byName.clear();
  }

  /** Owner keys that list names (to look at again once the wired watch has listed). */
  owners(): string[] {
    return [...this.namesOf.keys()];
  }

  /** Whether the owner lists names (it is followed). */
  follows(ownerKey: string): boolean {
    return this.namesOf.has(ownerKey);
  }

  /** Owner keys that list `name`. */
  ownersOf(name: string): string[] {
    return [...this.namesOf].filter(([, names]) => names.includes(name)).map(([key]) => key);
  }

  /** Reference-counts the names an owner lists; starts a watch for a new name and stops one nobody lists. */
  follow(ownerKey: string, names: readonly string[]): void {
    const before = this.namesOf.get(ownerKey) ?? [];
    const after = [...new Set(names)];
    if (after.length) this.namesOf.set(ownerKey, after);
    else this.namesOf.delete(ownerKey);
    for (const name of after) {
      if (before.includes(name)) continue;
      const entry = this.byName.get(name);
      if (entry) {
        entry.owners++;
        continue;
      }
      const group = this.group((ns) => ({
        name: `serviceaccounts-${name}@${ns ?? "*"}`,
        path: serviceAccountsPath(ns),
        fieldSelector: `metadata.name=${name}`,
        transform: (obj) => cachedServiceAccount(obj as never),
      }));
      this.byName.set(name, { group, owners: 1 });
      void group.start().then(() => this.options.onNameSynced(name));
    }
    for (const name of before) {
      if (after.includes(name)) continue;
      const entry = this.byName.get(name);
      if (!entry || --entry.owners > 0) continue;
      entry.group.stop();
      this.byName.delete(name);
    }
  }

  /** The cached ServiceAccount, from its name's watch, or else from the wired watch. */
  get(namespace: string, name: string): CachedServiceAccount | undefined {
    return this.byName.get(name)?.group.get(namespace, name) ?? this.wired.get(namespace, name);
  }

  /** Whether the wired watch and the watches of these names have listed. */
  synced(names: readonly string[]): boolean {
    return this.wired.synced && names.every((n) => this.byName.get(n)?.group.synced ?? false);
  }

  /** Cached ServiceAccounts carrying a record: in `namespace`, or everywhere watched ("" or undefined). */
  wiredIn(namespace: string | undefined): readonly CachedServiceAccount[] {
    return this.wired.list(namespace || undefined);
  }

  /** ServiceAccounts cached in all the watches (for metrics and memory checks). */
  size(): number {
    let n = this.wired.list().length;
    for (const { group } of this.byName.values()) n += group.list().length;
    return n;
  }
}
