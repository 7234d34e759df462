// The controller's key queue, modelled on client-go's workqueue: deduplicates keys, never runs one key twice
// at once, and acts on each run's typed result (result.ts): requeue after a delay, retry a temporary error with
// full-jitter exponential backoff, recheck a terminal error after its fixed delay (if any), or wait.
//
// Delayed adds live in one min-heap ordered by deadline, served by a single unref'd timer armed for the
// earliest deadline. With 50,000 delayed keys this costs O(log n) per addAfter and one timer in total, instead
// of 50,000 timer objects that must each be cleared when a key is rescheduled, forgotten or shut down.
// Superseded heap entries are deleted lazily (skipped when they reach the top) and the heap is compacted
// when stale entries outnumber live ones.

import { failed, temporaryError } from "./result.ts";
import type { ReconcileResult } from "./result.ts";

export interface QueueMetrics {
  /** A key became ready (queued, or marked to run again after its current run); not called when deduped. */
  onAdd?(key: string): void;
  /** A key was taken to run after waiting `waitedMs` since its add (client-go's queue_duration). */
  onStart?(key: string, waitedMs: number): void;
  /** A failed key was scheduled to retry after `delayMs`. */
  onRetry?(key: string, delayMs: number): void;
  /** A handler run finished; `ok` is false when it returned an error (or threw). */
  onDone?(key: string, durationMs: number, ok: boolean): void;
  /** Called once, when the queue is built, with what gauges read at scrape time. */
  attach?(queue: QueueGauges): void;
}

/** What a queue's gauges read at scrape time. */
export interface QueueGauges {
  /** Keys ready to run but not running. */
  depth(): number;
  /** Time the runs in progress have taken so far: summed, and the longest (0 when none runs). */
  unfinishedWork(): { totalMs: number; longestMs: number };
}

/** The hooks of the queue called `queueName` (lower-case, e.g. "awsassumerole"). */
export type QueueMetricsFor = (queueName: string) => QueueMetrics;

export interface WorkQueueOptions {
  concurrency: number;
  /** Runs one key; a throw counts as a temporary error. */
  handler: (key: string) => Promise<ReconcileResult>;
  /** Full-jitter exponential backoff for failures; defaults to 1 s base, 5 min cap. */
  backoff?: { baseMs: number; maxMs: number };
  /** Source of jitter in [0, 1); defaults to Math.random. */
  random?: () => number;
  /** Called when a run ends in an error, before any retry is scheduled. */
  onError?: (key: string, err: Error, kind: "temporaryError" | "terminalError") => void;
  metrics?: QueueMetrics;
  /** Clock in ms; defaults to Date.now (read at each call, so node:test mock.timers with "Date" works). */
  now?: () => number;
}

interface DelayedEntry {
  key: string;
  at: number;
  seq: number;
}

