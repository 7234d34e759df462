// reconcile(namespace/name): read the resource and its Secret from the caches, ask the domain what should be,
// apply the difference (AWS + Secret write), keep status honest, and say when to look again. Level-triggered and
// idempotent: it never assumes it saw every event.
import type { V1Namespace, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { API_VERSION, KIND } from "../api/schema.ts";
import type { AWSAssumeRole, AWSAssumeRoleStatus, SecretType } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import type { AwsAccess } from "../aws/aws.ts";
import { Reason, readyCondition, setCondition } from "../domain/conditions.ts";
import type { AwsCredentials, EcrToken } from "../domain/credentials.ts";
import { parseEcrRegistryUrl, roleSessionName } from "../domain/naming.ts";
import type { CallerIdentity, EcrRegistry } from "../domain/naming.ts";
import {
  FORCE_REFRESH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SecretAnnotation,
  plan,
  scheduledRefresh,
} from "../domain/plan.ts";
import type { IssueCause, ObservedSecret } from "../domain/plan.ts";
import { renderSecret } from "../domain/render.ts";
import { PERMITTED_ROLES_ANNOTATION, isRolePermitted, permittedPatterns } from "../domain/policy.ts";
import {
  InvalidSessionError,
  fallbackDuration,
  isDurationRejection,
  requestedDuration,
  roleArnOf,
  sessionPolicy,
  sessionTags,
} from "../domain/session.ts";
import type { SessionTagOptions } from "../domain/session.ts";
import type { AssumeRoleRequest } from "../aws/aws.ts";
import { validity } from "../domain/schedule.ts";
import { apiErrorMessage, isConflict } from "../kube/errors.ts";
import { canonicalJson, dataFingerprint, fingerprint } from "../kube/fingerprint.ts";
import { cachedSecret } from "../kube/projection.ts";
import type { CachedSecret } from "../kube/projection.ts";
import type { EventSink, EventTarget } from "../kube/events.ts";
import type { QueueResult } from "./queue.ts";

/** Read access to the informer caches. */
export interface Cache<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): readonly T[];
}

/** A cache with an index of the Secrets each resource UID owns. */
export interface SecretCache extends Cache<CachedSecret> {
  /** The Secrets in this namespace that the resource with this UID owns (through the owner index, no scan). */
  byIndex(index: typeof OWNER_INDEX, uid: string, namespace: string): CachedSecret[];
}

export const OWNER_INDEX = "owner";

export interface SecretWriter {
  get(namespace: string, name: string): Promise<V1Secret | undefined>;
  create(secret: V1Secret): Promise<V1Secret>;
  replace(secret: V1Secret): Promise<V1Secret>;
  delete(namespace: string, name: string, uid: string, resourceVersion?: string): Promise<void>;
}

export interface StatusWriter {
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
}

/** Hooks for metrics; all optional. */
export interface ReconcileObserver {
  onRefresh?(secretType: SecretType, result: "success" | "failure"): void;
  onExpiration?(namespace: string, name: string, expiration: Date | undefined): void;
}

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
  /** Namespace limits (--namespace-permissions): the namespace cache to read the annotation from. */
  namespaceCache?: Cache<V1Namespace>;
}

/** A failure the queue retries; `retryAfterMs` overrides its backoff. */
class RetryableError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

interface Written {
  /** As the cache would keep it: no data, only its fingerprint. */
  secret: CachedSecret;
  /** resourceVersion of the object the write replaced (or deleted and recreated); undefined when it created one. */
  replacedVersion: string | undefined;
}

export class Reconciler {
  private readonly o: ReconcilerOptions;
  private readonly now: () => Date;
  private identityPromise: Promise<CallerIdentity> | undefined;
  /** Resources whose Secret name must be read live (see currentSecret). */
  private readonly readLive = new Set<string>();
  /** Our latest Secret write per resource, until the cache has caught up with it. */
  private readonly written = new Map<string, Written>();
  /**
   * The last status written per resource and the resourceVersion it was written over, so a stale cache does not
   * cause the same write twice; once the cache has moved past that version, the cached status is the truth.
   */
  private readonly lastStatus = new Map<string, { wanted: string; over: string | undefined }>();
  /** The Ready reason last reported per resource, so Warning events are emitted on transitions only. */
  private readonly lastReason = new Map<string, string>();
  /** Resources already told about the one-hour role-chaining clamp (one DurationClamped event each). */
  private readonly clampReported = new Set<string>();
  /** Per resource: the largest duration STS accepted after rejecting a longer one. */
  private readonly durationCap = new Map<string, number>();

