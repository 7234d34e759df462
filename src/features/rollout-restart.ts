// rolloutRestart, the engine: one key per owned Secret (namespace/secretName) in its own queue. A run reads the
// Secret and its owner's spec from the caches, finds the workloads to restart (discovered consumers and named
// targets), and restarts at most one of them — the next one due under the stagger plan of the Secret's current
// credential set — then asks to run again after the spacing. Level-triggered: whether a workload still needs a
// restart is read from its Pod template (domain/rollout-restart.ts), so nothing is restarted twice for one
// credential set, whatever this process remembers. Runs only on the leader, only after the new Secret is written.
import type { Logger } from "pino";
import type {
  Condition,
  RolloutRestartSpec,
  RolloutRestartStatus,
  WorkloadKind,
  WorkloadRestart,
} from "../api/schema.ts";
import { MAX_LISTED_RESTARTS } from "../api/schema.ts";
import { setCondition } from "../domain/conditions.ts";
import { SecretAnnotation } from "../domain/plan.ts";
import {
  MIN_RESTART_SPACING_MS,
  RESTARTED_AT_ANNOTATION,
  RESTARTED_FOR_ANNOTATION,
  consumes,
  oldRemainingMs,
  recommendedDurationSeconds,
  restartNeed,
  restartedForValue,
  restartsAnything,
  staggerPlan,
  workloadProjection,
} from "../domain/rollout-restart.ts";
import type { CachedWorkload, RawWorkload } from "../domain/rollout-restart.ts";
import { apiErrorMessage, isConflict, isForbidden } from "../kube/errors.ts";
import { canonicalJson } from "../runtime/content-hash.ts";
import type { CachedSecret, Cache, EventSink, EventTarget } from "../credentials/ports.ts";
import { WorkQueue } from "../runtime/queue.ts";
import { done, requeueAfter } from "../runtime/result.ts";
import type { ReconcileResult } from "../runtime/result.ts";

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
  /** Unique among owners: "AWSAssumeRole:ns/name" or "ClusterAWSAssumeRole:name". */
  key: string;
  target: EventTarget;
  spec: RolloutRestartSpec | undefined;
  status: RolloutRestartStatus | undefined;
  writeStatus(status: RolloutRestartStatus, signal?: AbortSignal): Promise<void>;
}

export interface RestartObserver {
  onRestart?(kind: WorkloadKind, outcome: RestartOutcome): void;
}

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
  backoff: { baseMs: number; maxMs: number };
  observer?: RestartObserver;
  now?: () => Date;
}

interface Problem {
  reason: RestartReason;
  message: string;
}

/** The stagger plan of one Secret's current credential set. */
interface Plan {
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
interface Seen {
  fingerprint: string;
  expiration: Date | undefined;
  previousExpiration: Date | undefined;
}

/** What the restarter remembers of an owner: its Secrets' problems, and its status writes (one at a time). */
interface OwnerMemory {
  problems: Map<string, Problem[]>;
  pending: Set<string>;
  written?: RolloutRestartStatus;
  /** The owner's status write in flight: the Secrets of a ClusterAWSAssumeRole report concurrently. */
  writing: Promise<void>;
}

interface Candidate {
  kind: WorkloadKind;
  name: string;
  workload: CachedWorkload | undefined;
  named: boolean;
}

const MAX_MESSAGE = 1024;
const LAG_RETRY_MS = 500;

export class RolloutRestarter {
  readonly queue: WorkQueue;
  private readonly o: RolloutRestarterOptions;
  private readonly now: () => Date;
  private readonly plans = new Map<string, Plan>();
  private readonly seen = new Map<string, Seen>();
  /** Per owner: its Secrets' current problems and the status last written (the cache may lag behind it). */
  private readonly owners = new Map<string, OwnerMemory>();
  private working = false;

  constructor(options: RolloutRestarterOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
    this.queue = new WorkQueue({
      concurrency: 4,
      backoff: options.backoff,
      handler: (key) => this.reconcile(key, AbortSignal.timeout(60_000)),
      onError: (key, err) =>
        options.logger.debug({ key, err: err.message }, "rollout restart failed; retrying"),
    });
  }

  start(): void {
    this.working = true;
    for (const s of this.o.secrets.list()) this.add(keyOf(s));
    this.queue.start();
  }

  async stop(): Promise<void> {
    this.working = false;
    await this.queue.shutdown();
  }