const DEFAULT_BACKOFF = { baseMs: 1_000, maxMs: 300_000 };
// setTimeout fires after 1 ms for delays above 2^31-1; longer waits re-arm when the timer fires early.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  private readonly concurrency: number;
  private readonly handler: (key: string) => Promise<ReconcileResult>;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly random: () => number;
  private readonly onError:
    ((key: string, err: Error, kind: "temporaryError" | "terminalError") => void) | undefined;
  private readonly metrics: QueueMetrics;
  private readonly now: () => number;

  // Ready keys in FIFO order: `ready[readyHead..]`; `queued` mirrors it for dedupe, with each key's add time.
  private ready: string[] = [];
  private readyHead = 0;
  private readonly queued = new Map<string, number>();
  // Running keys, with the time each run started.
  private readonly processing = new Map<string, number>();
  // Keys added while running: run again once the current run finishes (with the time of that add).
  private readonly dirty = new Map<string, number>();
  private readonly failures = new Map<string, number>();

  private readonly delayed = new Map<string, DelayedEntry>();
  private heap: DelayedEntry[] = [];
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;

  private started = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    this.concurrency = options.concurrency;
    this.handler = options.handler;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
    this.onError = options.onError;
    this.metrics = options.metrics ?? {};
    this.now = options.now ?? (() => Date.now());
    this.call(() => this.metrics.attach?.(this));
  }

  /** Begin running handlers. Keys added before start wait in the queue. */
  start(): void {
    if (this.stopped || this.started) return;
    this.started = true;
    this.pump();
  }

  /** Make `key` ready now. A waiting key is queued once; a running key is run again after it finishes. */
  add(key: string): void {
    if (this.stopped) return;
    if (this.queued.has(key) || this.dirty.has(key)) return;
    if (this.processing.has(key)) {
      this.dirty.set(key, this.now());
    } else {
      this.queued.set(key, this.now());
      this.ready.push(key);
    }
    this.call(() => this.metrics.onAdd?.(key));
    this.pump();
  }

  /** Add `key` after `ms` (now when `ms` <= 0, never when Infinity). Only the earliest deadline per key is kept. */
  addAfter(key: string, ms: number): void {
    if (this.stopped || ms === Infinity) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.now() + ms;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing.at <= at) return;
    const entry: DelayedEntry = { key, at, seq: this.seq++ };
    this.delayed.set(key, entry); // any older entry in the heap is now stale
    this.heapPush(entry);
    this.compactIfStale();
    this.arm();
  }

  /** Drop the key's pending delayed add and failure count (the resource is gone). */
  forget(key: string): void {
    this.failures.delete(key);
    if (this.delayed.delete(key)) {
      this.compactIfStale();
      this.arm();
    }
  }

  /** Stop taking work: drop ready and delayed keys, clear the timer, resolve when in-flight handlers finish. */
  shutdown(): Promise<void> {
    this.stopped = true;
    this.ready = [];
    this.readyHead = 0;
    this.queued.clear();
    this.dirty.clear();
    this.delayed.clear();
    this.heap = [];
    this.failures.clear();
    this.disarm();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Keys ready to run but not running. */
  depth(): number {
    return this.ready.length - this.readyHead;
  }

  inFlight(): number {
    return this.processing.size;
  }

  unfinishedWork(): { totalMs: number; longestMs: number } {
    const now = this.now();
    let totalMs = 0;
    let longestMs = 0;
    for (const startedAt of this.processing.values()) {
      const ms = Math.max(0, now - startedAt);
      totalMs += ms;
      longestMs = Math.max(longestMs, ms);
    }
    return { totalMs, longestMs };
  }

  pendingDelayed(): number {
    return this.delayed.size;
  }

  private pump(): void {
    while (this.started && !this.stopped && this.processing.size < this.concurrency && this.depth() > 0) {
      const key = this.ready[this.readyHead++] as string;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready = this.ready.slice(this.readyHead);
        this.readyHead = 0;
      }
      const addedAt = this.queued.get(key) as number;
      this.queued.delete(key);
      const startedAt = this.now();
      this.processing.set(key, startedAt);
      this.call(() => this.metrics.onStart?.(key, Math.max(0, startedAt - addedAt)));
      void this.run(key, startedAt);
    }
  }

  private async run(key: string, startedAt: number): Promise<void> {
    let result: ReconcileResult;
    try {
      result = await this.handler(key);
    } catch (err) {
      result = temporaryError(err instanceof Error ? err : new Error(String(err)));
    }
    this.processing.delete(key);
    this.call(() => this.metrics.onDone?.(key, this.now() - startedAt, !failed(result)));

    if (this.stopped) {
      if (this.processing.size === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
      return;
    }

    const addedAt = this.dirty.get(key);
    if (addedAt !== undefined) {
      this.dirty.delete(key);
      this.queued.set(key, addedAt);
      this.ready.push(key);
    }
    switch (result.kind) {
      case "done":
        this.failures.delete(key);
        break;
      case "requeueAfter":
        this.failures.delete(key);
        this.addAfter(key, result.delayMs);
        break;
      case "terminalError": {
        // Backing off cannot help; look again after the fixed delay, or when something changes.
        const { error, recheckAfterMs } = result;
        this.failures.delete(key);
        this.call(() => this.onError?.(key, error, "terminalError"));
        if (recheckAfterMs !== undefined) this.addAfter(key, recheckAfterMs);
        break;
      }
      case "temporaryError": {
        const { error, retryAfterMs, maxBackoffMs } = result;
        this.call(() => this.onError?.(key, error, "temporaryError"));
        const failures = this.failures.get(key) ?? 0;
        this.failures.set(key, failures + 1);
        const delayMs = validDelay(retryAfterMs) ?? this.backoffMs(failures, maxBackoffMs);
        this.call(() => this.metrics.onRetry?.(key, delayMs));
        this.addAfter(key, delayMs);
        break;
      }
    }
    this.pump();
  }

  private backoffMs(failures: number, maxMs = this.backoff.maxMs): number {
    return this.random() * Math.min(maxMs, this.backoff.baseMs * 2 ** failures);
  }

  // Hooks are observers: a throwing hook must not wedge the queue.
  private call(hook: () => void): void {
    try {
      hook();
    } catch {
      // ignored on purpose
    }
  }

  private arm(): void {
    // Drop stale heads so the timer is armed for a live deadline.
    while (this.heap.length > 0 && this.delayed.get((this.heap[0] as DelayedEntry).key) !== this.heap[0]) {
      this.heapPop();
    }
    const head = this.heap[0];
    if (head === undefined) {
      this.disarm();
      return;
    }
    if (this.timer !== undefined && this.timerAt === head.at) return;
    this.disarm();
    this.timerAt = head.at;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, head.at - this.now()));
    const timer = setTimeout(() => this.fire(), delay);
    timer.unref?.();
    this.timer = timer;
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    const now = this.now();
    let head = this.heap[0];
    while (head !== undefined && head.at <= now) {
      this.heapPop();
      if (this.delayed.get(head.key) === head) {
        this.delayed.delete(head.key);
        this.add(head.key);
      }
      head = this.heap[0];
    }
    this.arm();
  }

  private compactIfStale(): void {
    if (this.heap.length > 1024 && this.heap.length > 2 * this.delayed.size) {
      // A sorted array is a valid heap.
      this.heap = [...this.delayed.values()].sort(compare);
    }
  }

  private heapPush(entry: DelayedEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as DelayedEntry, heap[parent] as DelayedEntry)) break;
      [heap[i], heap[parent]] = [heap[parent] as DelayedEntry, heap[i] as DelayedEntry];
      i = parent;
    }
  }

  private heapPop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < heap.length && before(heap[l] as DelayedEntry, heap[smallest] as DelayedEntry)) smallest = l;
      if (r < heap.length && before(heap[r] as DelayedEntry, heap[smallest] as DelayedEntry)) smallest = r;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest] as DelayedEntry, heap[i] as DelayedEntry];
      i = smallest;
    }
  }
}

function compare(a: DelayedEntry, b: DelayedEntry): number {
  return a.at - b.at || a.seq - b.seq;
}

function before(a: DelayedEntry, b: DelayedEntry): boolean {
  return compare(a, b) < 0;
}

function validDelay(ms: number | undefined): number | undefined {
  return ms !== undefined && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
