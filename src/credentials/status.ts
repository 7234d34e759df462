// One status writer for both kinds: Ready=True with the credentials' times, or Ready=False with a reason, written
// only when it differs from what the API server (or our own last write, while the cache lags) already has, and still
// written after the reconcile's deadline has passed; a Warning event per change of problem, never one per retry.
// Each kind says only how its status is built and read back (namespaced-status.ts, cluster-status.ts).
import type { Logger } from "pino";
import type { AWSAssumeRoleStatus, Condition } from "../api/schema.ts";

/** The status fields that hold the credentials' times (the same in both kinds' status). */
type StatusTimesKey =
  "roleArn" | "expirationTime" | "lastRefreshTime" | "nextRefreshTime" | "effectiveDurationSeconds";
import { READY, readyCondition, setCondition } from "../domain/conditions.ts";
import type { ReadyBefore } from "../domain/refresh-event.ts";
import type { Reason } from "../domain/conditions.ts";
import { canonicalJson } from "../runtime/content-hash.ts";
import type { EventSink, EventTarget } from "./ports.ts";
import type { ResourceState } from "./resource-state.ts";

/** Status fields besides the Ready condition. */
export interface StatusTimes {
  roleArn?: string | undefined;
  expirationTime?: Date | undefined;
  lastRefreshTime?: Date | undefined;
  nextRefreshTime?: Date | undefined;
  effectiveDurationSeconds?: number | undefined;
}

/** What a reconcile found, for the Ready condition; a kind may add fields of its own. */
export interface StatusReport {
  ready: "True" | "False";
  reason: Reason;
  message: string;
  times: StatusTimes;
}

/** A resource as the status writer reads it. */
export interface StatusSubject<S> {
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
  };
  status?: S;
}

/** How one kind's status is built, read back and written. */
export interface StatusKind<R extends StatusSubject<S>, S extends { conditions?: Condition[] }, P> {
  target(resource: R): EventTarget;
  /** The whole status the report asks for, with `conditions` already updated. */
  desired(resource: R, report: P, conditions: Condition[]): S;
  /** A status as read back: only the fields `desired` writes, absent ones undefined. */
  normalise(status: S): S;
  patch(resource: R, status: Record<string, unknown>, signal?: AbortSignal): Promise<void>;
}

export class StatusReporter<
  R extends StatusSubject<S>,
  S extends { conditions?: Condition[] },
  P extends StatusReport = StatusReport,
> {
  private readonly kind: StatusKind<R, S, P>;
  private readonly events: EventSink;
  private readonly now: () => Date;

  constructor(kind: StatusKind<R, S, P>, events: EventSink, now: () => Date) {
    this.kind = kind;
    this.events = events;
    this.now = now;
  }

  /** Writes the report as status; a problem is logged and emitted as a Warning once per change of reason or message. */
  async report(
    resource: R,
    state: ResourceState,
    log: Logger,
    report: P,
    signal?: AbortSignal,
  ): Promise<void> {
    if (report.ready === "False") {
      const last = state.lastWarning;
      if (last?.reason !== report.reason || last.message !== report.message) {
        state.lastWarning = { reason: report.reason, message: report.message };
        log.warn({ reason: report.reason }, report.message);
        this.event(resource, "Warning", report.reason, report.message);
      }
    } else {
      state.lastWarning = undefined;
    }
    const current = resource.status ?? ({} as S);
    const generation = resource.metadata.generation;
    const conditions = setCondition(
      current.conditions,
      readyCondition(report.ready, report.reason, report.message, generation),
      this.now(),
    );
    const desired = this.kind.desired(resource, report, conditions);
    const hash = statusHash(desired);
    const last = state.lastStatus;
    const stale = last !== undefined && last.over === resource.metadata.resourceVersion;
    if (hash === statusHash(this.kind.normalise(current)) || (stale && hash === last.hash)) return;
    const patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(desired)) patch[k] = v ?? null;
    // Reporting that the reconcile ran out of time must still be possible: past the reconcile's deadline the write
    // is bounded by the adapter's own per-request timeout alone.
    await this.kind.patch(resource, patch, signal?.aborted ? undefined : signal);
    state.lastStatus = { hash, over: resource.metadata.resourceVersion };
    log.debug({ reason: report.reason }, "status updated");
  }

  /** A Normal event (Created, Refreshed, Recovered) or a Warning that is not a Ready condition (DurationClamped). */
  event(resource: R, type: "Normal" | "Warning", reason: string, message: string): void {
    this.events.emit(this.kind.target(resource), type, reason, message);
  }

  /** Whether the resource's status is exactly what our last status write said (the watch echoing it back). */
  isOwnStatus(state: ResourceState | undefined, resource: R): boolean {
    const last = state?.lastStatus;
    return (
      last !== undefined &&
      resource.status !== undefined &&
      last.hash === statusHash(this.kind.normalise(resource.status))
    );
  }
}

