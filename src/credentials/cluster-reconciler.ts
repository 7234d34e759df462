// reconcile(name) for a ClusterAWSAssumeRole: the namespaces its selector matches (from the Namespace cache), the
// copy of its Secret each one holds, and one issue of credentials for all of them. New credentials are obtained
// once per refresh for the whole fan-out (one AssumeRole, one ECR token); a copy that is missing or drifted while
// others are fresh gets the current issue, with no AWS call. Copies in namespaces that stop matching are deleted;
// a same-named Secret we do not own is never touched (that namespace is reported, the rest proceed).
import type { V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { ClusterAWSAssumeRole, NamespaceFailure } from "../api/cluster-schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import { Reason } from "../domain/conditions.ts";
import { selectorMatches } from "../domain/label-selector.ts";
import { clusterRoleSessionName } from "../domain/naming.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import type { EcrLogin } from "../domain/ecr-logins.ts";
import { PERMITTED_ROLES_ANNOTATION } from "../domain/namespace-permissions.ts";
import { FORCE_REFRESH_ANNOTATION, SecretAnnotation, plan, scheduledRefresh } from "../domain/plan.ts";
import type { Plan, RefreshCause } from "../domain/plan.ts";
import { expirationProblem, secretExpirationTime } from "../domain/schedule.ts";
import { roleArnOf } from "../domain/session.ts";
import type { SessionTagOptions } from "../domain/session.ts";
import { apiErrorMessage, isConflict } from "../kube/errors.ts";
import { copyBody, issueFromCopy, newIssue } from "./cluster-copies.ts";
import type { Issue } from "./cluster-copies.ts";
import { ClusterStatusReporter } from "./cluster-status.ts";
import type { ClusterStatusWriter, FanOutReport } from "./cluster-status.ts";
import { CredentialSource } from "./source.ts";
import type {
  AwsAccess,
  Cache,
  CachedSecret,
  EventSink,
  ReconcileObserver,
  SecretCache,
  SecretWriter,
} from "./ports.ts";
import { checkSpec, describeCause, hashSpec, namespacePermits, observe } from "./namespaced-reconciler.ts";
import type { CheckedSpec } from "./namespaced-reconciler.ts";
import { ResourceStates } from "./resource-state.ts";
import type { ResourceState } from "./resource-state.ts";
import { done, requeueAfter, temporaryError, terminalError } from "../runtime/result.ts";
import type { ReconcileResult } from "../runtime/result.ts";
import { SecretView } from "./secret-view.ts";
import { readyMessage } from "./status.ts";

/** Metrics hooks of the cluster kind, besides the refresh results. */
export interface ClusterObserver extends ReconcileObserver {
  onNamespaces?(
    name: string,
    counts: { selected: number; ready: number; conflicts: number; denied: number } | undefined,
  ): void;
}

export interface ClusterReconcilerOptions {
  resources: Cache<ClusterAWSAssumeRole>;
  secrets: SecretCache;
  namespaces: Cache<V1Namespace>;
  secretWriter: SecretWriter;
  statusWriter: ClusterStatusWriter;
  events: EventSink;
  aws: AwsAccess;
  logger: Logger;
  refreshRatio: number;
  jitterFraction: number;
  conflictRetryMs: number;
  permanentErrorRetryMs: number;
  /** Watched namespaces (--namespaces); empty = all. Copies go only to selected namespaces among these. */
  watchedNamespaces: readonly string[];
  /** --namespace-permissions: a namespace whose annotation does not permit the role gets no copy. */
  namespacePermissions: boolean;
  sessionTags?: SessionTagOptions;
  observer?: ClusterObserver;
  /** Copies written in parallel within one reconcile. */
  writeConcurrency?: number;
  now?: () => Date;
}

/** The in-memory record of one cluster resource: its own state, one per copy, and the current issue. */
interface ClusterState {
  uid: string;
  own: ResourceState;
  /** Per namespace: read-your-writes and live reads of the copy there. */
  copies: ResourceStates;
  /** The credentials last issued or read, so copies can be added and repaired without AWS. Never logged. */
  issue: Issue | undefined;
}

/** What one selected, permitted namespace's copy needs. */
interface CopyPlan {
  namespace: string;
  state: ResourceState;
  secret: CachedSecret | undefined;
  plan: Plan;
}

/** Refresh causes that need new credentials; the others (missing, drift) can reuse the current issue. */
const NEEDS_NEW: ReadonlySet<RefreshCause> = new Set(["spec-changed", "forced", "expired", "due"]);

export class ClusterReconciler {
  private readonly o: ClusterReconcilerOptions;
  private readonly now: () => Date;
  private readonly states = new Map<string, ClusterState>();
  private readonly secrets: SecretView;
  private readonly status: ClusterStatusReporter;
  private readonly source: CredentialSource;
  private readonly watched: ReadonlySet<string> | undefined;

  constructor(options: ClusterReconcilerOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
    this.secrets = new SecretView(options.secrets, options.secretWriter);
    this.status = new ClusterStatusReporter(options.statusWriter, options.events, this.now);
    this.source = new CredentialSource(options.aws);
    this.watched = options.watchedNamespaces.length ? new Set(options.watchedNamespaces) : undefined;
  }

  forget(name: string): void {
    this.states.delete(name);
  }

  trackedResources(): number {
    return this.states.size;
  }

  isOwnStatus(name: string, resource: ClusterAWSAssumeRole): boolean {
    return this.status.isOwnStatus(this.states.get(name)?.own, resource);
  }

  /** Whether this copy is the object our latest write produced (the watch echoing it back). */
  isOwnSecretWrite(name: string, secret: CachedSecret): boolean {
    const copy = this.states.get(name)?.copies.peek(secret.metadata?.namespace ?? "");
    return this.secrets.isOwnWrite(copy, secret);
  }

  /** The copy in `namespace` may exist outside the cache: read it live at the next reconcile. */
  expectOutsideCache(name: string, namespace: string): void {
    const state = this.states.get(name);
    if (state) state.copies.hint(namespace).readSecretLive = true;
  }

  async reconcile(name: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const resource = this.o.resources.get("", name);
    if (!resource || resource.metadata.deletionTimestamp) {
      // The garbage collector deletes every copy through its ownerReference.
      this.forget(name);
      this.o.observer?.onExpirationTime?.("", name, undefined);
      this.o.observer?.onNamespaces?.(name, undefined);
      return done();
    }
    const state = this.stateOf(resource);
    const log = this.o.logger.child({ kind: resource.kind, name });
    try {
      return await this.reconcileResource(resource, state, log, signal);
    } catch (err) {
      if (err instanceof AwsFailure) return this.awsFailed(resource, state, log, err, signal);
      const error = err instanceof Error ? err : new Error(String(err));
      return temporaryError(new Error(apiErrorMessage(error)));
    }
  }

  private stateOf(resource: ClusterAWSAssumeRole): ClusterState {
    const { name, uid, generation } = resource.metadata as { name: string; uid: string; generation?: number };
    let state = this.states.get(name);
    if (state === undefined || state.uid !== uid) {
      state = {
        uid,
        own: new ResourceStates().of(name, uid, generation),
        copies: new ResourceStates(),
        issue: undefined,
      };
      this.states.set(name, state);
    } else if (state.own.generation !== generation) {
      const { lastStatus } = state.own;
      state.own = new ResourceStates().of(name, uid, generation);
      state.own.lastStatus = lastStatus;
    }
    return state;
  }

  private async reconcileResource(
    resource: ClusterAWSAssumeRole,
    state: ClusterState,
    log: Logger,
    signal: AbortSignal | undefined,
  ): Promise<ReconcileResult> {
    const { spec } = resource;
    const { name, uid } = resource.metadata as { name: string; uid: string };

    const checked = this.checkSpec(resource);
    if ("problem" in checked) {
      await this.status.report(
        resource,
        state.own,
        log,
        this.failure(Reason.InvalidSpec, checked.problem),
        signal,
      );
      return terminalError(new Error(checked.problem));
    }
    const { registries, tags } = checked;
    const specHash = hashSpec(resource, tags);

    const selected = this.selectedNamespaces(resource);
    const denied: NamespaceFailure[] = [];
    let permitted = selected;
    let identity: CallerIdentity | undefined;
    if (this.o.namespacePermissions && selected.length > 0) {
      identity = await this.source.identity();
      const roleArn = roleArnOf(spec, identity);
      permitted = [];
      for (const namespace of selected) {
        if (namespacePermits(this.o.namespaces, namespace, roleArn, identity)) permitted.push(namespace);
        else
          denied.push({
            namespace,
            reason: Reason.RoleNotPermitted,
            message: `its annotation ${PERMITTED_ROLES_ANNOTATION} does not permit ${roleArn}`,
          });
      }
    }

    await this.deleteStrayCopies(resource, state, new Set(permitted), log, signal);

    const copies: CopyPlan[] = [];
    for (const namespace of permitted) {
      const copyState = state.copies.of(namespace, uid, resource.metadata.generation);
      const secret = await this.secrets.current(copyState, namespace, spec.secretName, signal);
      copies.push({
        namespace,
        state: copyState,
        secret,
        plan: plan({
          ownerUid: uid,
          secretName: spec.secretName,
          secretType: spec.secretType,
          specHash,
          forceRefresh: resource.metadata.annotations?.[FORCE_REFRESH_ANNOTATION],
          secret: secret ? observe(secret) : undefined,
          now: this.now(),
          refreshRatio: this.o.refreshRatio,
          jitterFraction: this.o.jitterFraction,
        }),
      });
    }

    const conflicts: NamespaceFailure[] = copies.flatMap((c) =>
      c.plan.action === "conflict"
        ? [{ namespace: c.namespace, reason: Reason.SecretConflict, message: c.plan.message }]
        : [],
    );
    const writable = copies.filter((c) => c.plan.action !== "conflict");
    const refreshes = writable.filter((c) => c.plan.action === "refresh");
    const keeps = writable.filter((c) => c.plan.action === "keep");
    const needsNew = refreshes.some((c) => c.plan.action === "refresh" && NEEDS_NEW.has(c.plan.cause));

    let issue: Issue | undefined;
    let targets: CopyPlan[] = [];
    let issued: { cause: RefreshCause; durationSeconds: number; roleArn: string } | undefined;
    if (refreshes.length > 0 && !needsNew && keeps.length > 0) {
      // Missing or drifted copies beside fresh ones: they get the issue the fresh ones hold.
      issue = await this.currentIssue(state, keeps, signal);
      targets = refreshes;
    }
    if (refreshes.length > 0 && issue === undefined) {
      const cause = (refreshes.find((c) => c.plan.action === "refresh" && NEEDS_NEW.has(c.plan.cause))
        ?.plan ?? refreshes[0]!.plan) as { cause: RefreshCause };
      const obtained = await this.obtain(resource, state, registries, tags, specHash, log, signal);
      if ("anomaly" in obtained) {
        // Never steer by an implausible expiry (a skewed clock would refresh again and again): the copies stay
        // as they are, and the next attempt backs off up to the permanent-error delay.
        this.o.observer?.onRefresh?.(spec.secretType, "failure");
        await this.status.report(
          resource,
          state.own,
          log,
          this.failure(Reason.InvalidExpiration, obtained.anomaly),
          signal,
        );
        return temporaryError(new Error(obtained.anomaly), { maxBackoffMs: this.o.permanentErrorRetryMs });
      }
      issue = obtained.issue;
      state.issue = issue;
      issued = { cause: cause.cause, durationSeconds: obtained.durationSeconds, roleArn: obtained.roleArn };
      // Every copy gets the new issue, so all of them share one refresh time again.
      targets = writable;
    }
    if (issue === undefined && keeps.length > 0) issue = this.issueOfKeeps(state, keeps);

    const writeFailures = issue ? await this.writeCopies(resource, issue, targets, log, signal) : [];
    const pendingConflicts = writeFailures.filter((f) => f.reason === Reason.SecretConflict);
    if (issued && issue) {
      const written = targets.length - writeFailures.length;
      this.o.observer?.onRefresh?.(
        spec.secretType,
        written > 0 || targets.length === 0 ? "success" : "failure",
      );
      const created = issued.cause === "missing";
      log.info(
        {
          secretName: spec.secretName,
          cause: issued.cause,
          namespaces: written,
          expirationTime: issue.expirationTime,
        },
        created ? "secret created" : "secret refreshed",
      );
      this.status.event(
        resource,
        "Normal",
        created ? "Created" : "Refreshed",
        `${created ? "Created" : "Refreshed"} Secret ${spec.secretName} in ${written} namespace(s) for ` +
          `${issued.roleArn} (${describeCause(issued.cause)}); credentials expire at ${issue.expirationTime.toISOString()}`,
      );
    }

    if (!issued && targets.length > 0) {
      log.info(
        { secretName: spec.secretName, namespaces: targets.length - writeFailures.length },
        "copies written from the current credentials",
      );
    }
    const failing = [...conflicts, ...denied, ...writeFailures];
    const served = writable.length - writeFailures.length;
    const counts = {
      selected: selected.length,
      ready: served,
      conflicts: conflicts.length + pendingConflicts.length,
      denied: denied.length,
    };
    this.o.observer?.onNamespaces?.(name, counts);
    const nextRefreshTime = issue
      ? scheduledRefresh(uid, issue.lastRefreshTime, issue.expirationTime, {
          refreshRatio: this.o.refreshRatio,
          jitterFraction: this.o.jitterFraction,
        })
      : undefined;
    const effectiveDurationSeconds =
      issued?.durationSeconds ?? (Number(issue?.annotations[SecretAnnotation.durationSeconds]) || undefined);
    const times = issue
      ? {
          roleArn: issue.annotations[SecretAnnotation.roleArn],
          expirationTime: issue.expirationTime,
          lastRefreshTime: issue.lastRefreshTime,
          nextRefreshTime,
          effectiveDurationSeconds,
        }
      : {};
    this.o.observer?.onExpirationTime?.("", name, issue?.expirationTime);
    await this.status.report(
      resource,
      state.own,
      log,
      summarise(
        selected.length,
        served,
        failing,
        counts,
        issue,
        effectiveDurationSeconds,
        spec.durationSeconds,
        times,
      ),
      signal,
    );

    if (writeFailures.some((f) => f.reason !== Reason.SecretConflict)) {
      return temporaryError(
        new Error(`could not write Secret ${spec.secretName} in ${writeFailures.length} namespace(s)`),
      );
    }
    // A create that found the name taken: look again at once, reading that name live.
    if (pendingConflicts.length > 0) return requeueAfter(0);
    const untilRefresh = nextRefreshTime ? nextRefreshTime.getTime() - this.now().getTime() : Infinity;
    const delay = conflicts.length > 0 ? Math.min(this.o.conflictRetryMs, untilRefresh) : untilRefresh;
    return Number.isFinite(delay) ? requeueAfter(delay) : done();
  }

  /** New credentials for the whole fan-out: one AssumeRole (and one ECR token). */
  private async obtain(
    resource: ClusterAWSAssumeRole,
    state: ClusterState,
    registries: EcrLogin[],
    tags: Record<string, string>,
    specHash: string,
    log: Logger,
    signal: AbortSignal | undefined,
  ): Promise<{ issue: Issue; durationSeconds: number; roleArn: string } | { anomaly: string }> {
    const { spec } = resource;
    const identity = await this.source.identity();
    const planned = this.source.request(resource, identity, tags, state.own);
    const request = { ...planned.request, sessionName: clusterRoleSessionName(resource.metadata.name!) };
    if (planned.clamped && !state.own.clampReported) {
      state.own.clampReported = true;
      this.status.event(
        resource,
        "Warning",
        Reason.DurationClamped,
        `The operator's own identity is an assumed role, so STS caps chained sessions at one hour: ` +
          `asking for ${request.durationSeconds} s instead of ${spec.durationSeconds} s`,
      );
    }
    log.debug("obtaining credentials for the fan-out");
    let obtained;
    try {
      obtained = await this.source.obtain(
        request,
        registries,
        state.own,
        (message) =>
          this.status.report(
            resource,
            state.own,
            log,
            this.failure(Reason.DurationRejected, message),
            signal,
          ),
        signal,
      );
    } catch (err) {
      this.o.observer?.onRefresh?.(spec.secretType, "failure");
      throw err;
    }
    const lastRefreshTime = this.now();
    for (const [what, time] of [
      ["credentials", obtained.credentials.expirationTime],
      ...(obtained.ecrToken ? [["ECR token", obtained.ecrToken.expirationTime] as const] : []),
    ] as const) {
      const problem = expirationProblem(time, lastRefreshTime, obtained.durationSeconds);
      if (problem) {
        log.warn({ problem }, "implausible expiry from AWS");
        return {
          anomaly:
            `AWS returned ${what} with an expiry that is ${problem === "invalid" ? "not a valid time" : problem === "past" ? "already past" : "implausibly soon"}. ` +
            `The likely cause is clock skew between this node and AWS (check NTP). The Secrets were left as they were; ` +
            `retrying with growing backoff.`,
        };
      }
    }
    const expirationTime = secretExpirationTime(
      obtained.credentials.expirationTime,
      obtained.ecrToken?.expirationTime,
    );
    return {
      issue: newIssue({
        resource,
        credentials: obtained.credentials,
        ecrTokens: obtained.ecrTokens,
        roleArn: request.roleArn,
        durationSeconds: obtained.durationSeconds,
        lastRefreshTime,
        expirationTime,
        specHash,
      }),
      durationSeconds: obtained.durationSeconds,
      roleArn: request.roleArn,
    };
  }

  /** The issue the freshest kept copy holds: from memory, or read live once (after a restart). */
  private async currentIssue(
    state: ClusterState,
    keeps: CopyPlan[],
    signal: AbortSignal | undefined,
  ): Promise<Issue | undefined> {
    const remembered = this.issueOfKeeps(state, keeps);
    if (remembered && state.issue === remembered) return remembered;
    const freshest = [...keeps].sort((a, b) => keepTime(b) - keepTime(a))[0]!;
    const live = await this.o.secretWriter.get(freshest.namespace, freshest.secret!.metadata!.name!, signal);
    const issue = live ? issueFromCopy(live) : undefined;
    if (issue) state.issue = issue;
    return issue;
  }

  /** The remembered issue, when the kept copies hold it (same refresh time); else a times-only view of theirs. */
  private issueOfKeeps(state: ClusterState, keeps: CopyPlan[]): Issue | undefined {
    const freshest = [...keeps].sort((a, b) => keepTime(b) - keepTime(a))[0];
    if (!freshest || freshest.plan.action !== "keep") return undefined;
    const { lastRefreshTime, expirationTime } = freshest.plan;
    if (state.issue && state.issue.lastRefreshTime.getTime() === lastRefreshTime.getTime())
      return state.issue;
    // Times only (no data): enough for status and scheduling; currentIssue reads the data when a copy needs it.
    const annotations = freshest.secret?.metadata?.annotations ?? {};
    return { type: freshest.secret?.type ?? "", data: {}, annotations, lastRefreshTime, expirationTime };
  }

  /** Writes the issue to each target namespace, a few at a time; returns the namespaces that failed. */
  private async writeCopies(
    resource: ClusterAWSAssumeRole,
    issue: Issue,
    targets: CopyPlan[],
    log: Logger,
    signal: AbortSignal | undefined,
  ): Promise<NamespaceFailure[]> {
    const failures: NamespaceFailure[] = [];
    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const c = targets[next++]!;
        const replace = c.plan.action === "refresh" && c.plan.replace;
        try {
          await this.secrets.write(
            c.state,
            copyBody(issue, resource, c.namespace, c.secret),
            c.secret,
            replace,
            signal,
          );
        } catch (err) {
          if (isConflict(err)) {
            log.debug(
              { namespace: c.namespace, err: apiErrorMessage(err) },
              "copy write conflicted; looking again",
            );
            failures.push({
              namespace: c.namespace,
              reason: Reason.SecretConflict,
              message: `Secret ${resource.spec.secretName} changed or appeared while being written`,
            });
          } else {
            failures.push({
              namespace: c.namespace,
              reason: Reason.KubernetesError,
              message: `could not write Secret ${resource.spec.secretName}: ${apiErrorMessage(err)}`,
            });
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.writeConcurrency ?? 8, targets.length) }, worker));
    return failures;
  }

  /** Deletes our copies in namespaces that are no longer selected (or permitted), and copies of an old secretName. */
  private async deleteStrayCopies(
    resource: ClusterAWSAssumeRole,
    state: ClusterState,
    keep: ReadonlySet<string>,
    log: Logger,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { uid } = resource.metadata;
    for (const secret of this.o.secrets.list()) {
      const meta = secret.metadata!;
      if (!meta.ownerReferences?.some((r) => r.controller && r.uid === uid)) continue;
      if (keep.has(meta.namespace!) && meta.name === resource.spec.secretName) continue;
      const copy = state.copies.peek(meta.namespace!);
      if (copy) this.secrets.forgetWrite(copy);
      await this.o.secretWriter.delete(meta.namespace!, meta.name!, meta.uid!, meta.resourceVersion, signal);
      if (!keep.has(meta.namespace!)) state.copies.drop(meta.namespace!);
      log.info({ namespace: meta.namespace, secretName: meta.name }, "deleted copy no longer selected");
    }
    // Namespaces that left the selection without a copy (a conflict, a failed write) leave no record behind.
    // (ResourceStates has no key listing; records are small and dropped with the resource.)
  }

  private selectedNamespaces(resource: ClusterAWSAssumeRole): string[] {
    return selectedNamespaces(this.o.namespaces, this.watched, resource);
  }

  private checkSpec(resource: ClusterAWSAssumeRole): CheckedSpec | { problem: string } {
    // The operator's namespace tag is empty: the session serves many namespaces.
    return checkSpec(resource.spec, { namespace: "", name: resource.metadata.name! }, this.o.sessionTags);
  }

  private failure(reason: Reason, message: string): FanOutReport {
    return {
      ready: "False",
      reason,
      message,
      times: {},
      selected: 0,
      served: 0,
      conflicts: 0,
      denied: 0,
      failing: [],
    };
  }

  private async awsFailed(
    resource: ClusterAWSAssumeRole,
    state: ClusterState,
    log: Logger,
    err: AwsFailure,
    signal: AbortSignal | undefined,
  ): Promise<ReconcileResult> {
    const counts = resource.status?.namespaces;
    const note = resource.status?.expirationTime
      ? " The existing Secrets are kept until they are refreshed."
      : "";
    await this.status.report(
      resource,
      state.own,
      log,
      {
        ...this.failure(err.reason, `${err.message}.${note}`),
        selected: counts?.selected ?? 0,
        served: counts?.ready ?? 0,
        conflicts: counts?.conflicts ?? 0,
        denied: counts?.denied ?? 0,
        failing: counts?.failing ?? [],
      },
      signal,
    );
    return err.temporary ? temporaryError(err) : terminalError(err, this.o.permanentErrorRetryMs);
  }
}

