// The fan-out of a ClusterAWSAssumeRole, as pure decisions: which namespaces its selector picks among those watched,
// and the Ready summary over all of them (how many hold the Secret, which fail and why).
import type { LabelSelector, NamespaceFailure } from "../api/cluster-schema.ts";
import { Reason } from "./conditions.ts";
import { selectorMatches } from "./label-selector.ts";

/** A namespace as the selection reads it. */
export interface NamespaceView {
  name: string;
  labels: Record<string, string> | undefined;
  deleting: boolean;
}

/** Namespaces the selector matches, among the watched ones (undefined: all), that are not being deleted; sorted. */
export function selectNamespaces(
  namespaces: readonly NamespaceView[],
  watched: ReadonlySet<string> | undefined,
  selector: LabelSelector,
): string[] {
  return namespaces
    .filter((n) => !n.deleting && (!watched || watched.has(n.name)) && selectorMatches(selector, n.labels))
    .map((n) => n.name)
    .sort();
}

export interface FanOutCounts {
  selected: number;
  /** Selected namespaces that hold the current credentials. */
  served: number;
  conflicts: number;
  denied: number;
}

export interface FanOutSummary {
  ready: "True" | "False";
  reason: Reason;
  message: string;
}

/**
 * The Ready summary: True when every selected namespace holds the current credentials (`readyMessage` says until
 * when), or when none is selected; otherwise False with the first failing namespace's reason.
 */
export function summariseFanOut(
  counts: FanOutCounts,
  failing: readonly NamespaceFailure[],
  readyMessage: string | undefined,
): FanOutSummary {
  const { selected, served, conflicts, denied } = counts;
  if (selected === 0) {
    return {
      ready: "True",
      reason: Reason.NoNamespacesSelected,
      message: "No namespace matches namespaceSelector; no credentials are issued",
    };
  }
  if (failing.length === 0 && readyMessage !== undefined) {
    return {
      ready: "True",
      reason: Reason.CredentialsReady,
      message: `${readyMessage}, in all ${selected} selected namespace(s)`,
    };
  }
  const first = [...failing].sort((a, b) => a.namespace.localeCompare(b.namespace))[0];
  const reason = (first?.reason ?? Reason.KubernetesError) as Reason;
  const writeFailures = failing.length - conflicts - denied;
  const parts = [
    conflicts
      ? `${conflicts} with a Secret of that name that is not ours (SecretConflict, left untouched)`
      : "",
    denied ? `${denied} whose annotation does not permit the role (RoleNotPermitted)` : "",
    writeFailures > 0 ? `${writeFailures} where the write failed` : "",
  ].filter(Boolean);
  return {
    ready: "False",
    reason,
    message:
      `${served} of ${selected} selected namespace(s) hold the Secret; ${parts.join("; ")}. ` +
      `First: ${first?.namespace}: ${first?.message}`,
  };
}
