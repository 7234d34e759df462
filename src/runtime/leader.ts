// Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection: a candidate takes the
// Lease when its holder has not renewed it within leaseDuration (measured on our own clock from when we last saw
// the record change, so clock skew between replicas does not matter), the leader renews every retryPeriod and
// gives up when it cannot renew within renewDeadline, and releases the Lease on shutdown so a standby takes over
// at its next retry. No maintained npm package offers this for @kubernetes/client-node 2.x, hence this module.
import type { V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeClient } from "../kube/client.ts";
import { isConflict } from "./api-errors.ts";

/** A Lease as the API sends it: times are strings (MicroTime, RFC 3339 with microseconds). */
type Lease = Omit<V1Lease, "spec"> & {
  spec?: Omit<NonNullable<V1Lease["spec"]>, "acquireTime" | "renewTime"> & {
    acquireTime?: string;
    renewTime?: string;
  };
};

/** MicroTime fields must be sent with six fractional digits. */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  /** controller-runtime's defaults: 15 s, 10 s, 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  /** Called once when leadership is lost (not on release). */
  onStoppedLeading: () => void;
  now?: () => number;
}

export class LeaderElector {
  private readonly options: LeaderElectionOptions;
  private readonly client: KubeClient;
  private readonly leasesPath: string;
  private readonly leasePath: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private observed: { holder: string; renewTime: string; resourceVersion: string } | undefined;
  private observedAtMs = 0;
  private lastRenewMs = 0;
  private leading = false;
  /** Some write of ours named us the holder (also one that lands while stopping); release() must undo it. */
  private wroteHolder = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The current acquire/renew round, which release() waits for so the two never race on the Lease. */
  private ticking: Promise<void> = Promise.resolve();

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.client = options.client;
    this.leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases`;
    this.leasePath = `${this.leasesPath}/${encodeURIComponent(options.name)}`;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    this.ticking = this.tick();
  }

  /** Stops competing; a leader hands the Lease back so a standby can take it at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A renewal in flight would otherwise make our release conflict, or re-take the Lease right after it.
    await this.ticking;
    this.leading = false;
    if (!this.wroteHolder) return;
    this.wroteHolder = false;
    try {
      const signal = AbortSignal.timeout(this.renewDeadlineMs);
      const lease = await this.client.get<Lease>(this.leasePath, { signal });
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      const nowIso = microTime(this.now());
      lease.spec = {
        ...lease.spec,
        holderIdentity: "",
        leaseDurationSeconds: 1,
        renewTime: nowIso,
        acquireTime: nowIso,
      };
      await this.client.replace(this.leasePath, lease, { signal });
      this.options.logger.info({ lease: this.options.name }, "released leadership");
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, "could not release the lease");
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick();
    }, this.retryPeriodMs);
  }

  private async tick(): Promise<void> {
    let ok = false;
    try {
      // Like client-go: one attempt may take at most the renew deadline, so a request that never answers cannot
      // keep a leader that can no longer renew from noticing.
      ok = await this.tryAcquireOrRenew(AbortSignal.timeout(this.renewDeadlineMs));
    } catch (err) {
      this.options.logger.debug({ err: (err as Error).message }, "lease update failed");
    }
    if (ok) this.wroteHolder = true;
    if (this.stopped) return;
    if (ok) {
      this.lastRenewMs = this.now();
      if (!this.leading) {
        this.leading = true;
        this.options.logger.info(
          { lease: this.options.name, identity: this.options.identity },
          "became leader",
        );
        this.options.onStartedLeading();
      }
    } else if (this.leading && this.now() - this.lastRenewMs > this.renewDeadlineMs) {
      this.leading = false;
      this.stopped = true;
      this.options.logger.error({ lease: this.options.name }, "lost leadership");
      this.options.onStoppedLeading();
      return;
    }
    this.schedule();
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = microTime(this.now());
    const lease = await this.client.getIfExists<Lease>(this.leasePath, { signal });
    if (!lease) {
      const created: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      };
      try {
        await this.client.create(this.leasesPath, created, { signal });
      } catch (err) {
        if (isConflict(err)) return false; // another candidate created it first
        throw err;
      }
      return true;
    }
    const spec = lease.spec ?? {};
    const record = {
      holder: spec.holderIdentity ?? "",
      renewTime: spec.renewTime ? new Date(spec.renewTime).toISOString() : "",
      resourceVersion: lease.metadata?.resourceVersion ?? "",
    };
    if (
      !this.observed ||
      this.observed.holder !== record.holder ||
      this.observed.renewTime !== record.renewTime
    ) {
      this.observed = record;
      this.observedAtMs = this.now();
    }
    const heldByOther = record.holder !== "" && record.holder !== identity;
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (heldByOther && this.observedAtMs + durationMs > this.now()) return false;

    const takingOver = record.holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: now,
      ...(takingOver ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      await this.client.replace(this.leasePath, lease, { signal });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    return true;
  }
}
