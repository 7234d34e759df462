// rolloutRestart's reconciler: one run per owned Secret (key namespace/secretName). A run reads the Secret and its
// owner's spec from the caches, finds the workloads to restart (discovered consumers and named targets), and
// restarts at most one of them — the next one due under the stagger plan of the Secret's current credential set —
// then asks to run again after the spacing. Level-triggered: whether a workload still needs a restart is read from
// its Pod template (domain/rollout-restart.ts), so nothing is restarted twice for one credential set.
import type { Logger } from "pino";
import type { RolloutRestartSpec, WorkloadKind, WorkloadRestart } from "../../api/schema.ts";
import { SecretAnnotation } from "../../domain/plan.ts";
import {
  RESTARTED_AT_ANNOTATION,
  RESTARTED_FOR_ANNOTATION,
  consumes,
  restartNeed,
  restartedForValue,
  restartsAnything,
  workloadProjection,
} from "../../domain/rollout-restart.ts";
import type { CachedWorkload } from "../../domain/rollout-restart.ts";
import { apiErrorMessage, isConflict, isForbidden } from "../../runtime/api-errors.ts";
import type { CachedSecret, Cache, EventSink } from "../../credentials/ports.ts";
import { keyOf, parseKey } from "../../runtime/object-key.ts";
import type { Reconciler } from "../../runtime/reconciler.ts";
import { done, requeueAfter } from "../../runtime/result.ts";
import type { ReconcileResult } from "../../runtime/result.ts";
import { RestartReason } from "./ports.ts";
import type {
  Problem,
  RestartObserver,
  RestartOutcome,
  RestartOwner,
  WorkloadCache,
  WorkloadWriter,
} from "./ports.ts";
import { MAX_MESSAGE, RestartStatusReporter } from "./status.ts";
import { restartPlan } from "./plan.ts";
import type { Plan, Seen } from "./plan.ts";

export interface RolloutRestarterOptions {
  secrets: Cache<CachedSecret>;
  workloads: WorkloadCache;
  writer: WorkloadWriter;
  events: EventSink;
  logger: Logger;
  /** The owner of an owned Secret (undefined when it has none in the caches). */
  ownerOf(secret: CachedSecret): RestartOwner | undefined;
  refreshRatio: number;
  /** Upper bound of the spacing between two restarts of one Secret's consumers. */
  maxSpacingMs: number;
  /** The least time a rollout is given (StatefulSets, DaemonSets; Deployments use their progress deadline). */
  minRolloutSeconds: number;
  /** Retry delay after a failed or forbidden restart. */
  retryMs: number;
  observer?: RestartObserver;
  now?: () => Date;
}

interface Candidate {
  kind: WorkloadKind;
  name: string;
  workload: CachedWorkload | undefined;
  named: boolean;
}

/** One restart attempt: the Secret's current credential set and who owns it. */
interface RestartRun {
  namespace: string;
  secretName: string;
  fingerprint: string;
  writtenAt: Date | undefined;
  plan: Plan;
  owner: RestartOwner;
  log: Logger;
  signal: AbortSignal | undefined;
}

const LAG_RETRY_MS = 500;

export class RolloutRestarter implements Reconciler {
  private readonly options: RolloutRestarterOptions;
  private readonly now: () => Date;
  private readonly plans = new Map<string, Plan>();
  private readonly seen = new Map<string, Seen>();
  private readonly status: RestartStatusReporter;

  constructor(options: RolloutRestarterOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.status = new RestartStatusReporter(this.now);
  }

  /** An owned Secret was added, changed or left the cache: remember its credential sets (the "old" expiry). */
  secretChanged(secret: CachedSecret, left: boolean): void {
    const key = keyOf(secret);
    if (left) {
      this.seen.delete(key);
      this.plans.delete(key);
      this.status.forgetSecret(key);
      return;
    }
    const fingerprint = secret.dataHash;
    const expiration = parseTime(secret.metadata.annotations?.[SecretAnnotation.expirationTime]);
    const seen = this.seen.get(key);
    if (!seen || seen.fingerprint !== fingerprint) {
      this.seen.set(key, { fingerprint, expiration, previousExpiration: seen?.expiration });
    }
  }

