// Status and events: Ready=True with the credentials' times, or Ready=False with a reason, written only when it
// differs from what the API server (or our own last write, while the cache lags) already has; a Warning event per
// change of problem, never one per retry.
import type { Logger } from "pino";
import { API_VERSION, KIND } from "../api/schema.ts";
import type { AWSAssumeRole, AWSAssumeRoleStatus } from "../api/schema.ts";
import { Reason, readyCondition, setCondition } from "../domain/conditions.ts";
import { canonicalJson } from "../runtime/content-hash.ts";
import type { EventSink, EventTarget, StatusWriter } from "./ports.ts";
import type { ResourceState } from "./resource-state.ts";

/** Status fields besides the Ready condition. */
export interface StatusTimes {
  roleArn?: string;
  expirationTime?: Date;
  lastRefreshTime?: Date;
  nextRefreshTime?: Date;
  effectiveDurationSeconds?: number;
}

export class StatusReporter {
  private readonly writer: StatusWriter;
  private readonly events: EventSink;
  private readonly now: () => Date;

  constructor(writer: StatusWriter, events: EventSink, now: () => Date) {
    this.writer = writer;
    this.events = events;
    this.now = now;
  }

  /** Ready=True with the credentials' times. */
  ready(
    resource: AWSAssumeRole,
    state: ResourceState,
    log: Logger,
    message: string,
    times: StatusTimes,
    signal?: AbortSignal,
  ): Promise<void> {
    state.lastWarning = undefined;
    return this.write(resource, state, log, "True", Reason.CredentialsReady, message, times, signal);
  }

  /** Reports a problem: Ready=False with the reason, and one Warning event per change of reason or message. */
  async fail(
    resource: AWSAssumeRole,
    state: ResourceState,
    log: Logger,
    reason: Reason,
    message: string,
    extra: StatusTimes = {},
    signal?: AbortSignal,
  ): Promise<void> {
    const warning = `${reason}\u0000${message}`;
    if (state.lastWarning !== warning) {
      state.lastWarning = warning;
      log.warn({ reason }, message);
      this.events.emit(targetOf(resource), "Warning", reason, message);
    }
    await this.write(resource, state, log, "False", reason, message, extra, signal);
  }

  /** A Normal event (Created, Refreshed) or a Warning that is not a Ready condition (DurationClamped). */
  event(resource: AWSAssumeRole, type: "Normal" | "Warning", reason: string, message: string): void {
    this.events.emit(targetOf(resource), type, reason, message);
  }

  /** Whether the resource's status is exactly what our last status write said (the watch echoing it back). */
  isOwnStatus(state: ResourceState | undefined, resource: AWSAssumeRole): boolean {
    const last = state?.lastStatus;
    return (
      last !== undefined &&
      resource.status !== undefined &&
      last.hash === statusHash(normalise(resource.status))
    );
  }

  private async write(
    resource: AWSAssumeRole,
    state: ResourceState,
    log: Logger,
    ready: "True" | "False",
    reason: Reason,
    message: string,
    extra: StatusTimes,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const current = resource.status ?? {};
    const generation = resource.metadata.generation;
    // A failed refresh leaves the working Secret (and its times) in place; RoleNotPermitted deleted it.
    const keepTimes = ready === "False" && reason !== Reason.RoleNotPermitted;
    const desired: AWSAssumeRoleStatus = {
      observedGeneration: generation,
      roleArn: extra.roleArn ?? current.roleArn,
      secretName: resource.spec.secretName,
      expirationTime: iso(extra.expirationTime) ?? (keepTimes ? current.expirationTime : undefined),
      lastRefreshTime: iso(extra.lastRefreshTime) ?? (keepTimes ? current.lastRefreshTime : undefined),
      nextRefreshTime: iso(extra.nextRefreshTime) ?? (keepTimes ? current.nextRefreshTime : undefined),
      effectiveDurationSeconds: extra.effectiveDurationSeconds ?? current.effectiveDurationSeconds,
      conditions: setCondition(
        current.conditions,
        readyCondition(ready, reason, message, generation),
        this.now(),
      ),
    };
    const hash = statusHash(desired);
    const last = state.lastStatus;
    const stale = last !== undefined && last.over === resource.metadata.resourceVersion;
    if (hash === statusHash(normalise(current)) || (stale && hash === last.hash)) return;
    const patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(desired)) patch[k] = v ?? null;
    // Reporting that the reconcile ran out of time must still be possible: past the reconcile's deadline the write
    // is bounded by the adapter's own per-request timeout alone.
    const deadline = signal?.aborted ? undefined : signal;
    await this.writer.patchStatus(resource.metadata.namespace!, resource.metadata.name!, patch, deadline);
    state.lastStatus = { hash, over: resource.metadata.resourceVersion };
    log.debug({ reason }, "status updated");
  }
}

export function targetOf(resource: AWSAssumeRole): EventTarget {
  const { namespace, name, uid } = resource.metadata;
  return { apiVersion: API_VERSION, kind: KIND, namespace: namespace!, name: name!, uid: uid! };
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

/** Status for comparison: canonical JSON without the conditions' transition times. */
export function statusHash(s: AWSAssumeRoleStatus): string {
  return canonicalJson({
    ...s,
    conditions: (s.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: undefined })),
  });
}

/** Status as read back from the API: only the fields `desired` has, absent fields undefined. */
function normalise(s: AWSAssumeRoleStatus): AWSAssumeRoleStatus {
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

function iso(date: Date | undefined): string | undefined {
  return date?.toISOString();
}
