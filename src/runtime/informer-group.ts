// One kind's cache as the runtime sees it: several informers (one per watched namespace, or one for all) behind
// one read interface, whose events fan out to every subscriber — the primary controller, controllers that own or
// watch the kind, and features — so one watch serves them all (client-go's shared informer). The informers
// themselves come from a port (src/kube's Informer behind it), so unit tests pass in-memory fakes.

/** The metadata the runtime reads of any object. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string | Date;
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
}

export interface RuntimeObject {
  metadata?: ObjectMeta;
}

/** What health checks and metrics read of any informer. */
export interface InformerHealth {
  readonly name: string;
  readonly synced: boolean;
  stalled(limitMs: number): boolean;
}

/** The port to an informer (src/kube's Informer implements it): a list + watch fed cache of one scope. */
export interface Watch<T> extends InformerHealth {
  start(): Promise<void>;
  stop(): void;
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): readonly T[];
  byIndex(index: string, value: string): T[];
}

/** `delete`: the object left the cache (deleted, or no longer selected by the informer's selectors). */
export type WatchEventType = "add" | "update" | "delete";

export interface WatchHandlers<T> {
  onAdd(obj: T): void;
  onUpdate(obj: T): void;
  onDelete(obj: T): void;
}

/** What to list and watch: the port's request for one informer. */
export interface WatchSpec<T> {
  /** For logs and /healthz, e.g. "secrets@ns". */
  name: string;
  /** List and watch path, e.g. "/api/v1/namespaces/ns/secrets". */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The projection the cache keeps of each object. */
  transform(obj: unknown): T;
  /** Named index functions: each returns the values an object is found under with byIndex(). */
  indexers?: Record<string, (obj: T) => string[]>;
}

/** The port that builds informers (src/kube's Informer behind it; fakes in unit tests). */
export type Informers = <T extends RuntimeObject>(spec: WatchSpec<T>, handlers: WatchHandlers<T>) => Watch<T>;

export type WatchListener<T> = (obj: T, type: WatchEventType) => void;

export interface InformerGroupOptions<T> {
  informers: Informers;
  /** Watched namespaces; empty = one informer for all (and always empty for a cluster-scoped kind). */
  scopes: readonly string[];
  /** The informer of one scope (a namespace, or undefined for all). */
  spec(scope: string | undefined): WatchSpec<T>;
}

export class InformerGroup<T extends RuntimeObject> {
  readonly informers: Watch<T>[];
  private readonly scopes: readonly string[];
  private readonly listeners: WatchListener<T>[] = [];

  constructor(options: InformerGroupOptions<T>) {
    this.scopes = options.scopes;
    const handlers: WatchHandlers<T> = {
      onAdd: (obj) => this.emit(obj, "add"),
      onUpdate: (obj) => this.emit(obj, "update"),
      onDelete: (obj) => this.emit(obj, "delete"),
    };
    const scopes = options.scopes.length === 0 ? [undefined] : options.scopes;
    this.informers = scopes.map((ns) => options.informers(options.spec(ns), handlers));
  }

  /** Every later add, update and delete is told to `listener`, in the order listeners subscribed. */
  subscribe(listener: WatchListener<T>): void {
    this.listeners.push(listener);
  }

  private emit(obj: T, type: WatchEventType): void {
    for (const listener of this.listeners) listener(obj, type);
  }

  private pick(namespace: string): Watch<T> | undefined {
    if (this.scopes.length === 0) return this.informers[0];
    const i = this.scopes.indexOf(namespace);
    return i < 0 ? undefined : this.informers[i];
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

  /** Resolves once every informer has listed once. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }

  stop(): void {
    for (const i of this.informers) i.stop();
  }

  get synced(): boolean {
    return this.informers.every((i) => i.synced);
  }
}
