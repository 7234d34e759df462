// Which Event a successful refresh writes. Expected, periodic success writes none by default, as controllers do for
// routine work (the Secret's annotations, the status times and the refresh metric show it); what a person may want
// to see keeps its Event: the first Secret, a recovery, and every refresh that has a cause besides the schedule.
import { Reason } from "./conditions.ts";
import { describeCause } from "./plan.ts";
import type { RefreshCause } from "./plan.ts";

/** The Ready condition as it was before this refresh; undefined when the resource had none. */
export interface ReadyBefore {
  status: string;
  reason: string | undefined;
}

export interface RefreshEventInput {
  /**
   * Why each Secret was written, the one the Event names first: one cause for the namespaced kind, one per copy
   * for the cluster kind.
   */
  causes: readonly [RefreshCause, ...RefreshCause[]];
  readyBefore: ReadyBefore | undefined;
  /** Whether the resource is Ready after this refresh (a fan-out may still fail in some namespaces). */
  readyAfter: boolean;
  /** --refresh-events: write an Event for routine refreshes too. */
  routineEvents: boolean;
  /** What was written, e.g. "Secret app for arn:aws:iam::...:role/r" or "Secret app in 3 namespace(s) for ...". */
  subject: string;
}

export interface RefreshEvent {
  reason: typeof Reason.Created | typeof Reason.Refreshed | typeof Reason.Recovered;
  message: string;
}

/**
 * Routine: every Secret written was a scheduled refresh of an intact one ("due"), of a resource that was Ready and
 * still is. The Ready condition missing counts as Ready (nothing says otherwise; a fresh resource's first write is a
 * "missing" cause anyway).
 */
export function isRoutineRefresh(
  input: Pick<RefreshEventInput, "causes" | "readyBefore" | "readyAfter">,
): boolean {
  return input.causes.every((c) => c === "due") && wasReady(input.readyBefore) && input.readyAfter;
}

/** The Event of a successful refresh, or undefined when it is routine and routine Events are off. */
export function refreshEvent(input: RefreshEventInput): RefreshEvent | undefined {
  const cause = input.causes[0];
  const because = describeCause(cause);
  if (cause === "missing") {
    return { reason: Reason.Created, message: `Created ${input.subject} (${because})` };
  }
  if (!wasReady(input.readyBefore) && input.readyAfter) {
    const after = input.readyBefore?.reason ? ` after ${input.readyBefore.reason}` : "";
    return { reason: Reason.Recovered, message: `Refreshed ${input.subject}${after} (${because})` };
  }
  if (isRoutineRefresh(input) && !input.routineEvents) return undefined;
  return { reason: Reason.Refreshed, message: `Refreshed ${input.subject} (${because})` };
}

function wasReady(before: ReadyBefore | undefined): boolean {
  return before === undefined || before.status === "True";
}
