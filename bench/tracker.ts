// Watches the AWSAssumeRoles of one namespace from the benchmark's side and records, per resource, when it was
// first seen Ready=True, every distinct credential issue its status reported (lastRefreshTime and the
// nextRefreshTime scheduled with it), and how often it changed. List, then watch from the list's
// resourceVersion; a watch that ends is resumed (relisting after 410 Gone).
import { Watch } from "@kubernetes/client-node";
import type { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import type { AWSAssumeRole } from "../src/api/schema.ts";
import { GROUP, PLURAL, VERSION } from "../src/api/schema.ts";
import { retry } from "./cluster.ts";
import { sleep } from "./operator-process.ts";

export interface Issue {
  lastRefreshTime: number;
  nextRefreshTime: number;
  /** When the benchmark saw it (ms). */
  seenAt: number;
}

export interface Tracked {
  readyAt?: number;
  issues: Issue[];
  /** MODIFIED events seen. */
  modifications: number;
  ready: boolean;
}

export class ResourceTracker {
  readonly byName = new Map<string, Tracked>();
  private readonly kubeConfig: KubeConfig;
  private readonly custom: CustomObjectsApi;
  private readonly namespace: string;
  private resourceVersion = "";
  private abort: AbortController | undefined;
  private stopped = false;
  private needResume = false;
  private resuming = false;
  private failures = 0;

  constructor(kubeConfig: KubeConfig, custom: CustomObjectsApi, namespace: string) {
    this.kubeConfig = kubeConfig;
    this.custom = custom;
    this.namespace = namespace;
  }

  /** Lists and opens the watch; resolves once the watch is connected. */
  async start(): Promise<void> {
    await this.list();
    await this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  readyCount(): number {
    let n = 0;
    for (const t of this.byName.values()) if (t.readyAt !== undefined) n++;
    return n;
  }

  /** Resources whose status reported at least `n` distinct issues. */
  issuedAtLeast(n: number): number {
    let count = 0;
    for (const t of this.byName.values()) if (t.issues.length >= n) count++;
    return count;
  }

  totalModifications(): number {
    let n = 0;
    for (const t of this.byName.values()) n += t.modifications;
    return n;
  }

  /** Polls `done` every 50 ms; fails after `timeoutMs` with `what` and `progress()`. */
  async waitFor(what: string, done: () => boolean, timeoutMs: number, progress: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let nextLog = Date.now() + 15_000;
    while (!done()) {
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${progress()})`);
      if (Date.now() > nextLog) {
        process.stderr.write(`  … waiting for ${what}: ${progress()}\n`);
        nextLog = Date.now() + 15_000;
      }
      await sleep(50);
    }
  }

  private observe(obj: AWSAssumeRole, modified: boolean): void {
    const name = obj.metadata.name!;
    let t = this.byName.get(name);
    if (!t) {
      t = { issues: [], modifications: 0, ready: false };
      this.byName.set(name, t);
    }
    const now = Date.now();
    if (modified) t.modifications++;
    const ready = obj.status?.conditions?.find((c) => c.type === "Ready");
    t.ready = ready?.status === "True";
    if (t.ready && t.readyAt === undefined) t.readyAt = now;
    const last = obj.status?.lastRefreshTime ? Date.parse(obj.status.lastRefreshTime) : NaN;
    const next = obj.status?.nextRefreshTime ? Date.parse(obj.status.nextRefreshTime) : NaN;
    if (Number.isFinite(last) && !t.issues.some((i) => i.lastRefreshTime === last)) {
      t.issues.push({ lastRefreshTime: last, nextRefreshTime: next, seenAt: now });
    }
  }

  private async list(): Promise<void> {
    const list = (await retry(`list AWSAssumeRoles in ${this.namespace}`, () =>
      this.custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: this.namespace,
      }),
    )) as { metadata?: { resourceVersion?: string }; items: AWSAssumeRole[] };
    for (const item of list.items) this.observe(item, false);
    this.resourceVersion = list.metadata?.resourceVersion ?? "";
  }

  private async watch(): Promise<void> {
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${this.namespace}/${PLURAL}`;
    this.abort = await new Watch(this.kubeConfig).watch(
      path,
      { resourceVersion: this.resourceVersion },
      (phase: string, obj: AWSAssumeRole & { code?: number }) => {
        if (phase === "ERROR") {
          if (obj.code === 410) this.resourceVersion = "";
          return;
        }
        if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (phase === "ADDED" || phase === "MODIFIED") this.observe(obj, phase === "MODIFIED");
      },
      (err: unknown) => {
        if (this.stopped) return;
        const code = (err as { statusCode?: number } | null)?.statusCode;
        if (code === 410) this.resourceVersion = "";
        // A watch ends quietly after 30 s without events (client-node's inactivity timeout): resume at once.
        // Only real errors back off.
        this.failures =
          code !== undefined || (err instanceof Error && err.name !== "TimeoutError") ? this.failures + 1 : 0;
        this.needResume = true;
        void this.resumeLoop();
      },
    );
  }

  private async resumeLoop(): Promise<void> {
    if (this.resuming) return;
    this.resuming = true;
    while (this.needResume && !this.stopped) {
      this.needResume = false;
      if (this.failures > 0) await sleep(Math.min(5000, 100 * 2 ** this.failures));
      try {
        if (!this.resourceVersion) await this.list();
        await this.watch();
      } catch {
        this.failures++;
        this.needResume = true;
      }
    }
    this.resuming = false;
  }
}
