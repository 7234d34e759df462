// Where new credentials come from: the operator's own identity (asked once), the AssumeRole request a resource
// makes (role ARN, session name, duration clamped under role chaining and capped after STS rejected a longer one),
// the duration fallback when STS rejects the duration, and the ECR token for EcrDockerConfigJson.
import type { AWSAssumeRole } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import type { AwsCredentials, EcrToken } from "../domain/credentials.ts";
import { roleSessionName } from "../domain/naming.ts";
import type { CallerIdentity, EcrRegistry } from "../domain/naming.ts";
import { fallbackDuration, isDurationRejection, requestedDuration, roleArnOf } from "../domain/session.ts";
import type { AssumeRoleRequest, AwsAccess } from "./ports.ts";
import type { ResourceState } from "./resource-state.ts";

export interface Obtained {
  credentials: AwsCredentials;
  ecrToken: EcrToken | undefined;
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
    resource: AWSAssumeRole,
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
   * registry's region. Failures are AwsFailure.
   */
  async obtain(
    request: AssumeRoleRequest,
    registry: EcrRegistry | undefined,
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
    const ecrToken = registry ? await this.aws.ecrToken(credentials, registry.region, signal) : undefined;
    return { credentials, ecrToken, durationSeconds };
  }
}