  /** An owned Secret was added, changed or left the cache. */
  secretChanged(secret: CachedSecret, left: boolean): void {
    const key = keyOf(secret);
    if (left) {
      this.seen.delete(key);
      this.plans.delete(key);
      for (const owner of this.owners.values()) {
        owner.problems.delete(key);
        owner.pending.delete(key);
      }
      return;
    }
    const fingerprint = secret.dataHash;
    const expiration = parseTime(secret.metadata.annotations?.[SecretAnnotation.expirationTime]);
    const seen = this.seen.get(key);
    if (!seen || seen.fingerprint !== fingerprint) {
      this.seen.set(key, { fingerprint, expiration, previousExpiration: seen?.expiration });
    }
    this.add(key);
  }

  /** A workload changed: look at the Secrets it reads (a named target is looked up by the caller). */
  workloadChanged(w: CachedWorkload): void {
    const ns = w.metadata.namespace!;
    for (const name of new Set([...w.envSecrets, ...w.volumeSecrets])) {
      if (this.o.secrets.get(ns, name)) this.add(`${ns}/${name}`);
    }
  }

  /** Queues a Secret key (after an owner's spec or a named target changed). */
  add(key: string): void {
    if (this.working) this.queue.add(key);
  }

  /** The owner was deleted: forget what was remembered for it. */
  forgetOwner(ownerKey: string): void {
    this.owners.delete(ownerKey);
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const slash = key.indexOf("/");
    const namespace = key.slice(0, slash);
    const secretName = key.slice(slash + 1);
    const secret = this.o.secrets.get(namespace, secretName);
    const owner = secret && this.o.ownerOf(secret);
    const spec = owner?.spec;
    if (!secret || !owner || !restartsAnything(spec)) {
      this.plans.delete(key);
      // Only an owner that had rolloutRestart has a status of it to bring up to date.
      if (owner && (owner.status || this.owners.has(owner.key))) {
        await this.report(owner, key, [], false, undefined, signal);
      }
      return done();
    }
    const fingerprint = secret.dataHash;
    // Data that is not what we wrote (drift) is about to be rewritten: restart for the rewrite, not for this.
    if (secret.metadata.annotations?.[SecretAnnotation.dataHash] !== fingerprint) return done();
    const writtenAt = parseTime(secret.metadata.annotations?.[SecretAnnotation.lastRefreshTime]);
    const expiration = parseTime(secret.metadata.annotations?.[SecretAnnotation.expirationTime]);
    const log = this.o.logger.child({ namespace, secretName });
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
      plan = this.newPlan(key, fingerprint, due, writtenAt, expiration, now);
      this.plans.set(key, plan);
      if (plan.window) {
        log.warn({ reason: plan.window.reason }, plan.window.message);
        this.o.events.emit(owner.target, "Warning", plan.window.reason, plan.window.message);
      }
      for (const p of problems) this.o.events.emit(owner.target, "Warning", p.reason, p.message);
      for (const c of candidates.filter((c) => !c.workload)) {
        this.o.observer?.onRestart?.(c.kind, "NotFound");
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
      const entry = await this.restart(
        c,
        namespace,
        secretName,
        fingerprint,
        writtenAt,
        plan,
        owner,
        log,
        signal,
      );
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
    await this.report(owner, key, current, ready.length > 1 || next !== undefined, entries, signal);
    return next === undefined ? done() : requeueAfter(next);
  }

  private candidates(namespace: string, secretName: string, spec: RolloutRestartSpec): Candidate[] {
    const out = new Map<string, Candidate>();
    const consumers = spec.consumers ?? "None";
    for (const w of this.o.workloads.readers(namespace, secretName)) {
      if (!consumes(w, secretName, consumers)) continue;
      const c = { kind: w.kind, name: w.metadata.name!, workload: w, named: false };
      out.set(workloadKey(c), c);
    }
    for (const t of spec.targets ?? []) {
      const c = {
        kind: t.kind,
        name: t.name,
        workload: this.o.workloads.get(t.kind, namespace, t.name),
        named: true,
      };
      out.set(workloadKey(c), c);
    }
    return [...out.values()].sort((a, b) => compare(workloadKey(a), workloadKey(b)));
  }

  private newPlan(
    key: string,
    fingerprint: string,
    due: { workload: CachedWorkload }[],
    writtenAt: Date | undefined,
    expiration: Date | undefined,
    now: number,
  ): Plan {
    const seen = this.seen.get(key);
    const remaining =
      writtenAt && expiration
        ? oldRemainingMs({
            previousExpiration: seen?.fingerprint === fingerprint ? seen.previousExpiration : undefined,
            writtenAt,
            expiration,
            refreshRatio: this.o.refreshRatio,
          })
        : undefined;
    // A rollout is given --rollout-restart-min-seconds. Not a Deployment's progressDeadlineSeconds: that is when
    // Kubernetes gives up on a rollout (600 s unless set), and planning with it warned on every refresh of the
    // default 900 s credentials.
    const rolloutMs = due.length > 0 ? this.o.minRolloutSeconds * 1000 : 0;
    const stagger = staggerPlan({
      count: due.length,
      oldRemainingMs: remaining ?? Number.MAX_SAFE_INTEGER,
      rolloutMs,
      maxSpacingMs: this.o.maxSpacingMs,
    });
    const window: Problem | undefined =
      due.length > 0 && remaining !== undefined && !stagger.inTime
        ? {
            reason: RestartReason.RestartWindowShort,
            message:
              `The old credentials had ${Math.round(remaining / 1000)} s left when the new ones were written, ` +
              `but ${
                due.length === 1
                  ? "restarting 1 workload"
                  : `restarting ${due.length} workloads ${Math.round(stagger.spacingMs / 1000)} s apart`
              } and letting the last rollout finish (up to ${Math.round(rolloutMs / 1000)} s) needs ` +
              `${Math.round(stagger.neededMs / 1000)} s: Pods may run with expired credentials. Use ` +
              `durationSeconds of at least ${recommendedDurationSeconds(stagger.neededMs, this.o.refreshRatio)} ` +
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

  /** Restarts one workload after re-reading it live; returns the status entry (none when it needed nothing). */
  private async restart(
    c: Candidate & { workload: CachedWorkload },
    namespace: string,
    secretName: string,
    fingerprint: string,
    writtenAt: Date | undefined,
    plan: Plan,
    owner: RestartOwner,
    log: Logger,
    signal: AbortSignal | undefined,
  ): Promise<WorkloadRestart | undefined> {
    const wk = workloadKey(c);
    const time = this.now();
    const entry = (outcome: RestartOutcome, message?: string): WorkloadRestart => {
      this.o.observer?.onRestart?.(c.kind, outcome);
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
      plan.failedUntil.set(wk, time.getTime() + this.o.retryMs);
      const problem = { reason, message };
      const before = plan.problems.get(wk);
      plan.problems.set(wk, problem);
      if (before?.message !== message) {
        log.warn({ kind: c.kind, workload: c.name, reason }, message);
        this.o.events.emit(owner.target, "Warning", reason, message);
      }
      return entry(outcome, message);
    };
    try {
      const raw = await this.o.writer.get(c.kind, namespace, c.name, signal);
      if (!raw)
        return c.named ? entry("NotFound", `${c.kind} ${namespace}/${c.name} does not exist`) : undefined;
      const live = workloadProjection(c.kind, raw);
      // The cache may lag: the live object decides (another replica, or an earlier run, may have restarted it).
      if (restartNeed(live, secretName, fingerprint, writtenAt) !== "restart") return undefined;
      if (!c.named && !consumes(live, secretName, owner.spec?.consumers ?? "None")) return undefined;
      await this.o.writer.patchTemplateAnnotations(
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
    this.o.events.emit(owner.target, "Normal", "Restarted", message);
    return entry("Restarted");
  }

  /** Writes status.rolloutRestart when it differs: the condition over all the owner's Secrets, and new entries. */
  private async report(
    owner: RestartOwner,
    secretKey: string,
    problems: Problem[],
    inProgress: boolean,
    entries: WorkloadRestart[] | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let memory = this.owners.get(owner.key);
    if (!memory) {
      memory = { problems: new Map(), pending: new Set(), writing: Promise.resolve() };
      this.owners.set(owner.key, memory);
    }
    const m = memory;
    const run = m.writing.then(() =>
      this.writeStatus(owner, m, secretKey, problems, inProgress, entries, signal),
    );
    m.writing = run.catch(() => undefined);
    await run;
  }

  private async writeStatus(
    owner: RestartOwner,
    memory: OwnerMemory,
    secretKey: string,
    problems: Problem[],
    inProgress: boolean,
    entries: WorkloadRestart[] | undefined,
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

function keyOf(s: CachedSecret): string {
  return `${s.metadata.namespace}/${s.metadata.name}`;
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
