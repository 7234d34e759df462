// Where new credentials come from, once for every consumer (the namespaced kind, the cluster kind): the operator's own
// identity (asked once), the AssumeRole a resource makes (clamped under role chaining, capped after STS rejected a
// longer duration, stepping down while it does), the ECR tokens, the check of the expiries AWS returned, and what a
// failure to get them means for the work queue.
import type { AWSAssumeRoleSpec } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import type { AwsCredentials, EcrToken } from "../domain/credentials.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import { earliestEcrToken, ecrTokenRegions } from "../domain/ecr-logins.ts";
import type { EcrLogin } from "../domain/ecr-logins.ts";
import { expirationProblem, secretExpirationTime } from "../domain/schedule.ts";
import { fallbackDuration, isDurationRejection, requestedDuration, roleArnOf } from "../domain/session.ts";
import { apiErrorMessage } from "../runtime/api-errors.ts";
import { temporaryError, terminalError } from "../runtime/result.ts";
import type { ReconcileResult } from "../runtime/result.ts";
import type { AssumeRoleRequest, AwsAccess } from "./ports.ts";
import type { ResourceState } from "./resource-state.ts";

/** A new credential set, as AWS returned it and as it will be written. Never logged. */
export interface NewCredentials {
  credentials: AwsCredentials;
  /** One ECR token per region of the spec's registries. */
  ecrTokens: Record<string, EcrToken>;
  /** The duration STS accepted. */
  durationSeconds: number;
  roleArn: string;
  lastRefreshTime: Date;
  /** When the Secret's content stops working: the credentials or the first ECR token, whichever comes first. */
  expirationTime: Date;
  /** An implausible expiry among AWS's answers; undefined when they are plausible. */
  anomaly: ExpirationAnomaly | undefined;
}

export interface ExpirationAnomaly {
  problem: "invalid" | "past" | "too-soon";
  /** What had it: "credentials" or "ECR token". */
  what: string;
  /** For the log: the time AWS returned, or "invalid". */
  expirationTime: string;
}

export interface NewCredentialsRequest {
  spec: AWSAssumeRoleSpec;
  /** RoleSessionName: per resource for the namespaced kind, per cluster resource for the fan-out. */
  sessionName: string;
  tags: Record<string, string>;
  registries: readonly EcrLogin[];
  /** The resource's record: the duration cap STS taught us, whether the clamp was reported. */
  state: ResourceState;
  /** Told once per spec that the operator's own identity caps chained sessions at one hour. */
  onClamped: (message: string) => void;
  /** Told each time STS rejects a duration as above the role's maximum, before the next shorter one is tried. */
  onDurationRejected: (message: string) => Promise<void>;
  signal?: AbortSignal | undefined;
}

export class CredentialSource {
  private readonly aws: AwsAccess;
  private readonly now: () => Date;
  private identityPromise: Promise<CallerIdentity> | undefined;

  constructor(aws: AwsAccess, now: () => Date = () => new Date()) {
    this.aws = aws;
    this.now = now;
  }

  /** The operator's own identity, asked once (and again after a failure). */
  identity(): Promise<CallerIdentity> {
    this.identityPromise ??= this.aws.callerIdentity().catch((err: unknown) => {
      this.identityPromise = undefined;
      throw err;
    });
    return this.identityPromise;
  }

  /** One AssumeRole (and the ECR tokens) for a resource, checked before it steers anything. Failures are AwsFailure. */
  async newCredentials(input: NewCredentialsRequest): Promise<NewCredentials> {
    const { spec, state } = input;
    const identity = await this.identity();
    const duration = requestedDuration(spec, identity);
    if (duration.clamped && !state.clampReported) {
      state.clampReported = true;
      input.onClamped(
        `The operator's own identity is an assumed role, so STS caps chained sessions at one hour: ` +
          `asking for ${duration.durationSeconds} s instead of ${spec.durationSeconds} s`,
      );
    }
    const request: AssumeRoleRequest = {
      roleArn: roleArnOf(spec, identity),
      sessionName: input.sessionName,
      durationSeconds: Math.min(duration.durationSeconds, state.durationCapSeconds ?? Infinity),
      ...(spec.externalId ? { externalId: spec.externalId } : {}),
      ...(spec.sessionPolicy ? { policy: spec.sessionPolicy } : {}),
      ...(spec.policyArns?.length ? { policyArns: spec.policyArns } : {}),
      tags: input.tags,
      ...(spec.transitiveTagKeys?.length ? { transitiveTagKeys: spec.transitiveTagKeys } : {}),
      ...(spec.region ? { region: spec.region } : {}),
    };
    const { credentials, durationSeconds } = await this.assumeRole(request, input);
    const ecrTokens: Record<string, EcrToken> = {};
    for (const region of ecrTokenRegions(input.registries)) {
      ecrTokens[region] = await this.aws.ecrToken(credentials, region, input.signal);
    }
    const lastRefreshTime = this.now();
    return {
      credentials,
      ecrTokens,
      durationSeconds,
      roleArn: request.roleArn,
      lastRefreshTime,
      expirationTime: secretExpirationTime(
        credentials.expirationTime,
        earliestEcrToken(ecrTokens)?.expirationTime,
      ),
      anomaly: expirationAnomaly({ credentials, ecrTokens, durationSeconds }, lastRefreshTime),
    };
  }

