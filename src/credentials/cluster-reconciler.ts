// reconcile(name) of a ClusterAWSAssumeRole: the namespaces its selector matches, the copy of its Secret each one
// holds, and one credential set for all of them, through the same credential steps as the namespaced kind (spec
// check, namespace limits, plan, new credentials with the expiry check, status and events). One AssumeRole per
// refresh for the whole fan-out; a copy missing or drifted beside fresh ones gets the current set with no AWS call.
import type { V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type {
  ClusterAWSAssumeRole,
  ClusterAWSAssumeRoleStatus,
  NamespaceFailure,
} from "../api/cluster-schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import { Reason } from "../domain/conditions.ts";
import type { FanOutCounts } from "../domain/fan-out.ts";
import { clusterRoleSessionName } from "../domain/naming.ts";
import { scheduledRefresh } from "../domain/plan.ts";
import { refreshEvent } from "../domain/refresh-event.ts";
import type { RefreshCause } from "../domain/plan.ts";
import { roleArnOf } from "../domain/session.ts";
import { done, requeueAfter, temporaryError, terminalError } from "../runtime/result.ts";
import type { ReconcileResult } from "../runtime/result.ts";
import { FanOut, clusterStateOf, selectedNamespaces } from "./cluster-fan-out.ts";
import type { ClusterState, CopyPlan } from "./cluster-fan-out.ts";
import { newCredentialSet } from "./cluster-copies.ts";
import type { CredentialSet } from "./cluster-copies.ts";
import { clusterStatusReporter, fanOutReport } from "./cluster-status.ts";
import type { ClusterStatusWriter, FanOutReport } from "./cluster-status.ts";
import { permittedNamespaces } from "./permissions.ts";
import type { Cache, CachedSecret, ClusterObserver, CredentialOptions } from "./ports.ts";
import {
  CredentialSource,
  anomalyMessage,
  anomalyResult,
  awsFailureResult,
  withErrorPolicy,
} from "./source.ts";
import { checkSpec, hashSpec, planSecret } from "./spec.ts";
import type { CheckedSpec } from "./spec.ts";
import { readyBefore } from "./status.ts";
import type { StatusReporter, StatusTimes } from "./status.ts";

export interface ClusterReconcilerOptions extends CredentialOptions {
  resources: Cache<ClusterAWSAssumeRole>;
  namespaceCache: Cache<V1Namespace>;
  statusWriter: ClusterStatusWriter;
  /** Watched namespaces (--namespaces); empty = all. Copies go only to selected namespaces among these. */
  watchedNamespaces: readonly string[];
  /** --namespace-permissions: a namespace whose annotation does not permit the role gets no copy. */
  namespacePermissions: boolean;
  observer?: ClusterObserver;
  /** Copies written in parallel within one reconcile. */
  writeConcurrency?: number;
}

/** Refresh causes that need new credentials; the others (missing, drift) can reuse the current set. */
const NEEDS_NEW: ReadonlySet<RefreshCause> = new Set(["spec-changed", "forced", "expired", "due"]);

/** One reconcile's inputs, passed between its steps. */
interface Context {
  resource: ClusterAWSAssumeRole;
  state: ClusterState;
  log: Logger;
  signal: AbortSignal | undefined;
}

export class ClusterReconciler {
  private readonly options: ClusterReconcilerOptions;
  private readonly now: () => Date;
  private readonly states = new Map<string, ClusterState>();
  private readonly fanOut: FanOut;
  private readonly status: StatusReporter<ClusterAWSAssumeRole, ClusterAWSAssumeRoleStatus, FanOutReport>;
  private readonly source: CredentialSource;
  private readonly watched: ReadonlySet<string> | undefined;

  constructor(options: ClusterReconcilerOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.fanOut = new FanOut({
      secrets: options.secrets,
      secretWriter: options.secretWriter,
      writeConcurrency: options.writeConcurrency ?? 8,
    });
    this.status = clusterStatusReporter(options.statusWriter, options.events, this.now);
    this.source = new CredentialSource(options.aws, this.now);
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
    return this.fanOut.isOwnWrite(this.states.get(name), secret);
  }

  /** The copy in `namespace` may exist outside the cache: read it live at the next reconcile. */
  expectOutsideCache(name: string, namespace: string): void {
    const state = this.states.get(name);
    if (state) state.copies.hint(namespace).readSecretLive = true;
  }

  async reconcile(name: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const resource = this.options.resources.get("", name);
    if (!resource || resource.metadata.deletionTimestamp) {
      // The garbage collector deletes every copy through its ownerReference.
      this.forget(name);
      this.options.observer?.onExpirationTime?.("", name, undefined);
      this.options.observer?.onNamespaces?.(name, undefined);
      return done();
    }
    const ctx: Context = {
      resource,
      state: clusterStateOf(this.states, resource),
      log: this.options.logger.child({ kind: resource.kind, name }),
      signal,
    };
    return withErrorPolicy(
      () => this.reconcileResource(ctx),
      (err) => this.awsFailed(ctx, err),
    );
  }

  private async reconcileResource(ctx: Context): Promise<ReconcileResult> {
    const { resource, state, log, signal } = ctx;
    const { spec } = resource;
    const { name, uid } = resource.metadata as { name: string; uid: string };

    // The operator's namespace tag is empty: the session serves many namespaces.
    const checked = checkSpec(spec, { namespace: "", name }, this.options.sessionTags);
    if ("problem" in checked) {
      await this.fail(ctx, Reason.InvalidSpec, checked.problem);
      return terminalError(new Error(checked.problem));
    }
    const specHash = hashSpec(resource, checked.tags);

    const selected = selectedNamespaces(this.options.namespaceCache, this.watched, resource);
    const { permitted, denied } =
      this.options.namespacePermissions && selected.length > 0
        ? permittedNamespaces(this.options.namespaceCache, {
            selected,
            roleArn: roleArnOf(spec, await this.source.identity()),
            identity: await this.source.identity(),
          })
        : { permitted: selected, denied: [] };
    await this.fanOut.deleteStrayCopies({ resource, state, keep: new Set(permitted), log, signal });

    const copies: CopyPlan[] = [];
    for (const namespace of permitted) {
      const copyState = state.copies.of(namespace, uid, resource.metadata.generation);
      const secret = await this.fanOut.current(copyState, namespace, spec.secretName, signal);
      copies.push({
        namespace,
        state: copyState,
        secret,
        plan: planSecret({
          resource,
          specHash,
          secret,
          now: this.now(),
          refreshRatio: this.options.refreshRatio,
          jitterFraction: this.options.jitterFraction,
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
    const causes = refreshes.map((c) => (c.plan.action === "refresh" ? c.plan.cause : "missing"));
    const needsNew = causes.some((c) => NEEDS_NEW.has(c));

    let credentialSet: CredentialSet | undefined;
    let targets: CopyPlan[] = [];
    let issued: { cause: RefreshCause; durationSeconds: number; roleArn: string } | undefined;
    if (refreshes.length > 0 && !needsNew && keeps.length > 0) {
      // Missing or drifted copies beside fresh ones: they get the set the fresh ones hold.
      credentialSet = await this.fanOut.currentSet(state, keeps, signal);
      targets = refreshes;
    }
    if (refreshes.length > 0 && credentialSet === undefined) {
      const cause = causes.find((c) => NEEDS_NEW.has(c)) ?? causes[0]!;
      const fresh = await this.newCredentials(ctx, checked, specHash);
      if ("anomaly" in fresh) {
        // Never steer by an implausible expiry (a skewed clock would refresh again and again): the copies stay
        // as they are, and the next attempt backs off up to the permanent-error delay.
        this.options.observer?.onRefresh?.(spec.secretType, "failure");
        await this.fail(ctx, Reason.InvalidExpiration, fresh.anomaly, { roleArn: fresh.roleArn });
        return anomalyResult(fresh.anomaly, this.options.permanentErrorRetryMs);
      }
      credentialSet = fresh.credentialSet;
      state.credentialSet = credentialSet;
      issued = { cause, durationSeconds: fresh.durationSeconds, roleArn: fresh.roleArn };
      // Every copy gets the new set, so all of them share one refresh time again.
      targets = writable;
    }
    if (credentialSet === undefined && keeps.length > 0) credentialSet = this.fanOut.setOfKeeps(state, keeps);

    const writeFailures = credentialSet
      ? await this.fanOut.writeCopies({ resource, credentialSet, targets, log, signal })
      : [];
    const pendingConflicts = writeFailures.filter((f) => f.reason === Reason.SecretConflict);
    const written = targets.length - writeFailures.length;
    if (issued && credentialSet) {
      this.options.observer?.onRefresh?.(
        spec.secretType,
        written > 0 || targets.length === 0 ? "success" : "failure",
      );
      const created = issued.cause === "missing";
      log.info(
        {
          secretName: spec.secretName,
          cause: issued.cause,
          namespaces: written,
          expirationTime: credentialSet.expirationTime,
        },
        created ? "secret created" : "secret refreshed",
      );
    } else if (targets.length > 0) {
      log.info(
        { secretName: spec.secretName, namespaces: written },
        "copies written from the current credentials",
      );
    }

    const counts: FanOutCounts = {
      selected: selected.length,
      served: writable.length - writeFailures.length,
      conflicts: conflicts.length + pendingConflicts.length,
      denied: denied.length,
    };
    this.options.observer?.onNamespaces?.(name, { ...counts, ready: counts.served });
    const nextRefreshTime = credentialSet
      ? scheduledRefresh(uid, credentialSet.lastRefreshTime, credentialSet.expirationTime, {
          refreshRatio: this.options.refreshRatio,
          jitterFraction: this.options.jitterFraction,
        })
      : undefined;
    const effectiveDurationSeconds = issued?.durationSeconds ?? credentialSet?.durationSeconds;
    this.options.observer?.onExpirationTime?.("", name, credentialSet?.expirationTime);
    const report = fanOutReport({
      counts,
      failing: [...conflicts, ...denied, ...writeFailures],
      credentialSet,
      nextRefreshTime,
      effectiveDurationSeconds,
      requestedDurationSeconds: spec.durationSeconds,
    });
    if (issued && credentialSet) {
      // After the report is known (a recovery is Ready again); before it is written (the state still holds the past).
      // No times in the message (status has them): repeats of the same event aggregate into one with a count.
      const event = refreshEvent({
        causes: [issued.cause, ...causes],
        readyBefore: readyBefore(state.own, resource.status?.conditions),
        readyAfter: report.ready === "True",
        routineEvents: this.options.refreshEvents ?? false,
        subject: `Secret ${spec.secretName} in ${written} namespace(s) for ${issued.roleArn}`,
      });
      if (event) this.status.event(resource, "Normal", event.reason, event.message);
    }
    await this.status.report(resource, state.own, log, report, signal);

    if (writeFailures.some((f) => f.reason !== Reason.SecretConflict)) {
      return temporaryError(
        new Error(`could not write Secret ${spec.secretName} in ${writeFailures.length} namespace(s)`),
      );
    }
    // A create that found the name taken: look again at once, reading that name live.
    if (pendingConflicts.length > 0) return requeueAfter(0);
    const untilRefresh = nextRefreshTime ? nextRefreshTime.getTime() - this.now().getTime() : Infinity;
    const delay = conflicts.length > 0 ? Math.min(this.options.conflictRetryMs, untilRefresh) : untilRefresh;
    return Number.isFinite(delay) ? requeueAfter(delay) : done();
  }

  /** New credentials for the whole fan-out: one AssumeRole (and one ECR token per region), checked. */
  private async newCredentials(
    ctx: Context,
    checked: CheckedSpec,
    specHash: string,
  ): Promise<
    | { credentialSet: CredentialSet; durationSeconds: number; roleArn: string }
    | { anomaly: string; roleArn: string }
  > {
    const { resource, state, log } = ctx;
    log.debug("obtaining credentials for the fan-out");
    let fresh;
    try {
      fresh = await this.source.newCredentials({
        spec: resource.spec,
        sessionName: clusterRoleSessionName(resource.metadata.name!),
        tags: checked.tags,
        registries: checked.registries,
        state: state.own,
        onClamped: (message) => this.status.event(resource, "Warning", Reason.DurationClamped, message),
        onDurationRejected: (message) => this.fail(ctx, Reason.DurationRejected, message),
        signal: ctx.signal,
      });
    } catch (err) {
      this.options.observer?.onRefresh?.(resource.spec.secretType, "failure");
      throw err;
    }
    if (fresh.anomaly) {
      log.warn({ expirationTime: fresh.anomaly.expirationTime }, "implausible expiry from AWS");
      return {
        anomaly: anomalyMessage(fresh.anomaly, "The Secrets were left as they were"),
        roleArn: fresh.roleArn,
      };
    }
    return {
      credentialSet: newCredentialSet({ ...fresh, resource, specHash }),
      durationSeconds: fresh.durationSeconds,
      roleArn: fresh.roleArn,
    };
  }

  private fail(ctx: Context, reason: Reason, message: string, times: StatusTimes = {}): Promise<void> {
    const counts = ctx.resource.status?.namespaces;
    const report: FanOutReport = {
      ready: "False",
      reason,
      message,
      times,
      selected: counts?.selected ?? 0,
      served: counts?.ready ?? 0,
      conflicts: counts?.conflicts ?? 0,
      denied: counts?.denied ?? 0,
      failing: counts?.failing ?? [],
    };
    return this.status.report(ctx.resource, ctx.state.own, ctx.log, report, ctx.signal);
  }

  private async awsFailed(ctx: Context, err: AwsFailure): Promise<ReconcileResult> {
    const note = ctx.resource.status?.expirationTime
      ? " The existing Secrets are kept until they are refreshed."
      : "";
    await this.fail(ctx, err.reason, `${err.message}.${note}`);
    return awsFailureResult(err, this.options.permanentErrorRetryMs);
  }
}