  constructor(options: ReconcilerOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /** Forget per-resource memory when a resource is deleted. */
  forget(key: string): void {
    this.written.delete(key);
    this.lastStatus.delete(key);
    this.lastReason.delete(key);
    this.clampReported.delete(key);
    this.durationCap.delete(key);
    this.readLive.delete(key);
  }

  async reconcile(key: string): Promise<QueueResult> {
    const [namespace, name] = splitKey(key);
    const resource = this.o.resources.get(namespace, name);
    if (!resource || resource.metadata.deletionTimestamp) {
      // The garbage collector deletes the owned Secret through its ownerReference.
      this.forget(key);
      this.o.observer?.onExpiration?.(namespace, name, undefined);
      return;
    }
    const log = this.o.logger.child({ namespace, name });
    const { spec } = resource;
    const uid = resource.metadata.uid!;
    const target: EventTarget = { apiVersion: API_VERSION, kind: KIND, namespace, name, uid };

    let registry: EcrRegistry | undefined;
    if (spec.secretType === "EcrDockerConfigJson") {
      try {
        registry = parseEcrRegistryUrl(spec.ecrRepositoryUrl ?? "");
      } catch (err) {
        await this.fail(resource, target, log, Reason.InvalidSpec, (err as Error).message);
        return; // waits for a spec change
      }
    }

    // Checks that need no AWS call: a spec that cannot work waits for a fix.
    let tags: Record<string, string>;
    try {
      sessionPolicy(spec);
      tags = sessionTags(spec, { namespace, name }, this.o.sessionTags ?? { enabled: false });
    } catch (err) {
      if (!(err instanceof InvalidSessionError)) throw err;
      await this.fail(resource, target, log, Reason.InvalidSpec, err.message);
      return; // waits for a spec change
    }
    // Everything that shapes the Secret or the session; a change issues new credentials at once. Built from the
    // spec as written, so keeping a valid Secret needs no AWS call (not even GetCallerIdentity).
    const specHash = fingerprint({
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
      secretTemplate: spec.secretTemplate ?? null,
      profile: spec.profile ?? null,
    });

    if (this.o.namespaceCache) {
      let identity: CallerIdentity;
      try {
        identity = await this.identity();
      } catch (err) {
        return this.awsFailed(resource, target, log, err);
      }
      const roleArn = roleArnOf(spec, identity);
      if (!this.permitted(namespace, roleArn, identity)) {
        // Our latest write is being deleted: it must not stand in for the Secret once the role is permitted again.
        this.written.delete(key);
        await this.deleteOwnedSecrets(resource, log, undefined);
        this.o.observer?.onExpiration?.(namespace, name, undefined);
        await this.fail(
          resource,
          target,
          log,
          Reason.RoleNotPermitted,
          `Namespace ${namespace} may not assume ${roleArn}: its annotation ${PERMITTED_ROLES_ANNOTATION} ` +
            `does not permit it. No credentials are issued and any Secret of this resource was deleted.`,
          { roleArn },
        );
        return; // a change of the namespace's annotation requeues the resource
      }
    }

    const secret = await this.currentSecret(key, namespace, spec.secretName);
    const decision = plan({
      ownerUid: uid,
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
        await this.fail(resource, target, log, Reason.SecretConflict, decision.message);
        return { requeueAfterMs: this.o.conflictRetryMs };
      case "keep": {
        await this.deleteOwnedSecrets(resource, log, resource.spec.secretName);
        const annotations = secret?.metadata?.annotations ?? {};
        const roleArn = annotations[SecretAnnotation.roleArn];
        const effectiveDurationSeconds =
          Number(annotations[SecretAnnotation.durationSeconds]) || (spec.durationSeconds ?? 900);
        // The same message as right after issuing, so a shortened duration stays explained (and status stays put).
        await this.writeStatus(
          resource,
          log,
          Reason.CredentialsReady,
          readyMessage(decision.expirationTime, effectiveDurationSeconds, spec.durationSeconds),
          {
            ...(roleArn ? { roleArn } : {}),
            expirationTime: decision.expirationTime,
            lastRefreshTime: decision.lastRefreshTime,
            nextRefreshTime: decision.refreshAt,
            effectiveDurationSeconds,
          },
        );
        this.o.observer?.onExpiration?.(namespace, name, decision.expirationTime);
        return { requeueAfterMs: Math.max(0, decision.refreshAt.getTime() - this.now().getTime()) };
      }
      case "issue": {
        log.debug({ cause: decision.cause }, "issuing credentials");
        let identity: CallerIdentity;
        try {
          identity = await this.identity();
        } catch (err) {
          return this.awsFailed(resource, target, log, err);
        }
        const duration = requestedDuration(spec, identity);
        if (duration.clamped && !this.clampReported.has(key)) {
          this.clampReported.add(key);
          this.o.events.emit(
            target,
            "Warning",
            Reason.DurationClamped,
            `The operator's own identity is an assumed role, so STS caps chained sessions at one hour: ` +
              `asking for ${duration.durationSeconds} s instead of ${spec.durationSeconds} s`,
          );
        }
        const request: AssumeRoleRequest = {
          roleArn: roleArnOf(spec, identity),
          sessionName: roleSessionName(namespace, name),
          durationSeconds: Math.min(duration.durationSeconds, this.durationCap.get(key) ?? Infinity),
          ...(spec.externalId ? { externalId: spec.externalId } : {}),
          ...(spec.sessionPolicy ? { policy: spec.sessionPolicy } : {}),
          ...(spec.policyArns?.length ? { policyArns: spec.policyArns } : {}),
          tags,
          ...(spec.transitiveTagKeys?.length ? { transitiveTagKeys: spec.transitiveTagKeys } : {}),
          ...(spec.region ? { region: spec.region } : {}),
        };
        return this.issue(key, resource, target, log, {
          request,
          specHash,
          registry,
          secret,
          cause: decision.cause,
          replace: decision.replace,
        });
      }
    }
  }

  private async issue(
    key: string,
    resource: AWSAssumeRole,
    target: EventTarget,
    log: Logger,
    p: {
      request: AssumeRoleRequest;
      specHash: string;
      registry: EcrRegistry | undefined;
      secret: CachedSecret | undefined;
      cause: IssueCause;
      replace: boolean;
    },
  ): Promise<QueueResult> {
    const { namespace, name } = target;
    const { spec } = resource;
    const roleArn = p.request.roleArn;
    let credentials: AwsCredentials;
    let token: EcrToken | undefined;
    let durationSeconds = p.request.durationSeconds;
    try {
      for (;;) {
        try {
          credentials = await this.o.aws.assumeRole({ ...p.request, durationSeconds });
          break;
        } catch (err) {
          const next =
            err instanceof AwsFailure && isDurationRejection(err.code, err.message)
              ? fallbackDuration(durationSeconds)
              : undefined;
          if (next === undefined) throw err;
          // The role's MaxSessionDuration is below the request: say so, then try the next shorter duration.
          await this.fail(
            resource,
            target,
            log,
            Reason.DurationRejected,
            `${err instanceof Error ? err.message : String(err)}. Retrying with ${next} s.`,
            { roleArn },
          );
          durationSeconds = next;
          this.durationCap.set(key, next);
        }
      }
      if (p.registry) token = await this.o.aws.ecrToken(credentials, p.registry.region);
    } catch (err) {
      this.o.observer?.onRefresh?.(spec.secretType, "failure");
      return this.awsFailed(resource, target, log, err, { roleArn });
    }
    const issuedAt = this.now();
    const expirationTime = validity(credentials.expiration, token?.expiresAt);
    const rendered = renderSecret({
      secretType: spec.secretType,
      credentials,
      ...(token ? { ecr: { registryUrl: spec.ecrRepositoryUrl!, token } } : {}),
      file: {
        ...(spec.profile ? { profile: spec.profile } : {}),
        ...(spec.region ? { region: spec.region } : {}),
      },
    });
    const data = Object.fromEntries(
      Object.entries(rendered.stringData).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]),
    );
    const forceRefresh = resource.metadata.annotations?.[FORCE_REFRESH_ANNOTATION];
    const template = spec.secretTemplate?.metadata;
    const annotations: Record<string, string> = {
      ...(p.secret?.metadata?.annotations ?? {}),
      ...(template?.annotations ?? {}),
      [SecretAnnotation.roleArn]: roleArn,
      [SecretAnnotation.durationSeconds]: String(durationSeconds),
      [SecretAnnotation.expirationTime]: expirationTime.toISOString(),
      [SecretAnnotation.lastRefreshTime]: issuedAt.toISOString(),
      [SecretAnnotation.specHash]: p.specHash,
      [SecretAnnotation.dataHash]: dataFingerprint(data),
      [SecretAnnotation.ownerUid]: target.uid,
    };
    if (forceRefresh !== undefined) annotations[SecretAnnotation.forceRefresh] = forceRefresh;
    else delete annotations[SecretAnnotation.forceRefresh];
    const body: V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: spec.secretName,
        namespace,
        labels: {
          ...(p.secret?.metadata?.labels ?? {}),
          ...(template?.labels ?? {}),
          [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        },
        annotations,
        ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name, uid: target.uid, controller: true }],
      },
      type: rendered.type,
      data,
    };

    try {
      let written: V1Secret;
      if (!p.secret) {
        written = await this.o.secretWriter.create(body);
      } else if (p.replace) {
        // A Secret's type is immutable: replace the object.
        await this.o.secretWriter.delete(namespace, spec.secretName, p.secret.metadata!.uid!);
        written = await this.o.secretWriter.create(body);
      } else {
        body.metadata!.resourceVersion = p.secret.metadata!.resourceVersion;
        written = await this.o.secretWriter.replace(body);
      }
      this.readLive.delete(key);
      this.written.set(key, {
        secret: cachedSecret(written),
        replacedVersion: p.secret?.metadata?.resourceVersion,
      });
    } catch (err) {
      this.o.observer?.onRefresh?.(spec.secretType, "failure");
      if (isConflict(err)) {
        // AlreadyExists: the name is taken outside our cache. Read it live from now on.
        this.readLive.add(key);
        // Someone wrote or created it meanwhile: look again at once with fresh state.
        log.debug({ err: apiErrorMessage(err) }, "secret write conflicted; retrying");
        throw new RetryableError(`Secret ${spec.secretName} changed while being written`, 0);
      }
      const message = `could not write Secret ${spec.secretName}: ${apiErrorMessage(err)}`;
      await this.fail(resource, target, log, Reason.KubernetesError, message, { roleArn });
      throw new RetryableError(message);
    }

    this.o.observer?.onRefresh?.(spec.secretType, "success");
    this.o.observer?.onExpiration?.(namespace, name, expirationTime);
    const refreshAt = scheduledRefresh(target.uid, issuedAt, expirationTime, {
      refreshRatio: this.o.refreshRatio,
      jitterFraction: this.o.jitterFraction,
    });
    const created = p.cause === "missing";
    log.info(
      { secretName: spec.secretName, cause: p.cause, expirationTime, nextRefreshTime: refreshAt },
      created ? "secret created" : "secret refreshed",
    );
    this.o.events.emit(
      target,
      "Normal",
      created ? "Created" : "Refreshed",
      `${created ? "Created" : "Refreshed"} Secret ${spec.secretName} for ${roleArn} (${describeCause(p.cause)}); ` +
        `credentials expire at ${expirationTime.toISOString()}`,
    );
    await this.deleteOwnedSecrets(resource, log, resource.spec.secretName);
    await this.writeStatus(
      resource,
      log,
      Reason.CredentialsReady,
      readyMessage(expirationTime, durationSeconds, spec.durationSeconds),
      {
        roleArn,
        expirationTime,
        lastRefreshTime: issuedAt,
        nextRefreshTime: refreshAt,
        effectiveDurationSeconds: durationSeconds,
      },
    );
    return { requeueAfterMs: Math.max(0, refreshAt.getTime() - this.now().getTime()) };
  }

  /** The Secret named by the spec: from the cache, our own latest write if the cache lags, or a live read. */
  private async currentSecret(
    key: string,
    namespace: string,
    secretName: string,
  ): Promise<CachedSecret | undefined> {
    const cached = this.o.secrets.get(namespace, secretName);
    const written = this.written.get(key);
    if (written && written.secret.metadata?.name === secretName) {
      const cachedVersion = cached?.metadata?.resourceVersion;
      const stale = cached === undefined || cachedVersion === written.replacedVersion;
      if (stale && cachedVersion !== written.secret.metadata?.resourceVersion) return written.secret;
      this.written.delete(key);
    }
    if (cached) return cached;
    // Not in our label-filtered cache: usually absent. When it may exist (a create found the name taken, or our
    // Secret left the cache — deleted, or its label removed) the name is read live until we own it again.
    if (!this.readLive.has(key)) return undefined;
    const live = await this.o.secretWriter.get(namespace, secretName);
    return live && cachedSecret(live);
  }

  /** Whether this resource's status is exactly what our last status write said (the watch echoing it back). */
  isOwnStatus(key: string, resource: AWSAssumeRole): boolean {
    const last = this.lastStatus.get(key);
    return (
      last !== undefined &&
      resource.status !== undefined &&
      last.wanted === statusFingerprint(normalise(resource.status))
    );
  }

  /** Whether this Secret is the object our latest write produced (the watch echoing it back; the cache has it now). */
  isOwnSecretWrite(key: string, secret: CachedSecret): boolean {
    const version = this.written.get(key)?.secret.metadata?.resourceVersion;
    if (version === undefined || version !== secret.metadata?.resourceVersion) return false;
    this.written.delete(key);
    return true;
  }

  /** The resource's Secret may exist outside the cache: read it live at the next reconcile. */
  expectOutsideCache(key: string): void {
    this.readLive.add(key);
  }

  /** Deletes the Secrets this resource owns, except the one named `keep` (after a secretName change: the old). */
  private async deleteOwnedSecrets(
    resource: AWSAssumeRole,
    log: Logger,
    keep: string | undefined,
  ): Promise<void> {
    const { namespace, uid } = resource.metadata;
    for (const secret of this.o.secrets.byIndex(OWNER_INDEX, uid!, namespace!)) {
      const meta = secret.metadata;
      if (meta.name === keep) continue;
      if (!meta.ownerReferences?.some((r) => r.controller && r.uid === uid)) continue;
      await this.o.secretWriter.delete(namespace!, meta.name!, meta.uid!, meta.resourceVersion);
      log.info(
        { secretName: meta.name },
        keep ? "deleted Secret no longer named by the spec" : "deleted Secret",
      );
    }
  }

  /** Namespace limits: may this namespace assume this role? */
  private permitted(namespace: string, roleArn: string, identity: CallerIdentity): boolean {
    const annotation = this.o.namespaceCache?.get("", namespace)?.metadata?.annotations?.[
      PERMITTED_ROLES_ANNOTATION
    ];
    return isRolePermitted(roleArn, permittedPatterns(annotation, identity));
  }

  private async identity(): Promise<CallerIdentity> {
    this.identityPromise ??= this.o.aws.callerIdentity().catch((err: unknown) => {
      this.identityPromise = undefined;
      throw err;
    });
    return this.identityPromise;
  }

  private async awsFailed(
    resource: AWSAssumeRole,
    target: EventTarget,
    log: Logger,
    err: unknown,
    extra: StatusExtra = {},
  ): Promise<QueueResult> {
    if (!(err instanceof AwsFailure)) throw err;
    const secretNote = resource.status?.expirationTime
      ? ` The existing Secret is kept until it is refreshed.`
      : "";
    await this.fail(resource, target, log, err.reason, `${err.message}.${secretNote}`, extra);
    throw new RetryableError(err.message, err.temporary ? undefined : this.o.permanentErrorRetryMs);
  }

  /** Reports a problem: Ready=False with the reason, and one Warning event per change of reason or message. */
  private async fail(
    resource: AWSAssumeRole,
    target: EventTarget,
    log: Logger,
    reason: Reason,
    message: string,
    extra: StatusExtra = {},
  ): Promise<void> {
    const key = `${target.namespace}/${target.name}`;
    const signature = `${reason}\u0000${message}`;
    if (this.lastReason.get(key) !== signature) {
      this.lastReason.set(key, signature);
      log.warn({ reason }, message);
      this.o.events.emit(target, "Warning", reason, message);
    }
    await this.writeStatus(resource, log, reason, message, extra, "False");
  }

  private async writeStatus(
    resource: AWSAssumeRole,
    log: Logger,
    reason: Reason,
    message: string,
    extra: StatusExtra,
    ready: "True" | "False" = "True",
  ): Promise<void> {
    const key = `${resource.metadata.namespace}/${resource.metadata.name}`;
    if (ready === "True") this.lastReason.delete(key);
    const current = resource.status ?? {};
    const generation = resource.metadata.generation;
    // A failed refresh leaves the working Secret (and its times) in place; RoleNotPermitted deleted it.
    const keepTimes = ready === "False" && reason !== Reason.RoleNotPermitted;
    const desired: AWSAssumeRoleStatus = {
      observedGeneration: generation,
      roleArn: extra.roleArn ?? current.roleArn,
      secretName: resource.spec.secretName,
      expirationTime: iso(extra.expirationTime) ?? (keepTimes ? current.expirationTime : undefined),
      lastRefreshTime: iso(extra.lastRefreshTime) ?? (keepTimes ? current.lastRefreshTime : undefined),
      nextRefreshTime: iso(extra.nextRefreshTime) ?? (keepTimes ? current.nextRefreshTime : undefined),
      effectiveDurationSeconds: extra.effectiveDurationSeconds ?? current.effectiveDurationSeconds,
      conditions: setCondition(
        current.conditions,
        readyCondition(ready, reason, message, generation),
        this.now(),
      ),
    };
    const wanted = statusFingerprint(desired);
    const last = this.lastStatus.get(key);
    const stale = last !== undefined && last.over === resource.metadata.resourceVersion;
    if (wanted === statusFingerprint(normalise(current)) || (stale && wanted === last.wanted)) return;
    const patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(desired)) patch[k] = v ?? null;
    await this.o.statusWriter.patchStatus(resource.metadata.namespace!, resource.metadata.name!, patch);
    this.lastStatus.set(key, { wanted, over: resource.metadata.resourceVersion });
    log.debug({ reason }, "status updated");
  }
}

