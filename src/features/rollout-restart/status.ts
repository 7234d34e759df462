// rolloutRestart's status writer: status.rolloutRestart of an owner of either kind — the WorkloadsRestarted
// condition over all of the owner's Secrets and the latest restart per workload — written only when it changed,
// one write at a time per owner (the copies of a ClusterAWSAssumeRole report concurrently).
import type { Condition, RolloutRestartStatus, WorkloadRestart } from "../../api/schema.ts";
import { MAX_LISTED_RESTARTS } from "../../api/schema.ts";
import { setCondition } from "../../domain/conditions.ts";
import { restartsAnything } from "../../domain/rollout-restart.ts";
import { canonicalJson } from "../../runtime/content-hash.ts";
import { RestartReason, WORKLOADS_RESTARTED } from "./ports.ts";
import type { Problem, RestartOwner } from "./ports.ts";

export const MAX_MESSAGE = 1024;

/** What the reporter remembers of an owner: its Secrets' problems, and its status writes (one at a time). */
interface OwnerMemory {
  problems: Map<string, Problem[]>;
  pending: Set<string>;
  written?: RolloutRestartStatus;
  /** The owner's status write in flight: the Secrets of a ClusterAWSAssumeRole report concurrently. */
  writing: Promise<void>;
}

/** One Secret's report: its current problems, whether restarts are still being spread out, new entries. */
export interface SecretReport {
  secretKey: string;
  problems: Problem[];
  inProgress: boolean;
  entries: WorkloadRestart[] | undefined;
}

export class RestartStatusReporter {
  private readonly now: () => Date;
  /** Per owner (by uid): its Secrets' current problems and the status last written (the cache may lag behind it). */
  private readonly owners = new Map<string, OwnerMemory>();

  constructor(now: () => Date) {
    this.now = now;
  }

  /** Whether anything is remembered of the owner (it had rolloutRestart, so its status may need updating). */
  knows(ownerKey: string): boolean {
    return this.owners.has(ownerKey);
  }

  /** The owner was deleted: forget what was remembered for it. */
  forgetOwner(ownerKey: string): void {
    this.owners.delete(ownerKey);
  }

  /** A Secret left the cache: its problems and pending restarts no longer count. */
  forgetSecret(secretKey: string): void {
    for (const owner of this.owners.values()) {
      owner.problems.delete(secretKey);
      owner.pending.delete(secretKey);
    }
  }

  /** Writes status.rolloutRestart when it differs: the condition over all the owner's Secrets, and new entries. */
  async report(owner: RestartOwner, report: SecretReport, signal: AbortSignal | undefined): Promise<void> {
    let memory = this.owners.get(owner.key);
    if (!memory) {
      memory = { problems: new Map(), pending: new Set(), writing: Promise.resolve() };
      this.owners.set(owner.key, memory);
    }
    const m = memory;
    const run = m.writing.then(() => this.write(owner, m, report, signal));
    m.writing = run.catch(() => undefined);
    await run;
  }

  private async write(
    owner: RestartOwner,
    memory: OwnerMemory,
    { secretKey, problems, inProgress, entries }: SecretReport,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (problems.length > 0) memory.problems.set(secretKey, problems);
    else memory.problems.delete(secretKey);
    if (inProgress) memory.pending.add(secretKey);
    else memory.pending.delete(secretKey);
    if (!restartsAnything(owner.spec) && !owner.status && !memory.written) return;

    const current = memory.written ?? owner.status ?? {};
    const all = [...memory.problems.values()].flat();
    const condition: Omit<Condition, "lastTransitionTime"> =
      all.length > 0
        ? {
            type: WORKLOADS_RESTARTED,
            status: "False",
            reason: all[0]!.reason,
            message: all
              .map((p) => p.message)
              .join("; ")
              .slice(0, MAX_MESSAGE),
          }
        : memory.pending.size > 0
          ? {
              type: WORKLOADS_RESTARTED,
              status: "True",
              reason: RestartReason.RestartsInProgress,
              message: "Workloads are being restarted one after another for the new credentials",
            }
          : {
              type: WORKLOADS_RESTARTED,
              status: "True",
              reason: RestartReason.RestartsDone,
              message: restartsAnything(owner.spec)
                ? "Every workload that reads the Secret runs with its current credentials"
                : "rolloutRestart restarts nothing",
            };
    const restarts = mergeRestarts(current.restarts ?? [], entries ?? []);
    const desired: RolloutRestartStatus = {
      conditions: setCondition(current.conditions, condition, this.now()),
      restarts,
    };
    if (comparable(desired) === comparable(current)) return;
    await owner.writeStatus(desired, signal);
    memory.written = desired;
  }
}

/** The newest entry per workload first, at most MAX_LISTED_RESTARTS. */
export function mergeRestarts(current: WorkloadRestart[], added: WorkloadRestart[]): WorkloadRestart[] {
  const id = (r: WorkloadRestart) => `${r.namespace}/${r.kind}/${r.name}`;
  const fresh = new Set(added.map(id));
  return [...[...added].reverse(), ...current.filter((r) => !fresh.has(id(r)))].slice(0, MAX_LISTED_RESTARTS);
}

function comparable(s: RolloutRestartStatus): string {
  return canonicalJson({
    conditions: (s.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: undefined })),
    restarts: s.restarts ?? [],
  });
}
