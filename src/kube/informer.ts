// A cache of one kind of object fed by list + watch (list-watch.ts), made robust: a watch that fails is replaced
// with backoff, a watchdog replaces a stalled one, and a periodic relist catches anything a watch may have missed.
// 410 Gone is handled by the ListWatch itself (it relists). Objects are projected on the way in (`transform`: raw
// paginated lists and watch events alike), and optional indexes map a value (an owner's UID) to the objects that
// carry it, so related objects are found without scanning.
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";
import { ListWatch } from "./list-watch.ts";
import type { MetaObject } from "./list-watch.ts";

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(obj: T): void;
  onDelete?(obj: T): void;
}

export type { MetaObject } from "./list-watch.ts";

/** What health checks and metrics read of any informer. */
export interface InformerHealth {
  readonly name: string;
  readonly synced: boolean;
  stalled(limitMs: number): boolean;
}

export interface InformerOptions<T extends MetaObject> extends InformerHandlers<T> {
  /** Name for logs and metrics, e.g. "awsassumeroles". */
  name: string;
  client: KubeClient;
  /** List and watch path, e.g. "/api/v1/secrets". */
  path: string;
  labelSelector?: string;
  /** Deadline of each list page request (default: the client's, --request-timeout-ms). A page that does not answer
   * in time fails the list, which is retried with backoff like any failed list. */
  requestTimeoutMs?: number;
  /** Field selector, e.g. `metadata.name=default`: the server sends only matching objects (list and watch). */
  fieldSelector?: string;
  /** The projection the cache keeps of each listed or watched object (default: the object as it came). */
  transform?: (obj: unknown) => T;
  /** Named index functions: each returns the values an object is found under with byIndex(). */
  indexers?: Record<string, (obj: T) => string[]>;
  logger: Logger;
  /** A watch with no successful (re)connect or event for this long is replaced (default 120 s). */
  stallAfterMs?: number;
  /** Full relist period (default 1 h; 0 disables). */
  relistEveryMs?: number;
  now?: () => number;
}

const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;

/** value → keys (namespace/name) per index, with each key's current values to undo on update and delete. */
class Indexes<T extends MetaObject> {
  private readonly indexers: Record<string, (obj: T) => string[]>;
  private readonly byValue = new Map<string, Map<string, Set<string>>>();
  private readonly valuesOf = new Map<string, Map<string, string[]>>();

  constructor(indexers: Record<string, (obj: T) => string[]>) {
    this.indexers = indexers;
    for (const name of Object.keys(indexers)) {
      this.byValue.set(name, new Map());
      this.valuesOf.set(name, new Map());
    }
  }