/** Status for comparison: canonical JSON without the conditions' transition times. */
function statusFingerprint(s: AWSAssumeRoleStatus): string {
  return canonicalJson({
    ...s,
    conditions: (s.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: undefined })),
  });
}

interface StatusExtra {
  roleArn?: string;
  expirationTime?: Date;
  lastRefreshTime?: Date;
  nextRefreshTime?: Date;
  effectiveDurationSeconds?: number;
}

/** Status as read back from the API: only the fields `desired` has, absent fields undefined. */
function normalise(s: AWSAssumeRoleStatus): AWSAssumeRoleStatus {
  return {
    observedGeneration: s.observedGeneration,
    roleArn: s.roleArn,
    secretName: s.secretName,
    expirationTime: s.expirationTime,
    lastRefreshTime: s.lastRefreshTime,
    nextRefreshTime: s.nextRefreshTime,
    effectiveDurationSeconds: s.effectiveDurationSeconds,
    conditions: s.conditions,
  };
}

function iso(date: Date | undefined): string | undefined {
  return date?.toISOString();
}

function readyMessage(expiration: Date, effectiveSeconds?: number, requestedSeconds?: number): string {
  const base = `Credentials are in the Secret and valid until ${expiration.toISOString()}`;
  if (
    effectiveSeconds !== undefined &&
    requestedSeconds !== undefined &&
    effectiveSeconds < requestedSeconds
  ) {
    return `${base} (sessions last ${effectiveSeconds} s: AWS does not allow the requested ${requestedSeconds} s)`;
  }
  return base;
}

function describeCause(cause: IssueCause): string {
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

function observe(secret: CachedSecret): ObservedSecret {
  const meta = secret.metadata;
  return {
    type: secret.type,
    labels: meta.labels,
    annotations: meta.annotations,
    ownerReferences: meta.ownerReferences,
    dataHash: secret.dataHash,
  };
}