  /** The owner was deleted: forget what was remembered for it. */
  forgetOwner(ownerKey: string): void {
    this.status.forgetOwner(ownerKey);
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const { namespace, name: secretName } = parseKey(key);
    const secret = this.options.secrets.get(namespace, secretName);
    const owner = secret && this.options.ownerOf(secret);
    const spec = owner?.spec;
    if (!secret || !owner || !restartsAnything(spec)) {
      this.plans.delete(key);
      // Only an owner that had rolloutRestart has a status of it to bring up to date.
      if (owner && (owner.status || this.status.knows(owner.key))) {
        await this.status.report(
          owner,
          { secretKey: key, problems: [], inProgress: false, entries: undefined },
          signal,
        );
      }
      return done();
    }
    const fingerprint = secret.dataHash;
    // Data that is not what we wrote (drift) is about to be rewritten: restart for the rewrite, not for this.
    if (secret.metadata.annotations?.[SecretAnnotation.dataHash] !== fingerprint) return done();
    const writtenAt = parseTime(secret.metadata.annotations?.[SecretAnnotation.lastRefreshTime]);
    const expiration = parseTime(secret.metadata.annotations?.[SecretAnnotation.expirationTime]);
    const log = this.options.logger.child({ namespace, secretName });
    const now = this.now().getTime();

    const candidates = this.candidates(namespace, secretName, spec);
    const problems: Problem[] = [];
    const entries: WorkloadRestart[] = [];
    for (const c of candidates) {
      if (c.workload) continue;
      problems.push({
        reason: RestartReason.TargetNotFound,
        message: `${c.kind} ${namespace}/${c.name}, named in rolloutRestart.targets, does not exist`,
      });
    }
    const due = candidates.filter(
      (c): c is Candidate & { workload: CachedWorkload } =>
        c.workload !== undefined && restartNeed(c.workload, secretName, fingerprint, writtenAt) === "restart",
    );

    let plan = this.plans.get(key);
    if (!plan || plan.fingerprint !== fingerprint) {
      plan = restartPlan({
        seen: this.seen.get(key),
        fingerprint,
        due: due.length,
        writtenAt,
        expiration,
        now,
        refreshRatio: this.options.refreshRatio,
        maxSpacingMs: this.options.maxSpacingMs,
        minRolloutSeconds: this.options.minRolloutSeconds,
      });
      this.plans.set(key, plan);
      if (plan.window) {
        log.warn({ reason: plan.window.reason }, plan.window.message);
        this.options.events.emit(owner.target, "Warning", plan.window.reason, plan.window.message);
      }
      for (const p of problems) this.options.events.emit(owner.target, "Warning", p.reason, p.message);
      for (const c of candidates.filter((c) => !c.workload)) {
        this.options.observer?.onRestart?.(c.kind, "NotFound");
        entries.push({ namespace, kind: c.kind, name: c.name, outcome: "NotFound", time: iso(now) });
      }
    }
    if (plan.window) problems.push(plan.window);
    const ready = due.filter((c) => (plan.failedUntil.get(workloadKey(c)) ?? 0) <= now);
    for (const c of due) {
      const p = plan.problems.get(workloadKey(c));
      if (p) problems.push(p);
    }

    let next: number | undefined;
    if (ready.length > 0 && now < plan.nextAt) {
      next = plan.nextAt - now;
    } else if (ready.length > 0) {
      const c = ready[0]!;
      const entry = await this.restart(c, {
        namespace,
        secretName,
        fingerprint,
        writtenAt,
        plan,
        owner,
        log,
        signal,
      });
      if (entry) {
        entries.push(entry);
        plan.nextAt = now + plan.spacingMs;
        // A failed one waits for its retry time (below); the others keep the spacing.
        if (ready.length > 1) next = plan.spacingMs;
      } else {
        // Nothing was patched (the cache lagged, or the workload changed meanwhile): look again soon.
        next = LAG_RETRY_MS;
      }
    }
    const waiting = [...plan.failedUntil.values()].filter((t) => t > now);
    if (next === undefined && waiting.length > 0) next = Math.min(...waiting) - now;
    // Problems of this run replace the Secret's earlier ones; a restart done clears its own problem.
    const current = [...problems];
    for (const c of due) {
      const p = plan.problems.get(workloadKey(c));
      if (p && !current.includes(p)) current.push(p);
    }
    const inProgress = ready.length > 1 || next !== undefined;
    await this.status.report(owner, { secretKey: key, problems: current, inProgress, entries }, signal);
    return next === undefined ? done() : requeueAfter(next);
  }

