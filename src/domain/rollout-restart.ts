// rolloutRestart, the pure part: which workloads read a Secret and how (the projection the workload caches keep),
// whether a workload still needs a restart for the Secret's current credential set (the restarted-for annotation on
// its Pod template), how restarts of several workloads are spaced, and whether they fit into the old credentials'
// remaining lifetime. No I/O and no clock reads: times come in as arguments.
import type { RolloutRestartConsumers, RolloutRestartSpec, WorkloadKind } from "../api/schema.ts";
import { PREFIX } from "./plan.ts";

/** What `kubectl rollout restart` sets on the Pod template. */
export const RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt";
/** Which credential set (Secret name → data hash) each of our Secrets last restarted the workload for. */
export const RESTARTED_FOR_ANNOTATION = `${PREFIX}/restarted-for`;
/** Restarts of one Secret's consumers are at least this far apart, so never two in the same second. */
export const MIN_RESTART_SPACING_MS = 1000;
/** Kubernetes' default progressDeadlineSeconds of a Deployment. */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

/** A workload as the discovery caches keep it: names, the Secrets its Pod template reads, our annotation. */
export interface CachedWorkload {
  kind: WorkloadKind;
  metadata: {
    namespace?: string;
    name?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
  };
  /** Secrets read through env[].valueFrom.secretKeyRef or envFrom[].secretRef (any container or init container). */
  envSecrets: string[];
  /** Secrets mounted as a volume (secret or projected sources). */
  volumeSecrets: string[];
  /** The Pod template's restarted-for annotation. */
  restartedFor?: string;
  /** Deployments only: spec.progressDeadlineSeconds. */
  progressDeadlineSeconds?: number;
}

interface EnvVar {
  valueFrom?: { secretKeyRef?: { name?: string } };
}
interface EnvFrom {
  secretRef?: { name?: string };
}
interface Container {
  env?: EnvVar[];
  envFrom?: EnvFrom[];
}
interface Volume {
  secret?: { secretName?: string };
  projected?: { sources?: { secret?: { name?: string } }[] };
}
/** The part of a Deployment, StatefulSet or DaemonSet the projection reads. */
export interface RawWorkload {
  metadata?: Omit<CachedWorkload["metadata"], "creationTimestamp"> & { creationTimestamp?: string | Date };
  spec?: {
    progressDeadlineSeconds?: number;
    template?: {
      metadata?: { annotations?: Record<string, string> };
      spec?: { containers?: Container[]; initContainers?: Container[]; volumes?: Volume[] };
    };
  };
}

const sortedUnique = (names: (string | undefined)[]): string[] =>
  [...new Set(names.filter((n): n is string => !!n))].sort();

/** The cache's projection of a workload: nothing of the Pod template but the Secret names it reads. */
export function workloadProjection(kind: WorkloadKind, obj: RawWorkload): CachedWorkload {
  const m = obj.metadata ?? {};
  const pod = obj.spec?.template?.spec ?? {};
  const containers = [...(pod.containers ?? []), ...(pod.initContainers ?? [])];
  const envSecrets = sortedUnique(
    containers.flatMap((c) => [
      ...(c.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name),
      ...(c.envFrom ?? []).map((e) => e.secretRef?.name),
    ]),
  );
  const volumeSecrets = sortedUnique(
    (pod.volumes ?? []).flatMap((v) => [
      v.secret?.secretName,
      ...(v.projected?.sources ?? []).map((s) => s.secret?.name),
    ]),
  );
  const restartedFor = obj.spec?.template?.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION];
  const created = m.creationTimestamp;
  return {
    kind,
    metadata: {
      ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.uid !== undefined ? { uid: m.uid } : {}),
      ...(m.generation !== undefined ? { generation: m.generation } : {}),
      ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
      ...(created !== undefined
        ? { creationTimestamp: created instanceof Date ? created.toISOString() : created }
        : {}),
    },
    envSecrets,
    volumeSecrets,
    ...(restartedFor !== undefined ? { restartedFor } : {}),
    ...(kind === "Deployment" && obj.spec?.progressDeadlineSeconds !== undefined
      ? { progressDeadlineSeconds: obj.spec.progressDeadlineSeconds }
      : {}),
  };
}

/** The Secret names a workload is indexed under: every Secret it reads, by env or by volume. */
export function consumedSecrets(w: CachedWorkload): string[] {
  return sortedUnique([...w.envSecrets, ...w.volumeSecrets]);
}

/** Whether the workload reads the Secret in a way `consumers` restarts for. */
export function consumes(w: CachedWorkload, secretName: string, consumers: RolloutRestartConsumers): boolean {
  switch (consumers) {
    case "None":
      return false;
    case "Env":
      return w.envSecrets.includes(secretName);
    case "All":
      return w.envSecrets.includes(secretName) || w.volumeSecrets.includes(secretName);
  }
}

/** Whether a spec asks for any restart at all. */
export function restartsAnything(spec: RolloutRestartSpec | undefined): spec is RolloutRestartSpec {
  return spec !== undefined && ((spec.consumers ?? "None") !== "None" || (spec.targets?.length ?? 0) > 0);
}

