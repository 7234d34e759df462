// reconcile(namespace/name) of an AWSAssumeRole: its one Secret, through the shared credential steps (spec check,
// namespace limits, plan, new credentials with the expiry check, status and events). Level-triggered and idempotent:
// it reads the resource and its Secret from the caches, applies the difference and says when to look again.
import type { V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { AWSAssumeRole, AWSAssumeRoleStatus } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import { Reason } from "../domain/conditions.ts";
import { SecretAnnotation, scheduledRefresh } from "../domain/plan.ts";
import { refreshEvent } from "../domain/refresh-event.ts";
import type { RefreshCause } from "../domain/plan.ts";
import { roleSessionName } from "../domain/naming.ts";
import { roleArnOf } from "../domain/session.ts";
import { apiErrorMessage, isConflict } from "../runtime/api-errors.ts";
import { done, requeueAfter, temporaryError, terminalError } from "../runtime/result.ts";
import type { ReconcileResult } from "../runtime/result.ts";
import { namespacedStatusReporter } from "./namespaced-status.ts";
import { namespacePermits, notPermittedMessage } from "./permissions.ts";
import type { Cache, CachedSecret, ReconcileObserver, StatusWriter, CredentialOptions } from "./ports.ts";
import { ResourceStates } from "./resource-state.ts";
import type { ResourceState } from "./resource-state.ts";
import { secretBody } from "./secret-body.ts";
import { SecretView } from "./secret-view.ts";
import {
  CredentialSource,
  anomalyMessage,
  anomalyResult,
  awsFailureResult,
  withErrorPolicy,
} from "./source.ts";
import { checkSpec, hashSpec, planSecret } from "./spec.ts";
import type { CheckedSpec } from "./spec.ts";
import { readyBefore, readyMessage } from "./status.ts";
import type { StatusReporter, StatusTimes } from "./status.ts";

export interface ReconcilerOptions extends CredentialOptions {
  resources: Cache<AWSAssumeRole>;
  statusWriter: StatusWriter;
  observer?: ReconcileObserver;
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
  private readonly options: ReconcilerOptions;
  private readonly now: () => Date;
  private readonly states = new ResourceStates();
  private readonly secrets: SecretView;
  private readonly status: StatusReporter<AWSAssumeRole, AWSAssumeRoleStatus>;
  private readonly source: CredentialSource;

  constructor(options: ReconcilerOptions) {
    if (options.namespacePermissions && !options.namespaceCache) {
      throw new Error(
        "namespacePermissions needs the Namespace cache to read the permitted-roles annotation from",
      );
    }
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.secrets = new SecretView(options.secrets, options.secretWriter);
    this.status = namespacedStatusReporter(options.statusWriter, options.events, this.now);
    this.source = new CredentialSource(options.aws, this.now);
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
    const resource = this.options.resources.get(namespace, name);
    if (!resource || resource.metadata.deletionTimestamp) {
      // The garbage collector deletes the owned Secret through its ownerReference.
      this.forget(key);
      this.options.observer?.onExpirationTime?.(namespace, name, undefined);
      return done();
    }
    const ctx: Context = {
      resource,
      state: this.states.of(key, resource.metadata.uid!, resource.metadata.generation),
      log: this.options.logger.child({ namespace, name }),
      signal,
    };
    return withErrorPolicy(
      () => this.reconcileResource(ctx),
      (err) => this.awsFailed(ctx, err),
    );
  }

  private async reconcileResource(ctx: Context): Promise<ReconcileResult> {
    const { resource, state, log } = ctx;
    const { spec } = resource;
    const { namespace, name } = resource.metadata as { namespace: string; name: string };

    // Checks that need no AWS call: a spec that cannot work waits for a fix.
    const checked = checkSpec(spec, { namespace, name }, this.options.sessionTags);
    if ("problem" in checked) {
      await this.fail(ctx, Reason.InvalidSpec, checked.problem);
      return terminalError(new Error(checked.problem)); // waits for a spec change
    }
    const specHash = hashSpec(resource, checked.tags);

    if (this.options.namespacePermissions) {
      const identity = await this.source.identity();
      const roleArn = roleArnOf(spec, identity);
      if (!namespacePermits(this.options.namespaceCache, { namespace, roleArn, identity })) {
        this.secrets.forgetWrite(state);
        await this.secrets.deleteOwned(resource, log, undefined, ctx.signal);
        this.options.observer?.onExpirationTime?.(namespace, name, undefined);
        const message = `${notPermittedMessage(namespace, roleArn)}. No credentials are obtained and any Secret of this resource was deleted.`;
        await this.fail(ctx, Reason.RoleNotPermitted, message, { roleArn });
        // A change of the namespace's annotation requeues the resource.
        return terminalError(new Error(message));
      }
    }

    const secret = await this.secrets.current(state, namespace, spec.secretName, ctx.signal);
    const decision = planSecret({
      resource,
      specHash,
      secret,
      now: this.now(),
      refreshRatio: this.options.refreshRatio,
      jitterFraction: this.options.jitterFraction,
    });

    switch (decision.action) {
      case "conflict":
        await this.fail(ctx, Reason.SecretConflict, decision.message);
        return requeueAfter(this.options.conflictRetryMs);
      case "keep": {
        // The credentials in the Secret came with an implausible expiry: keep backing off until AWS answers well.
        if (state.expirationAnomaly) {
          await this.fail(ctx, Reason.InvalidExpiration, state.expirationAnomaly);
          return anomalyResult(state.expirationAnomaly, this.options.permanentErrorRetryMs);
        }
        await this.secrets.deleteOwned(resource, log, spec.secretName, ctx.signal);
        const annotations = secret?.metadata?.annotations ?? {};
        const roleArn = annotations[SecretAnnotation.roleArn];
        const effectiveDurationSeconds =
          Number(annotations[SecretAnnotation.durationSeconds]) || (spec.durationSeconds ?? 900);
        // The same message as right after a refresh, so a shortened duration stays explained (and status stays).
        await this.ready(
          ctx,
          readyMessage(decision.expirationTime, effectiveDurationSeconds, spec.durationSeconds),
          {
            ...(roleArn ? { roleArn } : {}),
            expirationTime: decision.expirationTime,
            lastRefreshTime: decision.lastRefreshTime,
            nextRefreshTime: decision.nextRefreshTime,
            effectiveDurationSeconds,
          },
        );
        this.options.observer?.onExpirationTime?.(namespace, name, decision.expirationTime);
        return requeueAfter(decision.nextRefreshTime.getTime() - this.now().getTime());
      }
      case "refresh":
        return this.refresh(ctx, {
          checked,
          specHash,
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
      checked: CheckedSpec;
      specHash: string;
      secret: CachedSecret | undefined;
      cause: RefreshCause;
      replace: boolean;
    },
  ): Promise<ReconcileResult> {
    const { resource, state, log, signal } = ctx;
    const { spec } = resource;
    const { namespace, name } = resource.metadata as { namespace: string; name: string };
    log.debug({ cause: p.cause }, "refreshing credentials");

    // The role is in status whether or not AWS grants it (an AccessDenied names what was asked for).
    const roleArn = roleArnOf(spec, await this.source.identity());
    let fresh;
    try {
      fresh = await this.source.newCredentials({
        spec,
        sessionName: roleSessionName(namespace, name),
        tags: p.checked.tags,
        registries: p.checked.registries,
        state,
        onClamped: (message) => this.status.event(resource, "Warning", Reason.DurationClamped, message),
        // The role's MaxSessionDuration is below the request: say so before trying the next shorter duration.
        onDurationRejected: (message) => this.fail(ctx, Reason.DurationRejected, message),
        signal,
      });
    } catch (err) {
      this.options.observer?.onRefresh?.(spec.secretType, "failure");
      if (err instanceof AwsFailure) return this.awsFailed(ctx, err, { roleArn });
      throw err;
    }
    const { durationSeconds, lastRefreshTime, expirationTime, anomaly } = fresh;
    const reportAnomaly = async (outcome: string): Promise<ReconcileResult> => {
      const message = anomalyMessage(anomaly!, outcome);
      this.options.observer?.onRefresh?.(spec.secretType, "failure");
      log.warn({ expirationTime: anomaly!.expirationTime, durationSeconds }, message);
      state.expirationAnomaly = message;
      await this.fail(ctx, Reason.InvalidExpiration, message, { roleArn });
      return anomalyResult(message, this.options.permanentErrorRetryMs);
    };
    // Without a valid time there is nothing to schedule or to write in the Secret's annotations.
    if (anomaly?.problem === "invalid") return reportAnomaly("The Secret was left as it was");
    const body = secretBody({
      resource,
      credentials: fresh.credentials,
      ecrTokens: fresh.ecrTokens,
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
      this.options.observer?.onRefresh?.(spec.secretType, "failure");
      if (isConflict(err)) {
        // Someone wrote or created it meanwhile: look again at once with fresh state.
        log.debug({ err: apiErrorMessage(err) }, "secret write conflicted; retrying");
        return temporaryError(new Error(`Secret ${spec.secretName} changed while being written`), {
          retryAfterMs: 0,
        });
      }
      const message = `could not write Secret ${spec.secretName}: ${apiErrorMessage(err)}`;
      await this.fail(ctx, Reason.KubernetesError, message, { roleArn });
      return temporaryError(new Error(message));
    }

    this.options.observer?.onExpirationTime?.(namespace, name, expirationTime);
    // The credentials may still work (a skewed clock): they are in the Secret, and the problem is reported.
    if (anomaly) return reportAnomaly("The Secret was written with them");
    state.expirationAnomaly = undefined;
    this.options.observer?.onRefresh?.(spec.secretType, "success");
    const nextRefreshTime = scheduledRefresh(resource.metadata.uid!, lastRefreshTime, expirationTime, {
      refreshRatio: this.options.refreshRatio,
      jitterFraction: this.options.jitterFraction,
    });
    const created = p.cause === "missing";
    log.info(
      { secretName: spec.secretName, cause: p.cause, expirationTime, nextRefreshTime },
      created ? "secret created" : "secret refreshed",
    );
    // No times in the message (status has them): repeats of the same event aggregate into one with a count.
    const event = refreshEvent({
      causes: [p.cause],
      readyBefore: readyBefore(state, resource.status?.conditions),
      readyAfter: true,
      routineEvents: this.options.refreshEvents ?? false,
      subject: `Secret ${spec.secretName} for ${roleArn}`,
    });
    if (event) this.status.event(resource, "Normal", event.reason, event.message);
    await this.secrets.deleteOwned(resource, log, spec.secretName, signal);
    await this.ready(ctx, readyMessage(expirationTime, durationSeconds, spec.durationSeconds), {
      roleArn,
      expirationTime,
      lastRefreshTime,
      nextRefreshTime,
      effectiveDurationSeconds: durationSeconds,
    });
    return requeueAfter(nextRefreshTime.getTime() - this.now().getTime());
  }

  private ready(ctx: Context, message: string, times: StatusTimes): Promise<void> {
    const report = { ready: "True", reason: Reason.CredentialsReady, message, times } as const;
    return this.status.report(ctx.resource, ctx.state, ctx.log, report, ctx.signal);
  }

  /** Reports a problem: Ready=False with the reason, and one Warning event per change of reason or message. */
  private fail(ctx: Context, reason: Reason, message: string, times: StatusTimes = {}): Promise<void> {
    return this.status.report(
      ctx.resource,
      ctx.state,
      ctx.log,
      { ready: "False", reason, message, times },
      ctx.signal,
    );
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
    if (!this.options.resources.get(namespace, name)) return;
    const state = this.states.hint(key);
    state.readSecretLive = true;
    // Our last write left the cache with the Secret: it must not stand in for it any more.
    this.secrets.forgetWrite(state);
  }

  /** Reports an AWS failure; temporary ones retry with backoff, the others after the permanent-error delay. */
  private async awsFailed(ctx: Context, err: AwsFailure, times: StatusTimes = {}): Promise<ReconcileResult> {
    const secretNote = ctx.resource.status?.expirationTime
      ? ` The existing Secret is kept until it is refreshed.`
      : "";
    await this.fail(ctx, err.reason, `${err.message}.${secretNote}`, times);
    return awsFailureResult(err, this.options.permanentErrorRetryMs);
  }
}

export function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}
