// The stagger plan of one Secret's current credential set: how far apart its consumers are restarted, and whether
// the old credentials last long enough for the rollouts (a RestartWindowShort problem with a recommendation if not).
import {
  MIN_RESTART_SPACING_MS,
  oldRemainingMs,
  recommendedDurationSeconds,
  staggerPlan,
} from "../../domain/rollout-restart.ts";
import { RestartReason } from "./ports.ts";
import type { Problem } from "./ports.ts";

/** The stagger plan of one Secret's current credential set. */
export interface Plan {
  fingerprint: string;
  spacingMs: number;
  /** Not before this time (ms) is the next restart made. */
  nextAt: number;
  window: Problem | undefined;
  /** Workloads whose restart failed: not retried before this time (ms). */
  failedUntil: Map<string, number>;
  problems: Map<string, Problem>;
}

/** Per Secret: the latest credential set seen, and the expiry of the one before (the "old" credentials). */
export interface Seen {
  fingerprint: string;
  expiration: Date | undefined;
  previousExpiration: Date | undefined;
}

export interface RestartPlanOptions {
  /** What was seen of the Secret's credential sets (the expiry of the one before). */
  seen: Seen | undefined;
  fingerprint: string;
  /** Workloads due for a restart. */
  due: number;
  writtenAt: Date | undefined;
  expiration: Date | undefined;
  now: number;
  refreshRatio: number;
  maxSpacingMs: number;
  minRolloutSeconds: number;
}

export function restartPlan(options: RestartPlanOptions): Plan {
  const { seen, fingerprint, due, writtenAt, expiration, now, refreshRatio } = options;
  const remaining =
    writtenAt && expiration
      ? oldRemainingMs({
          previousExpiration: seen?.fingerprint === fingerprint ? seen.previousExpiration : undefined,
          writtenAt,
          expiration,
          refreshRatio: refreshRatio,
        })
      : undefined;
  // A rollout is given --rollout-restart-min-seconds. Not a Deployment's progressDeadlineSeconds: that is when
  // Kubernetes gives up on a rollout (600 s unless set), and planning with it warned on every refresh of the
  // default 900 s credentials.
  const rolloutMs = due > 0 ? options.minRolloutSeconds * 1000 : 0;
  const stagger = staggerPlan({
    count: due,
    oldRemainingMs: remaining ?? Number.MAX_SAFE_INTEGER,
    rolloutMs,
    maxSpacingMs: options.maxSpacingMs,
  });
  const window: Problem | undefined =
    due > 0 && remaining !== undefined && !stagger.inTime
      ? {
          reason: RestartReason.RestartWindowShort,
          message:
            `The old credentials had ${Math.round(remaining / 1000)} s left when the new ones were written, ` +
            `but ${
              due === 1
                ? "restarting 1 workload"
                : `restarting ${due} workloads ${Math.round(stagger.spacingMs / 1000)} s apart`
            } and letting the last rollout finish (up to ${Math.round(rolloutMs / 1000)} s) needs ` +
            `${Math.round(stagger.neededMs / 1000)} s: Pods may run with expired credentials. Use ` +
            `durationSeconds of at least ${recommendedDurationSeconds(stagger.neededMs, refreshRatio)} ` +
            `(or a lower --refresh-ratio), or a lower --rollout-restart-min-seconds if rollouts finish sooner.`,
        }
      : undefined;
  return {
    fingerprint,
    spacingMs: Math.max(MIN_RESTART_SPACING_MS, stagger.spacingMs),
    nextAt: now,
    window,
    failedUntil: new Map(),
    problems: new Map(),
  };
}