/** The restarted-for annotation as Secret name → data hash ("name=hash,name=hash"; names hold neither , nor =). */
export function parseRestartedFor(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of (value ?? "").split(",")) {
    const eq = entry.indexOf("=");
    if (eq > 0) out.set(entry.slice(0, eq).trim(), entry.slice(eq + 1).trim());
  }
  return out;
}

/** The annotation with this Secret's entry set; entries of other Secrets the workload reads are kept. */
export function restartedForValue(
  current: string | undefined,
  secretName: string,
  fingerprint: string,
): string {
  const map = parseRestartedFor(current);
  map.set(secretName, fingerprint);
  return [...map.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

export type RestartNeed =
  /** It was last restarted for this credential set. */
  | "done"
  /** Never restarted for this Secret, and created after the current credentials were written: it read them. */
  | "started-after"
  | "restart";

/**
 * Level-triggered restart rule: a workload needs a restart unless its Pod template records the Secret's current
 * fingerprint, or it has no record for this Secret and was created at or after the current credentials were
 * written (`writtenAt`; its Pods started with them). Nothing here depends on memory: an operator restart, a
 * failover or a relist decides the same.
 */
export function restartNeed(
  w: CachedWorkload,
  secretName: string,
  fingerprint: string,
  writtenAt: Date | undefined,
): RestartNeed {
  const recorded = parseRestartedFor(w.restartedFor).get(secretName);
  if (recorded === fingerprint) return "done";
  if (recorded === undefined && writtenAt !== undefined && w.metadata.creationTimestamp !== undefined) {
    const created = Date.parse(w.metadata.creationTimestamp);
    // creationTimestamp has whole seconds: one created in the second of the write may predate it, so it restarts.
    if (Number.isFinite(created) && created > writtenAt.getTime()) return "started-after";
  }
  return "restart";
}

/** How long a workload's rollout may take: a Deployment's progress deadline, at least `minimumSeconds`. */
export function rolloutSeconds(w: CachedWorkload, minimumSeconds: number): number {
  if (w.kind !== "Deployment") return minimumSeconds;
  return Math.max(minimumSeconds, w.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS);
}

export interface StaggerInput {
  /** Workloads to restart for this credential set. */
  count: number;
  /** Remaining lifetime of the OLD credentials when the new ones were written. */
  oldRemainingMs: number;
  /** The longest rollout among them (rolloutSeconds × 1000). */
  rolloutMs: number;
  /** Upper bound of the spacing (--rollout-restart-spacing-ms). */
  maxSpacingMs: number;
}

export interface StaggerPlan {
  /** Time between two restarts of this credential set's consumers. */
  spacingMs: number;
  /** When the last restart starts, after the first. */
  spreadMs: number;
  /** Whether the last rollout can finish before the old credentials expire. */
  inTime: boolean;
  /** The old credentials' remaining lifetime that restarts and rollouts need. */
  neededMs: number;
}

/**
 * Spreads `count` restarts over the part of the old credentials' remaining lifetime that leaves room for the last
 * rollout: spacing = (remaining − rollout) / (count − 1), between MIN_RESTART_SPACING_MS and maxSpacingMs. When
 * even the minimum spacing does not fit, the plan says so (inTime false) and keeps the minimum.
 */
export function staggerPlan(input: StaggerInput): StaggerPlan {
  const { count, oldRemainingMs, rolloutMs } = input;
  const maxSpacing = Math.max(MIN_RESTART_SPACING_MS, input.maxSpacingMs);
  const gaps = Math.max(0, count - 1);
  const room = oldRemainingMs - rolloutMs;
  const spacingMs =
    gaps === 0 ? 0 : Math.min(maxSpacing, Math.max(MIN_RESTART_SPACING_MS, Math.floor(room / gaps)));
  const spreadMs = spacingMs * gaps;
  const neededMs = spreadMs + rolloutMs;
  return { spacingMs, spreadMs, inTime: neededMs <= oldRemainingMs, neededMs };
}

/**
 * The shortest durationSeconds whose remaining lifetime at refresh time, (1 − refreshRatio) × duration, covers
 * `neededMs`, rounded up to whole minutes (at most 43200, STS's limit).
 */
export function recommendedDurationSeconds(neededMs: number, refreshRatio: number): number {
  const seconds = neededMs / 1000 / (1 - refreshRatio);
  return Math.min(43200, Math.max(900, Math.ceil(seconds / 60) * 60));
}

/**
 * Remaining lifetime of the old credentials when the new ones were written. Known when the previous credential
 * set was seen (its expiry); otherwise estimated from the schedule the operator follows: a refresh at
 * `refreshRatio` of the lifetime leaves (1 − refreshRatio) of it.
 */
export function oldRemainingMs(p: {
  previousExpiration: Date | undefined;
  writtenAt: Date;
  expiration: Date;
  refreshRatio: number;
}): number {
  if (p.previousExpiration) return Math.max(0, p.previousExpiration.getTime() - p.writtenAt.getTime());
  const lifetime = p.expiration.getTime() - p.writtenAt.getTime();
  return Math.max(0, Math.round(lifetime * (1 - p.refreshRatio)));
}
