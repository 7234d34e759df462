// reconcile(namespace/name): read the resource and its Secret from the caches, ask the domain what should be,
// apply the difference (new credentials + Secret write), keep status honest, and say when to look again.
// Level-triggered and idempotent: it never assumes it saw every event. Orchestration only: where credentials come
// from (credential-source.ts), how Secrets are read and written (secret-view.ts, secret-body.ts), and how status and
// events are reported (status.ts) live beside it; per-resource memory lives in resource-state.ts.
import type { V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { AWSAssumeRole, AWSAssumeRoleSpec } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import { Reason } from "../domain/conditions.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import { ecrLoginsOf } from "../domain/ecr-logins.ts";
import type { EcrLogin } from "../domain/ecr-logins.ts";
import {
  PERMITTED_ROLES_ANNOTATION,
  isRolePermitted,
  permittedPatterns,
} from "../domain/namespace-permissions.ts";
import { FORCE_REFRESH_ANNOTATION, SecretAnnotation, plan, scheduledRefresh } from "../domain/plan.ts";
import type { ObservedSecret, RefreshCause } from "../domain/plan.ts";
import { secretExpirationTime } from "../domain/schedule.ts";
import { InvalidSessionError, roleArnOf, sessionPolicy, sessionTags } from "../domain/session.ts";
import type { SessionTagOptions } from "../domain/session.ts";
import { apiErrorMessage, isConflict } from "../kube/errors.ts";
import { contentHash } from "./content-hash.ts";
import { CredentialSource, expirationAnomaly } from "./credential-source.ts";
import type {
  AwsAccess,
  Cache,
  CachedSecret,
  EventSink,
  ReconcileObserver,
  SecretCache,
  SecretWriter,
  StatusWriter,
} from "./ports.ts";
import { ResourceStates } from "./resource-state.ts";
import type { ResourceState } from "./resource-state.ts";
import { done, requeueAfter, temporaryError, terminalError } from "./result.ts";
import type { ReconcileResult } from "./result.ts";
import { secretBody } from "./secret-body.ts";
import { SecretView } from "./secret-view.ts";
import { StatusReporter, readyMessage } from "./status.ts";
import type { StatusTimes } from "./status.ts";

export interface ReconcilerOptions {
  resources: Cache<AWSAssumeRole>;
  secrets: SecretCache;
  secretWriter: SecretWriter;
  statusWriter: StatusWriter;
  events: EventSink;
  aws: AwsAccess;
  logger: Logger;
  refreshRatio: number;
  jitterFraction: number;
  /** How often a resource whose Secret name is taken looks again (the name is not in our label-filtered cache). */
  conflictRetryMs: number;
  /** Retry delay after an error that needs someone to fix something (AccessDenied, invalid request). */
  permanentErrorRetryMs: number;
  now?: () => Date;
  observer?: ReconcileObserver;
  /** Session tags naming the resource (--session-tags, --cluster-name). */
  sessionTags?: SessionTagOptions;
  /**
   * Namespace limits (--namespace-permissions). Decided by this setting alone: the Namespace cache below may exist
   * for another feature (--cluster-assume-roles), and its presence must never switch the limits on.
   */
  namespacePermissions: boolean;
  /** Where the permitted-roles annotation is read; required with namespacePermissions. */
  namespaceCache?: Cache<V1Namespace>;
}

/** One reconcile's inputs, passed between its steps. */
interface Context {
  resource: AWSAssumeRole;
  state: ResourceState;
  log: Logger;
  signal: AbortSignal | undefined;
}

export class Reconciler {
  private readonly o: ReconcilerOptions;
  private readonly now: () => Date;
  private readonly states = new ResourceStates();
  private readonly secrets: SecretView;
  private readonly status: StatusReporter;
  private readonly source: CredentialSource;

  constructor(options: ReconcilerOptions) {
    this.o = options;
    if (options.namespacePermissions && !options.namespaceCache) {
      throw new Error(
        "namespacePermissions needs the Namespace cache to read the permitted-roles annotation from",
      );
    }
    this.now = options.now ?? (() => new Date());
    this.secrets = new SecretView(options.secrets, options.secretWriter);
    this.status = new StatusReporter(options.statusWriter, options.events, this.now);
    this.source = new CredentialSource(options.aws);
  }

  /** Forgets the resource's in-memory state (it was deleted). */
  forget(key: string): void {
    this.states.drop(key);
  }

  /** Resources with in-memory state. */
  trackedResources(): number {
    return this.states.size;
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const resource = this.o.resources.get(namespace, name);
    if (!resource || resource.metadata.deletionTimestamp) {
      // The garbage collector deletes the owned Secret through its ownerReference.
      this.forget(key);
      this.o.observer?.onExpirationTime?.(namespace, name, undefined);
      return done();
    }
    const ctx: Context = {
      resource,
      state: this.states.of(key, resource.metadata.uid!, resource.metadata.generation),
      log: this.o.logger.child({ namespace, name }),
      signal,
    };
    try {
      return await this.reconcileResource(ctx);
    } catch (err) {
      // Kubernetes errors (status, deletes) and anything unexpected: retry with backoff.
      const error = err instanceof Error ? err : new Error(String(err));
      return temporaryError(new Error(apiErrorMessage(error)));
    }
  }

  private async reconcileResource(ctx: Context): Promise<ReconcileResult> {
    const { resource, state, log } = ctx;
    const { spec } = resource;
    const { namespace, name } = resource.metadata as { namespace: string; name: string };

    // Checks that need no AWS call: a spec that cannot work waits for a fix.
    const checked = this.checkSpec(resource);
    if ("problem" in checked) {
      await this.status.fail(resource, state, log, Reason.InvalidSpec, checked.problem, {}, ctx.signal);
      return terminalError(new Error(checked.problem)); // waits for a spec change
    }
    const { registries, tags } = checked;
    const specHash = hashSpec(resource, tags);

    if (this.o.namespacePermissions) {
      let identity: CallerIdentity;
      try {
        identity = await this.source.identity();
      } catch (err) {
        return this.awsFailed(ctx, err);
      }
      const roleArn = roleArnOf(spec, identity);
      if (!this.permitted(namespace, roleArn, identity)) {
        this.secrets.forgetWrite(state);
        await this.secrets.deleteOwned(resource, log, undefined, ctx.signal);
        this.o.observer?.onExpirationTime?.(namespace, name, undefined);
        const message =
          `Namespace ${namespace} may not assume ${roleArn}: its annotation ${PERMITTED_ROLES_ANNOTATION} ` +
          `does not permit it. No credentials are obtained and any Secret of this resource was deleted.`;
        await this.status.fail(
          resource,
          state,
          log,
          Reason.RoleNotPermitted,
          message,
          { roleArn },
          ctx.signal,
        );
        // A change of the namespace's annotation requeues the resource.
        return terminalError(new Error(message));
      }
    }

    const secret = await this.secrets.current(state, namespace, spec.secretName, ctx.signal);
    const decision = plan({
      ownerUid: resource.metadata.uid!,
      secretName: spec.secretName,
      secretType: spec.secretType,
      specHash,
      forceRefresh: resource.metadata.annotations?.[FORCE_REFRESH_ANNOTATION],
      secret: secret ? observe(secret) : undefined,
      now: this.now(),
      refreshRatio: this.o.refreshRatio,
      jitterFraction: this.o.jitterFraction,
    });

    switch (decision.action) {
      case "conflict":
        await this.status.fail(resource, state, log, Reason.SecretConflict, decision.message, {}, ctx.signal);
        return requeueAfter(this.o.conflictRetryMs);
      case "keep": {
        // The credentials in the Secret came with an implausible expiry: keep backing off until AWS answers well.
        if (state.expirationAnomaly) return this.expirationAnomaly(ctx, state.expirationAnomaly, {});
        await this.secrets.deleteOwned(resource, log, spec.secretName, ctx.signal);
        const annotations = secret?.metadata?.annotations ?? {};
        const roleArn = annotations[SecretAnnotation.roleArn];
        const effectiveDurationSeconds =
          Number(annotations[SecretAnnotation.durationSeconds]) || (spec.durationSeconds ?? 900);
        // The same message as right after a refresh, so a shortened duration stays explained (and status stays).
        await this.status.ready(
          resource,
          state,
          log,
          readyMessage(decision.expirationTime, effectiveDurationSeconds, spec.durationSeconds),
          {
            ...(roleArn ? { roleArn } : {}),
            expirationTime: decision.expirationTime,
            lastRefreshTime: decision.lastRefreshTime,
            nextRefreshTime: decision.nextRefreshTime,
            effectiveDurationSeconds,
          },
          ctx.signal,
        );
        this.o.observer?.onExpirationTime?.(namespace, name, decision.expirationTime);
        return requeueAfter(decision.nextRefreshTime.getTime() - this.now().getTime());
      }
      case "refresh":
        return this.refresh(ctx, {
          specHash,
          registries,
          tags,
          secret,
          cause: decision.cause,
          replace: decision.replace,
        });
    }
  }

  /** Gets new credentials and writes them to the Secret. */
  private async refresh(
    ctx: Context,
    p: {
      specHash: string;
      registries: EcrLogin[];
      tags: Record<string, string>;
      secret: CachedSecret | undefined;
      cause: RefreshCause;
      replace: boolean;
    },
  ): Promise<ReconcileResult> {
    const { resource, state, log, signal } = ctx;
    const { spec } = resource;
    const { namespace, name } = resource.metadata as { namespace: string; name: string };
    log.debug({ cause: p.cause }, "refreshing credentials");

    let identity: CallerIdentity;
    try {
      identity = await this.source.identity();
    } catch (err) {
      return this.awsFailed(ctx, err);
    }
    const { request, clamped } = this.source.request(resource, identity, p.tags, state);
    const roleArn = request.roleArn;
    if (clamped && !state.clampReported) {
      state.clampReported = true;
      this.status.event(
        resource,
        "Warning",
        Reason.DurationClamped,
        `The operator's own identity is an assumed role, so STS caps chained sessions at one hour: ` +
          `asking for ${request.durationSeconds} s instead of ${spec.durationSeconds} s`,
      );
    }
    let obtained;
    try {
      obtained = await this.source.obtain(
        request,
        p.registries,
        state,
        // The role's MaxSessionDuration is below the request: say so before trying the next shorter duration.
        (message) =>
          this.status.fail(resource, state, log, Reason.DurationRejected, message, { roleArn }, signal),
        signal,
      );
    } catch (err) {
      this.o.observer?.onRefresh?.(spec.secretType, "failure");
      return this.awsFailed(ctx, err, { roleArn });
    }
    const { durationSeconds } = obtained;
    const lastRefreshTime = this.now();
    const expirationTime = secretExpirationTime(
      obtained.credentials.expirationTime,
      obtained.ecrToken?.expirationTime,
    );
    const anomaly = expirationAnomaly(obtained, lastRefreshTime);
    const reportAnomaly = (message: string): Promise<ReconcileResult> => {
      this.o.observer?.onRefresh?.(spec.secretType, "failure");
      log.warn({ expirationTime: anomaly?.expirationTime, durationSeconds }, message);
      state.expirationAnomaly = message;
      return this.expirationAnomaly(ctx, message, { roleArn });
    };
    // Without a valid time there is nothing to schedule or to write in the Secret's annotations.
    if (anomaly?.problem === "invalid") return reportAnomaly(anomaly.message);
    const body = secretBody({
      resource,
      credentials: obtained.credentials,
      ecrTokens: obtained.ecrTokens,
      roleArn,
      durationSeconds,
      lastRefreshTime,
      expirationTime,
      specHash: p.specHash,
      existing: p.secret,
    });

    try {
      await this.secrets.write(state, body, p.secret, p.replace, signal);
    } catch (err) {
      this.o.observer?.onRefresh?.(spec.secretType, "failure");
      if (isConflict(err)) {
        // Someone wrote or created it meanwhile: look again at once with fresh state.
        log.debug({ err: apiErrorMessage(err) }, "secret write conflicted; retrying");
        return temporaryError(new Error(`Secret ${spec.secretName} changed while being written`), {
          retryAfterMs: 0,
        });
      }
      const message = `could not write Secret ${spec.secretName}: ${apiErrorMessage(err)}`;
      await this.status.fail(resource, state, log, Reason.KubernetesError, message, { roleArn }, signal);
      return temporaryError(new Error(message));
    }

    this.o.observer?.onExpirationTime?.(namespace, name, expirationTime);
    // The credentials may still work (a skewed clock): they are in the Secret, and the problem is reported.
    if (anomaly) return reportAnomaly(anomaly.message);
    state.expirationAnomaly = undefined;
    this.o.observer?.onRefresh?.(spec.secretType, "success");
    const nextRefreshTime = scheduledRefresh(resource.metadata.uid!, lastRefreshTime, expirationTime, {
      refreshRatio: this.o.refreshRatio,
      jitterFraction: this.o.jitterFraction,
    });
    const created = p.cause === "missing";
    log.info(
      { secretName: spec.secretName, cause: p.cause, expirationTime, nextRefreshTime },
      created ? "secret created" : "secret refreshed",
    );
    // No times in the message (status has them): repeats of the same event aggregate into one with a count.
    this.status.event(
      resource,
      "Normal",
      created ? "Created" : "Refreshed",
      `${created ? "Created" : "Refreshed"} Secret ${spec.secretName} for ${roleArn} (${describeCause(p.cause)})`,
    );
    await this.secrets.deleteOwned(resource, log, spec.secretName, signal);
    await this.status.ready(
      resource,
      state,
      log,
      readyMessage(expirationTime, durationSeconds, spec.durationSeconds),
      {
        roleArn,
        expirationTime,
        lastRefreshTime,
        nextRefreshTime,
        effectiveDurationSeconds: durationSeconds,
      },
      signal,
    );
    return requeueAfter(nextRefreshTime.getTime() - this.now().getTime());
  }

  /**
   * Reports an implausible expiry (InvalidExpiration, one Warning per distinct message) and backs off: each attempt
   * writes the Secret at most once, and the queue's backoff grows up to the permanent-error delay.
   */
  private async expirationAnomaly(
    ctx: Context,
    message: string,
    extra: StatusTimes,
  ): Promise<ReconcileResult> {
    await this.status.fail(
      ctx.resource,
      ctx.state,
      ctx.log,
      Reason.InvalidExpiration,
      message,
      extra,
      ctx.signal,
    );
    return temporaryError(new Error(message), { maxBackoffMs: this.o.permanentErrorRetryMs });
  }

  /** Whether this resource's status is exactly what our last status write said (the watch echoing it back). */
  isOwnStatus(key: string, resource: AWSAssumeRole): boolean {
    return this.status.isOwnStatus(this.states.peek(key), resource);
  }

  /** Whether this Secret is the object our latest write produced (the watch echoing it back; the cache has it now). */
  isOwnSecretWrite(key: string, secret: CachedSecret): boolean {
    return this.secrets.isOwnWrite(this.states.peek(key), secret);
  }

  /** The resource's Secret may exist outside the cache: read it live at the next reconcile. */
  expectOutsideCache(key: string): void {
    // Only for a resource that exists: the Secret of a deleted resource leaves the cache after it (no new record).
    const [namespace, name] = splitKey(key);
    if (!this.o.resources.get(namespace, name)) return;
    const state = this.states.hint(key);
    state.readSecretLive = true;
    // Our last write left the cache with the Secret: it must not stand in for it any more.
    this.secrets.forgetWrite(state);
  }

  /** The ECR registry and session tags the spec asks for, or why the spec cannot work as written. */
  private checkSpec(resource: AWSAssumeRole): CheckedSpec | { problem: string } {
    const { namespace, name } = resource.metadata as { namespace: string; name: string };
    return checkSpec(resource.spec, { namespace, name }, this.o.sessionTags);
  }

  /** Namespace limits: may this namespace assume this role? */
  private permitted(namespace: string, roleArn: string, identity: CallerIdentity): boolean {
    return namespacePermits(this.o.namespaceCache, namespace, roleArn, identity);
  }

  /** Reports an AWS failure; temporary ones retry with backoff, the others after the permanent-error delay. */
  private async awsFailed(ctx: Context, err: unknown, extra: StatusTimes = {}): Promise<ReconcileResult> {
    if (!(err instanceof AwsFailure)) throw err;
    const { resource, state, log, signal } = ctx;
    const secretNote = resource.status?.expirationTime
      ? ` The existing Secret is kept until it is refreshed.`
      : "";
    await this.status.fail(resource, state, log, err.reason, `${err.message}.${secretNote}`, extra, signal);
    if (!err.temporary) return terminalError(err, this.o.permanentErrorRetryMs);
    // A call that got no answer held a worker until its deadline: back off further (up to the permanent-error
    // delay), so resources whose AWS endpoint hangs cannot take every worker from the others.
    return err.timedOut
      ? temporaryError(err, { maxBackoffMs: this.o.permanentErrorRetryMs })
      : temporaryError(err);
  }
}

export interface CheckedSpec {
  registries: EcrLogin[];
  tags: Record<string, string>;
}

/** The ECR registry and session tags a spec asks for, or why it cannot work as written (no AWS call needed). */
export function checkSpec(
  spec: AWSAssumeRoleSpec,
  resource: { namespace: string; name: string },
  tagOptions: SessionTagOptions | undefined,
): CheckedSpec | { problem: string } {
  let registries: EcrLogin[] = [];
  if (spec.secretType === "EcrDockerConfigJson") {
    try {
      registries = ecrLoginsOf(spec);
      if (registries.length === 0)
        return { problem: "EcrDockerConfigJson needs ecrRepositoryUrl or ecrRepositoryUrls" };
    } catch (err) {
      return { problem: (err as Error).message };
    }
  }
  try {
    sessionPolicy(spec);
    return { registries, tags: sessionTags(spec, resource, tagOptions ?? { enabled: false }) };
  } catch (err) {
    if (!(err instanceof InvalidSessionError)) throw err;
    return { problem: err.message };
  }
}

/** Namespace limits: does the namespace's permitted-roles annotation allow this role? */
export function namespacePermits(
  namespaces: Cache<V1Namespace> | undefined,
  namespace: string,
  roleArn: string,
  identity: CallerIdentity,
): boolean {
  const annotation = namespaces?.get("", namespace)?.metadata?.annotations?.[PERMITTED_ROLES_ANNOTATION];
  return isRolePermitted(roleArn, permittedPatterns(annotation, identity));
}

/**
 * Everything that shapes the Secret or the session; a change refreshes at once. Built from the spec as written, so
 * keeping a valid Secret needs no AWS call (not even GetCallerIdentity).
 */
export function hashSpec(resource: Pick<AWSAssumeRole, "spec">, tags: Record<string, string>): string {
  const { spec } = resource;
  return contentHash({
    roleName: spec.roleName ?? null,
    roleArn: spec.roleArn ?? null,
    externalId: spec.externalId ?? null,
    sessionPolicy: spec.sessionPolicy ?? null,
    policyArns: spec.policyArns ?? null,
    tags,
    transitiveTagKeys: spec.transitiveTagKeys ?? null,
    region: spec.region ?? null,
    durationSeconds: spec.durationSeconds ?? 900,
    secretType: spec.secretType,
    ecrRepositoryUrl: spec.ecrRepositoryUrl ?? null,
    // Only when set, so the hash of every existing resource (and so its Secret) stays the same.
    ...(spec.ecrRepositoryUrls ? { ecrRepositoryUrls: spec.ecrRepositoryUrls } : {}),
    secretTemplate: spec.secretTemplate ?? null,
    profile: spec.profile ?? null,
  });
}

export function describeCause(cause: RefreshCause): string {
  switch (cause) {
    case "missing":
      return "the Secret did not exist";
    case "spec-changed":
      return "the spec changed";
    case "forced":
      return "a refresh was forced";
    case "drift":
      return "the Secret had been changed by someone else";
    case "expired":
      return "the credentials had expired";
    case "due":
      return "the refresh time was reached";
  }
}

export function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

export function observe(secret: CachedSecret): ObservedSecret {
  const meta = secret.metadata;
  return {
    type: secret.type,
    labels: meta.labels,
    annotations: meta.annotations,
    ownerReferences: meta.ownerReferences,
    dataHash: secret.dataHash,
  };
}
