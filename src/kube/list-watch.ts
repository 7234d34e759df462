// One list + watch of a path into a store keyed by namespace and name, like client-go's reflector: list (paged,
// projected), then watch from the list's resourceVersion with bookmarks. A watch the server ends (its timeout) is
// reopened from the last resourceVersion; 410 Gone (history compacted) lists again, reporting what vanished as
// deletes; any other failure is reported as "error" and ends this ListWatch (the Informer replaces it with backoff).
// "alive" is reported whenever the watch proves it works: it opened, or sent an event or a bookmark (the API
// server sends one about every minute on a quiet watch), which the Informer's stall watchdog relies on.
import { createInterface } from "node:readline";
import type { KubeClient } from "./client.ts";
import { listTransformed } from "./list.ts";

export interface MetaObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

type Callbacks<T> = {
  add: ((obj: T) => void)[];
  update: ((obj: T) => void)[];
  delete: ((obj: T) => void)[];
  alive: (() => void)[];
  error: ((err: unknown) => void)[];
};

export interface ListWatchOptions<T> {
  client: KubeClient;
  path: string;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  transform: (obj: unknown) => T;
  /** Deadline of each list page (default: the client's request timeout). */
  pageTimeoutMs?: number | undefined;
  /** How long the server keeps one watch open (default: 5–10 minutes, random). */
  watchTimeoutSeconds?: number;
}

interface WatchEvent {
  type?: string;
  object?: { metadata?: { resourceVersion?: string }; code?: number; message?: string };
}

/** A watch ends on the server after 5–10 minutes, as client-go's reflector asks, so load spreads over servers. */
const watchTimeoutSeconds = () => String(300 + Math.floor(Math.random() * 300));
/** A watch that ends this soon after opening waits before reopening, doubling up to the maximum. */
const QUICK_END_MS = 1_000;
const REOPEN_BASE_MS = 1_000;
const REOPEN_MAX_MS = 30_000;

export class ListWatch<T extends MetaObject> {
  private readonly o: ListWatchOptions<T>;
  private objects = new Map<string, Map<string, T>>();
  private resourceVersion = "";
  private stopped = false;
  private abort: AbortController | undefined;
  private readonly callbacks: Callbacks<T> = { add: [], update: [], delete: [], alive: [], error: [] };

  constructor(options: ListWatchOptions<T>) {
    this.o = options;
  }

  on<E extends keyof Callbacks<T>>(event: E, callback: Callbacks<T>[E][number]): void {
    (this.callbacks[event] as unknown[]).push(callback);
  }

  /** Lists (the store is filled when this resolves), then watches in the background. */
  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.fill();
    } catch (err) {
      this.fail(err);
      return;
    }
    void this.watchLoop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ?? "")?.get(name);
  }

  list(namespace?: string): T[] {
    if (namespace) return [...(this.objects.get(namespace)?.values() ?? [])];
    const all: T[] = [];
    for (const byName of this.objects.values()) for (const obj of byName.values()) all.push(obj);
    return all;
  }

  private async fill(): Promise<void> {
    this.abort = new AbortController();
    const listed = await listTransformed(this.o.client, this.o.path, this.o.transform, {
      labelSelector: this.o.labelSelector,
      fieldSelector: this.o.fieldSelector,
      signal: this.abort.signal,
      ...(this.o.pageTimeoutMs ? { pageTimeoutMs: this.o.pageTimeoutMs } : {}),
    });
    if (this.stopped) return;
    const keep = new Set(listed.items.map(keyOf));
    for (const [namespace, byName] of this.objects) {
      for (const [name, obj] of byName) {
        if (keep.has(`${namespace}/${name}`)) continue;
        byName.delete(name);
        for (const cb of this.callbacks.delete) cb(obj);
      }
      if (byName.size === 0) this.objects.delete(namespace);
    }
    for (const obj of listed.items) this.addOrUpdate(obj);
    this.resourceVersion = listed.resourceVersion;
  }

  private async watchLoop(): Promise<void> {
    let reopenDelayMs = 0;
    while (!this.stopped) {
      const abort = (this.abort = new AbortController());
      const openedAt = Date.now();
      let gone = false;
      try {
        const response = await this.o.client.stream(
          this.o.path,
          {
            watch: "true",
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: "true",
            timeoutSeconds: this.o.watchTimeoutSeconds
              ? String(this.o.watchTimeoutSeconds)
              : watchTimeoutSeconds(),
            labelSelector: this.o.labelSelector,
            fieldSelector: this.o.fieldSelector,
          },
          abort.signal,
        );
        this.alive();
        for await (const line of createInterface({ input: response, crlfDelay: Infinity })) {
          if (this.stopped) break;
          gone = this.handle(line);
          if (gone) break;
        }
        response.destroy();
      } catch (err) {
        if (!this.stopped) this.fail(err);
        return;
      }
      if (this.stopped) return;
      if (gone) {
        // The resourceVersion is too old to watch from: list again (reporting what vanished) and go on from there.
        try {
          this.alive();
          await this.fill();
        } catch (err) {
          if (!this.stopped) this.fail(err);
          return;
        }
        reopenDelayMs = 0;
        continue;
      }
      // The server ended the watch (its timeout, or a restart): reopen from where we are, slower if it keeps
      // ending at once.
      reopenDelayMs =
        Date.now() - openedAt < QUICK_END_MS
          ? Math.min(REOPEN_MAX_MS, Math.max(REOPEN_BASE_MS, reopenDelayMs * 2))
          : 0;
      if (reopenDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, reopenDelayMs).unref());
    }
  }

  /** One watch event; true when the server said 410 Gone. */
  private handle(line: string): boolean {
    let event: WatchEvent;
    try {
      event = JSON.parse(line) as WatchEvent;
    } catch {
      return false; // not JSON: skip it, as client-go's decoder would fail the watch at worst
    }
    const raw = event.object;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
        this.addOrUpdate(this.o.transform(raw));
        break;
      case "DELETED": {
        const obj = this.o.transform(raw);
        const byName = this.objects.get(obj.metadata?.namespace ?? "");
        if (byName?.delete(obj.metadata?.name ?? "")) {
          if (byName.size === 0) this.objects.delete(obj.metadata?.namespace ?? "");
          for (const cb of this.callbacks.delete) cb(obj);
        }
        break;
      }
      case "BOOKMARK":
        break;
      case "ERROR":
        if (raw?.code === 410) return true;
        throw new Error(`watch ${this.o.path}: ${raw?.code ?? "?"}: ${raw?.message ?? "error event"}`);
      default:
        return false;
    }
    const rv = raw?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    this.alive();
    return false;
  }

  private addOrUpdate(obj: T): void {
    const namespace = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    let byName = this.objects.get(namespace);
    if (!byName) this.objects.set(namespace, (byName = new Map()));
    const found = byName.get(name);
    if (!found) {
      byName.set(name, obj);
      for (const cb of this.callbacks.add) cb(obj);
      return;
    }
    // The same version again (a relist of an unchanged object) is no update.
    const rv = found.metadata?.resourceVersion;
    if (rv !== undefined && rv === obj.metadata?.resourceVersion) return;
    byName.set(name, obj);
    for (const cb of this.callbacks.update) cb(obj);
  }

  private alive(): void {
    for (const cb of this.callbacks.alive) cb();
  }

  private fail(err: unknown): void {
    this.abort?.abort();
    for (const cb of this.callbacks.error) cb(err);
  }
}

function keyOf(obj: MetaObject): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}