  private candidates(namespace: string, secretName: string, spec: RolloutRestartSpec): Candidate[] {
    const out = new Map<string, Candidate>();
    const consumers = spec.consumers ?? "None";
    for (const w of this.options.workloads.readers(namespace, secretName)) {
      if (!consumes(w, secretName, consumers)) continue;
      const c = { kind: w.kind, name: w.metadata.name!, workload: w, named: false };
      out.set(workloadKey(c), c);
    }
    for (const t of spec.targets ?? []) {
      const c = {
        kind: t.kind,
        name: t.name,
        workload: this.options.workloads.get(t.kind, namespace, t.name),
        named: true,
      };
      out.set(workloadKey(c), c);
    }
    return [...out.values()].sort((a, b) => compare(workloadKey(a), workloadKey(b)));
  }

  /** Restarts one workload after re-reading it live; returns the status entry (none when it needed nothing). */
  private async restart(
    c: Candidate & { workload: CachedWorkload },
    run: RestartRun,
  ): Promise<WorkloadRestart | undefined> {
    const { namespace, secretName, fingerprint, writtenAt, plan, owner, log, signal } = run;
    const wk = workloadKey(c);
    const time = this.now();
    const entry = (outcome: RestartOutcome, message?: string): WorkloadRestart => {
      this.options.observer?.onRestart?.(c.kind, outcome);
      return {
        namespace,
        kind: c.kind,
        name: c.name,
        outcome,
        time: iso(time.getTime()),
        ...(message ? { message: message.slice(0, MAX_MESSAGE) } : {}),
      };
    };
    const fail = (reason: RestartReason, outcome: RestartOutcome, message: string): WorkloadRestart => {
      plan.failedUntil.set(wk, time.getTime() + this.options.retryMs);
      const problem = { reason, message };
      const before = plan.problems.get(wk);
      plan.problems.set(wk, problem);
      if (before?.message !== message) {
        log.warn({ kind: c.kind, workload: c.name, reason }, message);
        this.options.events.emit(owner.target, "Warning", reason, message);
      }
      return entry(outcome, message);
    };
    try {
      const raw = await this.options.writer.get(c.kind, namespace, c.name, signal);
      if (!raw)
        return c.named ? entry("NotFound", `${c.kind} ${namespace}/${c.name} does not exist`) : undefined;
      const live = workloadProjection(c.kind, raw);
      // The cache may lag: the live object decides (another replica, or an earlier run, may have restarted it).
      if (restartNeed(live, secretName, fingerprint, writtenAt) !== "restart") return undefined;
      if (!c.named && !consumes(live, secretName, owner.spec?.consumers ?? "None")) return undefined;
      await this.options.writer.patchTemplateAnnotations(
        c.kind,
        namespace,
        c.name,
        live.metadata.resourceVersion!,
        {
          [RESTARTED_AT_ANNOTATION]: rfc3339Seconds(time),
          [RESTARTED_FOR_ANNOTATION]: restartedForValue(live.restartedFor, secretName, fingerprint),
        },
        signal,
      );
    } catch (err) {
      // Changed between the read and the patch: read it again on the next run.
      if (isConflict(err)) return undefined;
      const text = apiErrorMessage(err);
      if (isForbidden(err)) {
        return fail(
          RestartReason.RestartForbidden,
          "Forbidden",
          `The operator may not restart ${c.kind} ${namespace}/${c.name} (${text}): give it patch on ` +
            `${c.kind.toLowerCase()}s in apps (Helm: rolloutRestart.enabled)`,
        );
      }
      return fail(
        RestartReason.RestartFailed,
        "Failed",
        `Could not restart ${c.kind} ${namespace}/${c.name}: ${text}`,
      );
    }
    plan.failedUntil.delete(wk);
    plan.problems.delete(wk);
    const message = `Restarted ${c.kind} ${namespace}/${c.name} for the new credentials in Secret ${secretName}`;
    log.info({ kind: c.kind, workload: c.name }, "workload restarted");
    this.options.events.emit(owner.target, "Normal", "Restarted", message);
    return entry("Restarted");
  }
}

function workloadKey(c: { kind: string; name: string }): string {
  return `${c.kind}/${c.name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function parseTime(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const t = Date.parse(value);
  return Number.isFinite(t) ? new Date(t) : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** RFC 3339 with whole seconds, as kubectl writes restartedAt. */
function rfc3339Seconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
