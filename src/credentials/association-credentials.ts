// The credential logic's third consumer, after the namespaced and the cluster kind: the credentials of an
// AWSPodIdentityAssociation, served to Pods through the node agents. One AssumeRole per association per refresh window,
// shared by every Pod and request (single flight), through the same CredentialSource as the other kinds (rate limiter,
// duration step-down, expiry checks). Nothing is written anywhere: the credentials live in this process only.
// A failure never takes away credentials that still work: they are served until they expire, while AWS is asked
// again with growing backoff; between attempts nobody's request reaches AWS.
import type { V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { POD_IDENTITY_KIND } from "../api/pod-identity-schema.ts";
import type { AWSPodIdentityAssociation } from "../api/pod-identity-schema.ts";
import { API_VERSION } from "../api/schema.ts";
import type { AWSAssumeRoleSpec } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import { Reason } from "../domain/conditions.ts";
import type { AwsCredentials } from "../domain/credentials.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import { podIdentitySessionName } from "../domain/naming.ts";
import { Refusal, RefusedError, accountOfRoleArn } from "../domain/pod-identity.ts";
import type { ContainerCredentials } from "../domain/pod-identity.ts";
import { backoffDelay, servingRefreshTime, stableRandom } from "../domain/schedule.ts";
import { InvalidSessionError, roleArnOf, sessionPolicy, sessionTags } from "../domain/session.ts";
import type { SessionTagOptions } from "../domain/session.ts";
import { contentHash } from "../runtime/content-hash.ts";
import { namespacePermits, notPermittedMessage } from "./permissions.ts";
import type { AwsAccess, Cache, EventSink, EventTarget } from "./ports.ts";
import { newResourceState } from "./resource-state.ts";
import type { ResourceState } from "./resource-state.ts";
import { CredentialSource, anomalyMessage } from "./source.ts";

/** Credentials with less than this left are not served, even while AWS fails: the SDK could not use them. */
const MIN_SERVED_LIFETIME_MS = 60_000;

export interface AssociationCredentialsOptions {
  aws: AwsAccess;
  /** Shared with the other kinds when given, so the operator's identity is asked once. */
  source?: CredentialSource;
  namespacePermissions: boolean;
  namespaces: Cache<V1Namespace> | undefined;
  sessionTags?: SessionTagOptions;
  refreshRatio: number;
  jitterFraction: number;
  /** Backoff of AWS attempts after a failure: temporary failures up to maxMs, others up to permanentErrorRetryMs. */
  backoff: { baseMs: number; maxMs: number };
  permanentErrorRetryMs: number;
  events: EventSink;
  logger: Logger;
  /** Told of every AssumeRole's outcome (metrics). */
  onRefresh?: (result: "success" | "failure") => void;
  now?: () => Date;
}

/** What an association's check found: the role and the session tags, or why it cannot be served. */
export type AssociationCheck =
  | { roleArn: string; tags: Record<string, string> }
  | { refusal: RefusedError; reason: "InvalidSpec" | "RoleNotPermitted" };

interface Served {
  credentials: AwsCredentials;
  roleArn: string;
  refreshAt: Date;
}

/** One record per association (by uid), reset when its spec changes, dropped when it is deleted. */
interface AssociationRecord {
  specHash: string;
  state: ResourceState;
  served: Served | undefined;
  inflight: Promise<Served> | undefined;
  failures: number;
  /** No AWS attempt before this time after a failure; `refusal` answers meanwhile (unless `served` still works). */
  retryAt: Date | undefined;
  refusal: RefusedError | undefined;
}

export class AssociationCredentials {
  private readonly options: AssociationCredentialsOptions;
  private readonly source: CredentialSource;
  private readonly now: () => Date;
  private readonly records = new Map<string, AssociationRecord>();

  constructor(options: AssociationCredentialsOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.source = options.source ?? new CredentialSource(options.aws, this.now);
  }

  /** The operator's own identity (one GetCallerIdentity, shared). An AWS failure is a 503 refusal. */
  async identity(): Promise<CallerIdentity> {
    try {
      return await this.source.identity();
    } catch (err) {
      throw new RefusedError(
        Refusal.ServiceUnavailable,
        `The operator cannot learn its own AWS identity: ${(err as Error).message}`,
      );
    }
  }

  /** The checks that need no AssumeRole: the spec as written and the namespace's permission. */
  async check(association: AWSPodIdentityAssociation): Promise<AssociationCheck> {
    const { namespace = "", name = "" } = association.metadata;
    const spec = association.spec;
    const identity = await this.identity();
    let tags: Record<string, string>;
    let roleArn: string;
    try {
      sessionPolicy(spec);
      tags = sessionTags(spec, { namespace, name }, this.options.sessionTags ?? { enabled: false });
      roleArn = roleArnOf(spec, identity);
    } catch (err) {
      if (!(err instanceof InvalidSessionError)) throw err;
      return {
        reason: "InvalidSpec",
        refusal: new RefusedError(
          Refusal.AssociationNotReady,
          `AWSPodIdentityAssociation ${namespace}/${name} cannot be used as written: ${err.message}`,
        ),
      };
    }
    if (
      this.options.namespacePermissions &&
      !namespacePermits(this.options.namespaces, { namespace, roleArn, identity })
    ) {
      return {
        reason: "RoleNotPermitted",
        refusal: new RefusedError(Refusal.RoleNotPermitted, notPermittedMessage(namespace, roleArn)),
      };
    }
    return { roleArn, tags };
  }

  /**
   * Credentials for a Pod of the association: the shared ones while they are fresh, else one AssumeRole for
   * everybody asking. Refusals are RefusedError (status, code, message); nothing here logs or returns a secret.
   */
  async credentialsFor(
    association: AWSPodIdentityAssociation,
    signal?: AbortSignal,
  ): Promise<ContainerCredentials> {
    const checked = await this.check(association);
    if ("refusal" in checked) throw checked.refusal;
    const record = this.recordOf(association, checked);
    const now = this.now();
    const working = (s: Served | undefined) =>
      s !== undefined && s.credentials.expirationTime.getTime() - now.getTime() > MIN_SERVED_LIFETIME_MS;

    if (record.served && now < record.served.refreshAt) return answer(record.served);
    if (record.retryAt && now < record.retryAt) {
      if (working(record.served)) return answer(record.served!);
      throw record.refusal!;
    }
    record.inflight ??= this.obtain(association, checked, record, signal).finally(() => {
      record.inflight = undefined;
    });
    try {
      return answer(await record.inflight);
    } catch (err) {
      if (working(record.served)) return answer(record.served!);
      throw err;
    }
  }

  /** Forgets a deleted association's credentials. */
  forget(uid: string): void {
    this.records.delete(uid);
  }

  /** Associations with a record (metrics, memory checks). */
  size(): number {
    return this.records.size;
  }

  private recordOf(
    association: AWSPodIdentityAssociation,
    checked: { roleArn: string; tags: Record<string, string> },
  ): AssociationRecord {
    const uid = association.metadata.uid ?? "";
    const spec = association.spec;
    const specHash = contentHash({
      roleArn: checked.roleArn,
      tags: checked.tags,
      externalId: spec.externalId ?? null,
      sessionPolicy: spec.sessionPolicy ?? null,
      policyArns: spec.policyArns ?? null,
      transitiveTagKeys: spec.transitiveTagKeys ?? null,
      region: spec.region ?? null,
      durationSeconds: spec.durationSeconds ?? null,
    });
    let record = this.records.get(uid);
    if (!record || record.specHash !== specHash) {
      record = {
        specHash,
        state: newResourceState(uid, association.metadata.generation),
        served: undefined,
        inflight: undefined,
        failures: 0,
        retryAt: undefined,
        refusal: undefined,
      };
      this.records.set(uid, record);
    }
    return record;
  }

  private async obtain(
    association: AWSPodIdentityAssociation,
    checked: { roleArn: string; tags: Record<string, string> },
    record: AssociationRecord,
    signal: AbortSignal | undefined,
  ): Promise<Served> {
    const { namespace = "", name = "" } = association.metadata;
    const target = eventTarget(association);
    const log = { namespace, name, kind: POD_IDENTITY_KIND };
    try {
      const obtained = await this.source.newCredentials({
        // The source reads the role fields only; an association has no Secret.
        spec: { ...association.spec, secretName: "", secretType: "Map" } satisfies AWSAssumeRoleSpec,
        sessionName: podIdentitySessionName(namespace, name),
        tags: checked.tags,
        registries: [],
        state: record.state,
        onClamped: (message) => this.options.events.emit(target, "Normal", Reason.DurationClamped, message),
        onDurationRejected: async (message) => {
          this.options.events.emit(target, "Warning", Reason.DurationRejected, message);
        },
        signal,
      });
      if (obtained.anomaly) {
        throw new AwsFailure(
          Reason.InvalidExpiration,
          Reason.InvalidExpiration,
          anomalyMessage(obtained.anomaly, "The credentials are not served"),
          true,
        );
      }
      const served: Served = {
        credentials: obtained.credentials,
        roleArn: obtained.roleArn,
        refreshAt: servingRefreshTime({
          lastRefreshTime: obtained.lastRefreshTime,
          expirationTime: obtained.credentials.expirationTime,
          ratio: this.options.refreshRatio,
          jitterFraction: this.options.jitterFraction,
          random: stableRandom(`${association.metadata.uid}${obtained.lastRefreshTime.toISOString()}`),
        }),
      };
      const recovered = record.failures > 0;
      Object.assign(record, { served, failures: 0, retryAt: undefined, refusal: undefined });
      this.options.onRefresh?.("success");
      this.options.logger.info(
        {
          ...log,
          expirationTime: served.credentials.expirationTime.toISOString(),
          refreshAt: served.refreshAt,
        },
        recovered
          ? "pod identity credentials obtained again after failures"
          : "pod identity credentials obtained",
      );
      return served;
    } catch (err) {
      if (!(err instanceof AwsFailure)) throw err;
      this.options.onRefresh?.("failure");
      record.failures += 1;
      const maxMs = err.temporary ? this.options.backoff.maxMs : this.options.permanentErrorRetryMs;
      const delay = Math.max(
        this.options.backoff.baseMs,
        backoffDelay(record.failures, { baseMs: this.options.backoff.baseMs, maxMs, random: Math.random() }),
      );
      record.retryAt = new Date(this.now().getTime() + delay);
      record.refusal = err.temporary
        ? new RefusedError(Refusal.ServiceUnavailable, `AWS did not give credentials: ${err.message}`)
        : new RefusedError(Refusal.AssumeRoleFailed, `AWS refused the role: ${err.message}`);
      this.options.logger.warn(
        { ...log, reason: err.reason, retryInMs: delay, serving: record.served !== undefined },
        "pod identity AssumeRole failed",
      );
      if (record.failures === 1) this.options.events.emit(target, "Warning", err.reason, err.message);
      throw record.refusal;
    }
  }
}

function answer(served: Served): ContainerCredentials {
  const account = accountOfRoleArn(served.roleArn);
  return {
    AccessKeyId: served.credentials.accessKeyId,
    SecretAccessKey: served.credentials.secretAccessKey,
    Token: served.credentials.sessionToken,
    Expiration: served.credentials.expirationTime.toISOString(),
    ...(account ? { AccountId: account } : {}),
  };
}

function eventTarget(association: AWSPodIdentityAssociation): EventTarget {
  return {
    apiVersion: API_VERSION,
    kind: POD_IDENTITY_KIND,
    namespace: association.metadata.namespace ?? "",
    name: association.metadata.name ?? "",
    uid: association.metadata.uid ?? "",
  };
}