  set(obj: T): void {
    const key = keyOf(obj);
    for (const [name, index] of Object.entries(this.indexers)) {
      this.remove(name, key);
      const values = [...new Set(index(obj))];
      if (values.length === 0) continue;
      this.valuesOf.get(name)!.set(key, values);
      const byValue = this.byValue.get(name)!;
      for (const value of values) {
        let keys = byValue.get(value);
        if (!keys) byValue.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  delete(obj: T): void {
    for (const name of Object.keys(this.indexers)) this.remove(name, keyOf(obj));
  }

  keys(name: string, value: string): string[] {
    const keys = this.byValue.get(name)?.get(value);
    if (!keys) {
      if (!this.byValue.has(name)) throw new Error(`no index named ${name}`);
      return [];
    }
    return [...keys];
  }

  private remove(name: string, key: string): void {
    const values = this.valuesOf.get(name)!.get(key);
    if (!values) return;
    this.valuesOf.get(name)!.delete(key);
    const byValue = this.byValue.get(name)!;
    for (const value of values) {
      const keys = byValue.get(value);
      keys?.delete(key);
      if (keys?.size === 0) byValue.delete(value);
    }
  }
}

export class Informer<T extends MetaObject> implements InformerHealth {
  readonly name: string;
  private readonly options: InformerOptions<T>;
  private listWatch: ListWatch<T> | undefined;
  /** The indexes of the current listWatch (each ListWatch fills its own, swapped together). */
  private indexes: Indexes<T> | undefined;
  private stopped = true;
  private restartAttempt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private lastActivityMs = 0;
  private syncedOnce = false;
  private readonly now: () => number;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.name = options.name;
    this.now = options.now ?? Date.now;
  }

  /** Starts the list + watch; resolves once the first list has filled the cache. */
  async start(): Promise<void> {
    this.stopped = false;
    for (;;) {
      try {
        await this.replaceListWatch();
        break;
      } catch (err) {
        if (this.stopped) return;
        const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** this.restartAttempt++);
        this.options.logger.warn(
          { informer: this.name, err: errorText(err), retryInMs: delay },
          "list failed",
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    const stallAfter = this.options.stallAfterMs ?? 120_000;
    this.watchdogTimer = setInterval(() => this.checkStalled(stallAfter), Math.max(1000, stallAfter / 4));
    this.watchdogTimer.unref();
    const relistEvery = this.options.relistEveryMs ?? 3_600_000;
    if (relistEvery > 0) {
      this.relistTimer = setInterval(() => void this.relist("periodic"), relistEvery);
      this.relistTimer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdogTimer);
    clearInterval(this.relistTimer);
    this.listWatch?.stop();
  }

  get(namespace: string, name: string): T | undefined {
    return this.listWatch?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.listWatch?.list(namespace) ?? [];
  }

  /** The cached objects an index maps this value to (e.g. the Secrets a resource UID owns). */
  byIndex(index: string, value: string): T[] {
    const out: T[] = [];
    for (const key of this.indexes?.keys(index, value) ?? []) {
      const slash = key.indexOf("/");
      const obj = this.get(key.slice(0, slash), key.slice(slash + 1));
      if (obj) out.push(obj);
    }
    return out;
  }

  /** True once the cache was filled by a list. */
  get synced(): boolean {
    return this.syncedOnce;
  }

  /** Milliseconds since the watch last connected or delivered an event. */
  idleMs(): number {
    return this.now() - this.lastActivityMs;
  }

  /** Whether the watchdog considers this informer stalled (used by /healthz). */
  stalled(limitMs: number): boolean {
    return !this.stopped && this.idleMs() > limitMs;
  }

  private touch(): void {
    this.lastActivityMs = this.now();
    this.restartAttempt = 0;
  }

  private checkStalled(limitMs: number): void {
    if (this.stopped || this.restartTimer !== undefined) return;
    if (this.idleMs() > limitMs) {
      this.options.logger.warn({ informer: this.name, idleMs: this.idleMs() }, "watch stalled; relisting");
      void this.relist("stalled");
    }
  }

  private async relist(why: string): Promise<void> {
    if (this.stopped) return;
    try {
      await this.replaceListWatch();
      this.options.logger.debug({ informer: this.name, why }, "relisted");
    } catch (err) {
      this.scheduleRestart(err);
    }
  }

  /** Builds a fresh ListWatch, fills it with a list, then swaps it in and reports objects that vanished. */
  private async replaceListWatch(): Promise<void> {
    const { client, path, labelSelector, fieldSelector, requestTimeoutMs } = this.options;
    const fresh = new ListWatch<T>({
      client,
      path,
      labelSelector,
      fieldSelector,
      transform: this.options.transform ?? ((obj: unknown) => obj as T),
      pageTimeoutMs: requestTimeoutMs,
    });
    const indexes = new Indexes<T>(this.options.indexers ?? {});
    fresh.on("add", (obj) => indexes.set(obj));
    fresh.on("update", (obj) => indexes.set(obj));
    fresh.on("delete", (obj) => indexes.delete(obj));
    const previous = this.listWatch;
    const forward = (handler: ((obj: T) => void) | undefined) => (obj: T) => {
      this.touch();
      if (this.listWatch === fresh) handler?.(obj);
    };
    fresh.on("add", forward(this.options.onAdd));
    fresh.on("update", forward(this.options.onUpdate));
    fresh.on("delete", forward(this.options.onDelete));
    let startError: unknown;
    // A watch that opened or sent a bookmark is alive for the watchdog; only a successful list or an event ends
    // the restart backoff (otherwise a watch that opens and fails at once would be retried every 500 ms).
    fresh.on("alive", () => (this.lastActivityMs = this.now()));
    fresh.on("error", (err) => {
      if (this.listWatch === fresh) this.scheduleRestart(err);
      else startError ??= err;
    });
    // start() lists, then opens the watch; objects the list adds are replayed below once this one is current.
    await fresh.start();
    if (startError !== undefined) {
      fresh.stop();
      throw startError;
    }
    if (this.stopped) {
      fresh.stop();
      return;
    }
    this.listWatch = fresh;
    this.indexes = indexes;
    this.syncedOnce = true;
    this.touch();
    if (previous) {
      previous.stop();
      const keep = new Set(fresh.list().map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`));
      for (const old of previous.list()) {
        if (!keep.has(`${old.metadata?.namespace}/${old.metadata?.name}`)) this.options.onDelete?.(old);
      }
    }
    for (const obj of fresh.list()) this.options.onAdd?.(obj);
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped || this.restartTimer !== undefined) return;
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** this.restartAttempt);
    this.restartAttempt++;
    this.options.logger.warn(
      { informer: this.name, err: errorText(err), retryInMs: delay },
      "watch failed; restarting",
    );
    // Not unref'd: while the API server is unreachable this timer may be all that keeps the process alive (the
    // watches' sockets are gone, the queue's timers are unref'd); unref'd, the operator exited with code 0.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.relist("error");
    }, delay);
  }
}

function keyOf(obj: MetaObject): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name}`;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