  /** AssumeRole, stepping down the duration while STS rejects it as above the role's MaxSessionDuration. */
  private async assumeRole(
    request: AssumeRoleRequest,
    input: NewCredentialsRequest,
  ): Promise<{ credentials: AwsCredentials; durationSeconds: number }> {
    let durationSeconds = request.durationSeconds;
    for (;;) {
      try {
        return {
          credentials: await this.aws.assumeRole({ ...request, durationSeconds }, input.signal),
          durationSeconds,
        };
      } catch (err) {
        const next =
          err instanceof AwsFailure && isDurationRejection(err.code, err.message)
            ? fallbackDuration(durationSeconds)
            : undefined;
        if (next === undefined) throw err;
        await input.onDurationRejected(`${(err as Error).message}. Retrying with ${next} s.`);
        durationSeconds = next;
        input.state.durationCapSeconds = next;
      }
    }
  }
}

/** An implausible expiry of the credentials or an ECR token (past, not a time, too soon); undefined if none. */
export function expirationAnomaly(
  obtained: Pick<NewCredentials, "credentials" | "ecrTokens" | "durationSeconds">,
  now: Date,
): ExpirationAnomaly | undefined {
  const checks = [
    ["credentials", obtained.credentials.expirationTime],
    ...Object.values(obtained.ecrTokens).map((token) => ["ECR token", token.expirationTime] as const),
  ] as const;
  for (const [what, expirationTime] of checks) {
    const problem = expirationProblem(expirationTime, now, obtained.durationSeconds);
    if (!problem) continue;
    return {
      problem,
      what,
      expirationTime: Number.isNaN(expirationTime.getTime()) ? "invalid" : expirationTime.toISOString(),
    };
  }
  return undefined;
}

/**
 * The anomaly described for the person running kubectl describe, with what was done with the credentials. No times
 * in it: a repeat is the same Warning, aggregated, not a new one per retry.
 */
export function anomalyMessage(anomaly: ExpirationAnomaly, outcome: string): string {
  const described = {
    invalid: "an expiry that is not a valid time",
    past: "an expiry that has already passed",
    "too-soon": "an expiry less than a minute (or 1 % of the requested duration) away",
  }[anomaly.problem];
  return (
    `AWS returned ${anomaly.what} with ${described}. The likely cause is clock skew between this node and AWS ` +
    `(check NTP). ${outcome}; retrying with growing backoff.`
  );
}

/** After an implausible expiry: back off, growing up to the permanent-error delay, until AWS answers well. */
export function anomalyResult(message: string, permanentErrorRetryMs: number): ReconcileResult {
  return temporaryError(new Error(message), { maxBackoffMs: permanentErrorRetryMs });
}

/**
 * What an AWS failure means for the queue: a temporary one retries with backoff (further, up to the permanent-error
 * delay, after a call that got no answer: it held a worker until its deadline, and resources whose AWS endpoint
 * hangs must not take every worker from the others); any other is looked at again after the permanent-error delay.
 */
export function awsFailureResult(err: AwsFailure, permanentErrorRetryMs: number): ReconcileResult {
  if (!err.temporary) return terminalError(err, permanentErrorRetryMs);
  return err.timedOut ? temporaryError(err, { maxBackoffMs: permanentErrorRetryMs }) : temporaryError(err);
}

/**
 * Runs one reconcile's steps with the error policy both kinds share: an AWS failure is reported (`awsFailed`) and
 * retried as awsFailureResult says; a Kubernetes error or anything unexpected is retried with backoff.
 */
export async function withErrorPolicy(
  steps: () => Promise<ReconcileResult>,
  awsFailed: (err: AwsFailure) => Promise<ReconcileResult>,
): Promise<ReconcileResult> {
  try {
    return await steps();
  } catch (err) {
    if (err instanceof AwsFailure) return awsFailed(err);
    const error = err instanceof Error ? err : new Error(String(err));
    return temporaryError(new Error(apiErrorMessage(error)));
  }
}
