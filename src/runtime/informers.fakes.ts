// In-memory fakes of the Informers port for unit tests: each informer is a map the test fills, and put/remove
// report to the subscribers as a watch would.
import type { Informers, RuntimeObject, Watch, WatchHandlers, WatchSpec } from "./informer-group.ts";
import { keyOf } from "./object-key.ts";

export class FakeWatch<T extends RuntimeObject> implements Watch<T> {
  readonly name: string;
  readonly spec: WatchSpec<T>;
  readonly objects = new Map<string, T>();
  synced = false;
  started = false;
  private readonly handlers: WatchHandlers<T>;

  constructor(spec: WatchSpec<T>, handlers: WatchHandlers<T>) {
    this.name = spec.name;
    this.spec = spec;
    this.handlers = handlers;
  }

  start(): Promise<void> {
    this.started = true;
    this.synced = true;
    return Promise.resolve();
  }

  stop(): void {
    this.started = false;
  }

  stalled(): boolean {
    return false;
  }

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): readonly T[] {
    return [...this.objects.values()].filter(
      (o) => namespace === undefined || o.metadata?.namespace === namespace,
    );
  }

  byIndex(index: string, value: string): T[] {
    const indexer = this.spec.indexers?.[index];
    return indexer ? this.list().filter((o) => indexer(o).includes(value)) : [];
  }

  /** Adds or updates the object (projected by the informer's transform), as a watch event would. */
  put(raw: unknown): void {
    const obj = this.spec.transform(raw);
    const key = keyOf(obj);
    const known = this.objects.has(key);
    this.objects.set(key, obj);
    if (known) this.handlers.onUpdate(obj);
    else this.handlers.onAdd(obj);
  }

  remove(obj: T): void {
    this.objects.delete(keyOf(obj));
    this.handlers.onDelete(obj);
  }
}

/** An Informers port that records every informer it builds, by name. */
export class FakeInformers {
  readonly watches = new Map<string, FakeWatch<RuntimeObject>>();

  readonly port: Informers = <T extends RuntimeObject>(spec: WatchSpec<T>, handlers: WatchHandlers<T>) => {
    const watch = new FakeWatch<T>(spec, handlers);
    this.watches.set(spec.name, watch as unknown as FakeWatch<RuntimeObject>);
    return watch;
  };

  get<T extends RuntimeObject>(name: string): FakeWatch<T> {
    const watch = this.watches.get(name);
    if (!watch) throw new Error(`no informer ${name}; have ${[...this.watches.keys()].join(", ")}`);
    return watch as unknown as FakeWatch<T>;
  }
}