/** Namespaces the selector matches, among the watched ones (undefined: all), that are not being deleted; sorted. */
export function selectedNamespaces(
  namespaces: Cache<V1Namespace>,
  watched: ReadonlySet<string> | undefined,
  resource: ClusterAWSAssumeRole,
): string[] {
  return namespaces
    .list()
    .filter((n) => {
      const meta = n.metadata ?? {};
      if (meta.deletionTimestamp || !meta.name) return false;
      if (watched && !watched.has(meta.name)) return false;
      return selectorMatches(resource.spec.namespaceSelector ?? {}, meta.labels);
    })
    .map((n) => n.metadata!.name!)
    .sort();
}

function keepTime(c: CopyPlan): number {
  return c.plan.action === "keep" ? c.plan.lastRefreshTime.getTime() : 0;
}

/** The Ready summary: True when every selected namespace holds the current credentials. */
function summarise(
  selected: number,
  served: number,
  failing: NamespaceFailure[],
  counts: { conflicts: number; denied: number },
  issue: Issue | undefined,
  effectiveSeconds: number | undefined,
  requestedSeconds: number | undefined,
  times: FanOutReport["times"],
): FanOutReport {
  const base = { times, selected, served, conflicts: counts.conflicts, denied: counts.denied, failing };
  if (selected === 0) {
    return {
      ...base,
      ready: "True",
      reason: Reason.NoNamespacesSelected,
      message: "No namespace matches namespaceSelector; no credentials are issued",
    };
  }
  if (failing.length === 0 && issue) {
    return {
      ...base,
      ready: "True",
      reason: Reason.CredentialsReady,
      message: `${readyMessage(issue.expirationTime, effectiveSeconds, requestedSeconds)}, in all ${selected} selected namespace(s)`,
    };
  }
  const first = [...failing].sort((a, b) => a.namespace.localeCompare(b.namespace))[0];
  const reason = (first?.reason ?? Reason.KubernetesError) as Reason;
  const parts = [
    counts.conflicts
      ? `${counts.conflicts} with a Secret of that name that is not ours (SecretConflict, left untouched)`
      : "",
    counts.denied ? `${counts.denied} whose annotation does not permit the role (RoleNotPermitted)` : "",
    failing.length - counts.conflicts - counts.denied > 0
      ? `${failing.length - counts.conflicts - counts.denied} where the write failed`
      : "",
  ].filter(Boolean);
  const message =
    `${served} of ${selected} selected namespace(s) hold the Secret; ${parts.join("; ")}. ` +
    `First: ${first?.namespace}: ${first?.message}`;
  return { ...base, ready: "False", reason, message };
}
