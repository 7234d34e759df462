// The ClusterAWSAssumeRole's status for the shared status writer (status.ts): the Ready summary over the whole
// fan-out, the credentials' times, the namespace counts and a bounded list of failing namespaces.
import { CLUSTER_KIND, MAX_FAILING_NAMESPACES } from "../api/cluster-schema.ts";
import type {
  ClusterAWSAssumeRole,
  ClusterAWSAssumeRoleStatus,
  NamespaceFailure,
} from "../api/cluster-schema.ts";
import { API_VERSION } from "../api/schema.ts";
import { summariseFanOut } from "../domain/fan-out.ts";
import type { FanOutCounts } from "../domain/fan-out.ts";
import type { CredentialSet } from "./cluster-copies.ts";
import type { EventSink, EventTarget } from "./ports.ts";
import { StatusReporter, normaliseCommon, readyMessage, statusTimes } from "./status.ts";
import type { StatusKind, StatusReport, StatusTimes } from "./status.ts";

/** Where a ClusterAWSAssumeRole's status is written: a merge patch of its status subresource. */
export interface ClusterStatusWriter {
  patchStatus(name: string, status: Record<string, unknown>, signal?: AbortSignal): Promise<void>;
}

/** The report of one fan-out: Ready, times, counts and the failing namespaces. */
export interface FanOutReport extends StatusReport, FanOutCounts {
  failing: NamespaceFailure[];
}

/** Events of a cluster-scoped object: involvedObject without a namespace (kubectl describe finds them). */
function targetOf(resource: ClusterAWSAssumeRole): EventTarget {
  const { name, uid } = resource.metadata;
  return { apiVersion: API_VERSION, kind: CLUSTER_KIND, namespace: "", name: name!, uid: uid! };
}

function clusterKind(
  writer: ClusterStatusWriter,
): StatusKind<ClusterAWSAssumeRole, ClusterAWSAssumeRoleStatus, FanOutReport> {
  return {
    target: targetOf,
    desired: (resource, report, conditions) => ({
      observedGeneration: resource.metadata.generation,
      secretName: resource.spec.secretName,
      // Times stay while any namespace still holds working credentials.
      ...statusTimes(report.times, resource.status ?? {}, report.ready === "True" || report.served > 0),
      namespaces: {
        selected: report.selected,
        ready: report.served,
        conflicts: report.conflicts,
        denied: report.denied,
        failing: [...report.failing]
          .sort((a, b) => a.namespace.localeCompare(b.namespace))
          .slice(0, MAX_FAILING_NAMESPACES),
      },
      conditions,
    }),
    normalise: (s) => ({
      ...normaliseCommon(s),
      namespaces: s.namespaces && { ...s.namespaces, failing: s.namespaces.failing ?? [] },
    }),
    patch: (resource, status, signal) => writer.patchStatus(resource.metadata.name!, status, signal),
  };
}

/** The status reporter of the cluster kind. */
export function clusterStatusReporter(
  writer: ClusterStatusWriter,
  events: EventSink,
  now: () => Date,
): StatusReporter<ClusterAWSAssumeRole, ClusterAWSAssumeRoleStatus, FanOutReport> {
  return new StatusReporter(clusterKind(writer), events, now);
}

/** The report of one fan-out: the Ready summary over every selected namespace, with the current set's times. */
export function fanOutReport(input: {
  counts: FanOutCounts;
  failing: NamespaceFailure[];
  credentialSet: CredentialSet | undefined;
  nextRefreshTime: Date | undefined;
  effectiveDurationSeconds: number | undefined;
  requestedDurationSeconds: number | undefined;
}): FanOutReport {
  const { counts, failing, credentialSet, effectiveDurationSeconds } = input;
  const summary = summariseFanOut(
    counts,
    failing,
    credentialSet &&
      readyMessage(credentialSet.expirationTime, effectiveDurationSeconds, input.requestedDurationSeconds),
  );
  const times: StatusTimes = credentialSet
    ? {
        roleArn: credentialSet.roleArn,
        expirationTime: credentialSet.expirationTime,
        lastRefreshTime: credentialSet.lastRefreshTime,
        nextRefreshTime: input.nextRefreshTime,
        effectiveDurationSeconds,
      }
    : {};
  return { ...summary, ...counts, times, failing };
}
