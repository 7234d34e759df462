// Where new credentials come from: the operator's own identity (asked once), the AssumeRole request a resource
// makes (role ARN, session name, duration clamped under role chaining and capped after STS rejected a longer one),
// the duration fallback when STS rejects the duration, the ECR token for EcrDockerConfigJson, and the check of the
// expiries AWS returned.
import type { AWSAssumeRole } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import type { AwsCredentials, EcrToken } from "../domain/credentials.ts";
import { roleSessionName } from "../domain/naming.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import { earliestEcrToken, ecrTokenRegions } from "../domain/ecr-logins.ts";
import type { EcrLogin } from "../domain/ecr-logins.ts";
import { expirationProblem } from "../domain/schedule.ts";
import { fallbackDuration, isDurationRejection, requestedDuration, roleArnOf } from "../domain/session.ts";
import type { AssumeRoleRequest, AwsAccess } from "./ports.ts";
import type { ResourceState } from "./resource-state.ts";

export interface Obtained {
  credentials: AwsCredentials;
  /** The ECR token that expires first (it bounds the Secret's lifetime); undefined without registries. */
  ecrToken: EcrToken | undefined;
  /** One ECR token per region of the spec's registries. */
  ecrTokens: Record<string, EcrToken>;
  /** The duration STS accepted. */
  durationSeconds: number;
}

export interface PlannedRequest {
  request: AssumeRoleRequest;
  /** The spec's duration was clamped to one hour because the operator's identity is an assumed role. */
  clamped: boolean;
}

export class CredentialSource {
  private readonly aws: AwsAccess;
  private identityPromise: Promise<CallerIdentity> | undefined;

  constructor(aws: AwsAccess) {
    this.aws = aws;
  }

  /** The operator's own identity, asked once (and again after a failure). */
  identity(): Promise<CallerIdentity> {
    this.identityPromise ??= this.aws.callerIdentity().catch((err: unknown) => {
      this.identityPromise = undefined;
      throw err;
    });
    return this.identityPromise;
  }

  /** The AssumeRole a resource makes. */
  request(
    resource: Pick<AWSAssumeRole, "spec" | "metadata">,
    identity: CallerIdentity,
    tags: Record<string, string>,
    state: ResourceState,
  ): PlannedRequest {
    const { spec } = resource;
    const { namespace, name } = resource.metadata;
    const duration = requestedDuration(spec, identity);
    return {
      clamped: duration.clamped,
      request: {
        roleArn: roleArnOf(spec, identity),
        sessionName: roleSessionName(namespace!, name!),
        durationSeconds: Math.min(duration.durationSeconds, state.durationCapSeconds ?? Infinity),
        ...(spec.externalId ? { externalId: spec.externalId } : {}),
        ...(spec.sessionPolicy ? { policy: spec.sessionPolicy } : {}),
        ...(spec.policyArns?.length ? { policyArns: spec.policyArns } : {}),
        tags,
        ...(spec.transitiveTagKeys?.length ? { transitiveTagKeys: spec.transitiveTagKeys } : {}),
        ...(spec.region ? { region: spec.region } : {}),
      },
    };
  }

  /**
   * AssumeRole, stepping down the duration while STS rejects it as above the role's MaxSessionDuration (each step
   * is reported through `onDurationRejected` and remembered in the resource's state), then the ECR token in the
   * registries' regions (one per region). Failures are AwsFailure.
   */
  async obtain(
    request: AssumeRoleRequest,
    registries: readonly EcrLogin[],
    state: ResourceState,
    onDurationRejected: (message: string) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<Obtained> {
    let durationSeconds = request.durationSeconds;
    let credentials: AwsCredentials;
    for (;;) {
      try {
        credentials = await this.aws.assumeRole({ ...request, durationSeconds }, signal);
        break;
      } catch (err) {
        const next =
          err instanceof AwsFailure && isDurationRejection(err.code, err.message)
            ? fallbackDuration(durationSeconds)
            : undefined;
        if (next === undefined) throw err;
        await onDurationRejected(`${(err as Error).message}. Retrying with ${next} s.`);
        durationSeconds = next;
        state.durationCapSeconds = next;
      }
    }
    const ecrTokens: Record<string, EcrToken> = {};
    for (const region of ecrTokenRegions(registries)) {
      ecrTokens[region] = await this.aws.ecrToken(credentials, region, signal);
    }
    return { credentials, ecrToken: earliestEcrToken(ecrTokens), ecrTokens, durationSeconds };
  }
}

/**
 * AWS answers are checked before they steer anything: an implausible expiry of the credentials or the ECR token
 * (past, not a time, too soon), described for the person running kubectl describe.
 */
export function expirationAnomaly(
  obtained: Obtained,
  now: Date,
): { problem: "invalid" | "past" | "too-soon"; message: string; expirationTime: string } | undefined {
  const checks = [
    ["credentials", obtained.credentials.expirationTime],
    ...Object.values(obtained.ecrTokens).map((token) => ["ECR token", token.expirationTime] as const),
  ] as const;
  for (const [what, expirationTime] of checks) {
    const problem = expirationProblem(expirationTime, now, obtained.durationSeconds);
    if (!problem) continue;
    const described = {
      invalid: "an expiry that is not a valid time",
      past: "an expiry that has already passed",
      "too-soon": "an expiry less than a minute (or 1 % of the requested duration) away",
    }[problem];
    // No times in the message: a repeat is the same Warning, aggregated, not a new one per retry.
    return {
      problem,
      expirationTime: Number.isNaN(expirationTime.getTime()) ? "invalid" : expirationTime.toISOString(),
      message:
        `AWS returned ${what} with ${described}. The likely cause is clock skew between this node and AWS ` +
        `(check NTP). ${problem === "invalid" ? "The Secret was left as it was" : "The Secret was written with them"}; ` +
        `retrying with growing backoff.`,
    };
  }
  return undefined;
}