/**
 * The Ready condition before this reconcile's report: our own last report of a problem (the cache may not show it
 * yet), else the condition the resource carries.
 */
export function readyBefore(
  state: ResourceState,
  conditions: readonly Condition[] | undefined,
): ReadyBefore | undefined {
  if (state.lastWarning !== undefined) {
    return { status: "False", reason: state.lastWarning.reason };
  }
  const ready = conditions?.find((c) => c.type === READY);
  return ready ? { status: ready.status, reason: ready.reason } : undefined;
}

/** The Ready message: when the credentials expire, and why sessions are shorter than asked for. */
export function readyMessage(
  expirationTime: Date,
  effectiveSeconds?: number,
  requestedSeconds?: number,
): string {
  const base = `Credentials are in the Secret and valid until ${expirationTime.toISOString()}`;
  if (
    effectiveSeconds !== undefined &&
    requestedSeconds !== undefined &&
    effectiveSeconds < requestedSeconds
  ) {
    return `${base} (sessions last ${effectiveSeconds} s: AWS does not allow the requested ${requestedSeconds} s)`;
  }
  return base;
}

/** The times fields of a status: those the report has, else (when `keep`) the current ones, as RFC 3339. */
export function statusTimes(
  times: StatusTimes,
  current: Pick<AWSAssumeRoleStatus, StatusTimesKey>,
  keep: boolean,
): {
  roleArn: string | undefined;
  expirationTime: string | undefined;
  lastRefreshTime: string | undefined;
  nextRefreshTime: string | undefined;
  effectiveDurationSeconds: number | undefined;
} {
  const time = (d: Date | undefined, was: string | undefined) => d?.toISOString() ?? (keep ? was : undefined);
  return {
    roleArn: times.roleArn ?? current.roleArn,
    expirationTime: time(times.expirationTime, current.expirationTime),
    lastRefreshTime: time(times.lastRefreshTime, current.lastRefreshTime),
    nextRefreshTime: time(times.nextRefreshTime, current.nextRefreshTime),
    effectiveDurationSeconds: times.effectiveDurationSeconds ?? current.effectiveDurationSeconds,
  };
}

/** The fields both kinds' status has, as read back: absent fields undefined. */
export function normaliseCommon(
  s: Pick<AWSAssumeRoleStatus, StatusTimesKey | "conditions" | "observedGeneration" | "secretName">,
) {
  return {
    observedGeneration: s.observedGeneration,
    roleArn: s.roleArn,
    secretName: s.secretName,
    expirationTime: s.expirationTime,
    lastRefreshTime: s.lastRefreshTime,
    nextRefreshTime: s.nextRefreshTime,
    effectiveDurationSeconds: s.effectiveDurationSeconds,
    conditions: s.conditions,
  };
}

/** Status for comparison: canonical JSON without the conditions' transition times. */
export function statusHash(s: { conditions?: Condition[] }): string {
  return canonicalJson({
    ...s,
    conditions: (s.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: undefined })),
  });
}
