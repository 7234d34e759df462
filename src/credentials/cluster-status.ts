// Status and events of a ClusterAWSAssumeRole: the Ready summary over the whole fan-out, the namespace counts and a
// bounded list of failing namespaces, written only when they differ from what the API server (or our own last
// write, while the cache lags) already has; one Warning event per change of problem.
import type { Logger } from "pino";
import { CLUSTER_KIND, MAX_FAILING_NAMESPACES } from "../api/cluster-schema.ts";
import type {
  ClusterAWSAssumeRole,
  ClusterAWSAssumeRoleStatus,
  NamespaceCounts,
  NamespaceFailure,
} from "../api/cluster-schema.ts";
import { API_VERSION } from "../api/schema.ts";
import { readyCondition, setCondition } from "../domain/conditions.ts";
import type { Reason } from "../domain/conditions.ts";
import type { EventSink, EventTarget } from "./ports.ts";
import type { ResourceState } from "./resource-state.ts";
import { statusHash } from "./status.ts";
import type { StatusTimes } from "./status.ts";

export interface ClusterStatusWriter {
  patchStatus(name: string, status: Record<string, unknown>, signal?: AbortSignal): Promise<void>;
}

export interface FanOutReport {
  ready: "True" | "False";
  reason: Reason;
  message: string;
  times: StatusTimes;
  selected: number;
  served: number;
  conflicts: number;
  denied: number;
  failing: NamespaceFailure[];
}

export class ClusterStatusReporter {
  private readonly writer: ClusterStatusWriter;
  private readonly events: EventSink;
  private readonly now: () => Date;

  constructor(writer: ClusterStatusWriter, events: EventSink, now: () => Date) {
    this.writer = writer;
    this.events = events;
    this.now = now;
  }

  async report(
    resource: ClusterAWSAssumeRole,
    state: ResourceState,
    log: Logger,
    r: FanOutReport,
    signal?: AbortSignal,
  ): Promise<void> {
    if (r.ready === "False") {
      const warning = `${r.reason}\u0000${r.message}`;
      if (state.lastWarning !== warning) {
        state.lastWarning = warning;
        log.warn({ reason: r.reason }, r.message);
        this.event(resource, "Warning", r.reason, r.message);
      }
    } else {
      state.lastWarning = undefined;
    }
    const current = resource.status ?? {};
    const generation = resource.metadata.generation;
    const keepTimes = r.ready === "True" || r.served > 0;
    const namespaces: NamespaceCounts = {
      selected: r.selected,
      ready: r.served,
      conflicts: r.conflicts,
      denied: r.denied,
      failing: [...r.failing]
        .sort((a, b) => a.namespace.localeCompare(b.namespace))
        .slice(0, MAX_FAILING_NAMESPACES),
    };
    const desired: ClusterAWSAssumeRoleStatus = {
      observedGeneration: generation,
      roleArn: r.times.roleArn ?? current.roleArn,
      secretName: resource.spec.secretName,
      expirationTime: iso(r.times.expirationTime) ?? (keepTimes ? current.expirationTime : undefined),
      lastRefreshTime: iso(r.times.lastRefreshTime) ?? (keepTimes ? current.lastRefreshTime : undefined),
      nextRefreshTime: iso(r.times.nextRefreshTime) ?? (keepTimes ? current.nextRefreshTime : undefined),
      effectiveDurationSeconds: r.times.effectiveDurationSeconds ?? current.effectiveDurationSeconds,
      namespaces,
      conditions: setCondition(
        current.conditions,
        readyCondition(r.ready, r.reason, r.message, generation),
        this.now(),
      ),
    };
    const hash = statusHash(desired);
    const last = state.lastStatus;
    const stale = last !== undefined && last.over === resource.metadata.resourceVersion;
    if (hash === statusHash(normalise(current)) || (stale && hash === last.hash)) return;
    const patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(desired)) patch[k] = v ?? null;
    await this.writer.patchStatus(resource.metadata.name!, patch, signal);
    state.lastStatus = { hash, over: resource.metadata.resourceVersion };
    log.debug({ reason: r.reason }, "status updated");
  }

  event(resource: ClusterAWSAssumeRole, type: "Normal" | "Warning", reason: string, message: string): void {
    this.events.emit(targetOf(resource), type, reason, message);
  }

  isOwnStatus(state: ResourceState | undefined, resource: ClusterAWSAssumeRole): boolean {
    const last = state?.lastStatus;
    return (
      last !== undefined &&
      resource.status !== undefined &&
      last.hash === statusHash(normalise(resource.status))
    );
  }
}

/** Events of a cluster-scoped object: involvedObject without a namespace (kubectl describe finds them). */
function targetOf(resource: ClusterAWSAssumeRole): EventTarget {
  const { name, uid } = resource.metadata;
  return { apiVersion: API_VERSION, kind: CLUSTER_KIND, namespace: "", name: name!, uid: uid! };
}

function normalise(s: ClusterAWSAssumeRoleStatus): ClusterAWSAssumeRoleStatus {
  return {
    observedGeneration: s.observedGeneration,
    roleArn: s.roleArn,
    secretName: s.secretName,
    expirationTime: s.expirationTime,
    lastRefreshTime: s.lastRefreshTime,
    nextRefreshTime: s.nextRefreshTime,
    effectiveDurationSeconds: s.effectiveDurationSeconds,
    namespaces: s.namespaces && { ...s.namespaces, failing: s.namespaces.failing ?? [] },
    conditions: s.conditions,
  };
}

function iso(date: Date | undefined): string | undefined {
  return date?.toISOString();
}
