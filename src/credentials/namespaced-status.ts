// The AWSAssumeRole's status for the shared status writer (status.ts): the Ready condition, the Secret's name and the
// credentials' times. A failed refresh leaves the working Secret, and so its times, in place; RoleNotPermitted
// deleted the Secret, and takes its times away.
import { API_VERSION, KIND } from "../api/schema.ts";
import type { AWSAssumeRole, AWSAssumeRoleStatus } from "../api/schema.ts";
import { Reason } from "../domain/conditions.ts";
import type { EventSink, EventTarget, StatusWriter } from "./ports.ts";
import { StatusReporter, normaliseCommon, statusTimes } from "./status.ts";
import type { StatusKind, StatusReport } from "./status.ts";

export function targetOf(resource: AWSAssumeRole): EventTarget {
  const { namespace, name, uid } = resource.metadata;
  return { apiVersion: API_VERSION, kind: KIND, namespace: namespace!, name: name!, uid: uid! };
}

function namespacedKind(writer: StatusWriter): StatusKind<AWSAssumeRole, AWSAssumeRoleStatus, StatusReport> {
  return {
    target: targetOf,
    desired: (resource, report, conditions) => ({
      observedGeneration: resource.metadata.generation,
      secretName: resource.spec.secretName,
      ...statusTimes(
        report.times,
        resource.status ?? {},
        report.ready === "False" && report.reason !== Reason.RoleNotPermitted,
      ),
      conditions,
    }),
    normalise: (s) => ({
      ...normaliseCommon(s),
    }),
    patch: (resource, status, signal) =>
      writer.patchStatus(resource.metadata.namespace!, resource.metadata.name!, status, signal),
  };
}

/** The status reporter of the namespaced kind. */
export function namespacedStatusReporter(
  writer: StatusWriter,
  events: EventSink,
  now: () => Date,
): StatusReporter<AWSAssumeRole, AWSAssumeRoleStatus> {
  return new StatusReporter(namespacedKind(writer), events, now);
}
