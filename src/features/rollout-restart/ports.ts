// rolloutRestart's vocabulary and ports: the condition and its reasons, restart outcomes, the workload cache and
// writer it works through (src/kube's WorkloadClient and the workload informers behind them; fakes in tests), and
// the owner of a Secret as far as restarts are concerned.
import type { RolloutRestartSpec, RolloutRestartStatus, WorkloadKind } from "../../api/schema.ts";
import type { CachedWorkload, RawWorkload } from "../../domain/rollout-restart.ts";
import type { EventTarget } from "../../credentials/ports.ts";

export const WORKLOADS_RESTARTED = "WorkloadsRestarted";

/** Reasons of the WorkloadsRestarted condition and of restart events. */
export const RestartReason = {
  /** Every workload due was restarted for the current credentials (or none needed it). */
  RestartsDone: "RestartsDone",
  /** Restarts are still being spread out. */
  RestartsInProgress: "RestartsInProgress",
  /** The old credentials expire before the staggered rollouts can finish. */
  RestartWindowShort: "RestartWindowShort",
  /** A named target does not exist. */
  TargetNotFound: "TargetNotFound",
  /** The operator may not patch the workload (RBAC). */
  RestartForbidden: "RestartForbidden",
  /** The patch failed otherwise. */
  RestartFailed: "RestartFailed",
} as const;
export type RestartReason = (typeof RestartReason)[keyof typeof RestartReason];

/** Outcomes in status.rolloutRestart.restarts and the restarts metric. */
export type RestartOutcome = "Restarted" | "Failed" | "Forbidden" | "NotFound";

/** The workload caches: every Deployment, StatefulSet and DaemonSet as a CachedWorkload, indexed by Secret. */
export interface WorkloadCache {
  get(kind: WorkloadKind, namespace: string, name: string): CachedWorkload | undefined;
  /** Workloads in `namespace` whose Pod template reads the Secret (env or volume). */
  readers(namespace: string, secretName: string): CachedWorkload[];
}

/** The live side: a read right before the patch, and the patch. */
export interface WorkloadWriter {
  get(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<RawWorkload | undefined>;
  patchTemplateAnnotations(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    resourceVersion: string,
    annotations: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<void>;
}

/** The resource that owns a Secret, as far as restarts are concerned. */
export interface RestartOwner {
  /** Unique among owners of both kinds: the owner's uid. */
  key: string;
  target: EventTarget;
  spec: RolloutRestartSpec | undefined;
  status: RolloutRestartStatus | undefined;
  writeStatus(status: RolloutRestartStatus, signal?: AbortSignal): Promise<void>;
}

export interface RestartObserver {
  onRestart?(kind: WorkloadKind, outcome: RestartOutcome): void;
}

/** Writes an owner's status.rolloutRestart (either kind). */
export interface RestartStatusWriter {
  writeRestartStatus(owner: EventTarget, status: RolloutRestartStatus, signal?: AbortSignal): Promise<void>;
}

/** A problem one Secret's restarts report in the condition. */
export interface Problem {
  reason: RestartReason;
  message: string;
}
