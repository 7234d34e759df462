// The checks and hash of a spec that need no AWS call, the same for both kinds: the ECR registries and session tags
// it asks for (or why it cannot work as written), and the hash of everything that shapes the Secret or the session.
import type { AWSAssumeRoleSpec } from "../api/schema.ts";
import { ecrLoginsOf } from "../domain/ecr-logins.ts";
import type { EcrLogin } from "../domain/ecr-logins.ts";
import { InvalidSessionError, sessionPolicy, sessionTags } from "../domain/session.ts";
import type { SessionTagOptions } from "../domain/session.ts";
import { FORCE_REFRESH_ANNOTATION, plan } from "../domain/plan.ts";
import type { Plan } from "../domain/plan.ts";
import { contentHash } from "../runtime/content-hash.ts";
import type { CachedSecret } from "./ports.ts";
import { observedSecret } from "./secret-view.ts";

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

/**
 * Everything that shapes the Secret or the session; a change refreshes at once. Built from the spec as written, so
 * keeping a valid Secret needs no AWS call (not even GetCallerIdentity).
 */
export function hashSpec(resource: { spec: AWSAssumeRoleSpec }, tags: Record<string, string>): string {
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

export interface SecretPlanInput {
  resource: { metadata: { uid?: string; annotations?: Record<string, string> }; spec: AWSAssumeRoleSpec };
  specHash: string;
  secret: CachedSecret | undefined;
  now: Date;
  refreshRatio: number;
  jitterFraction: number;
}

/** What should happen to one Secret of a resource (a namespaced resource's, or one copy of a cluster resource's). */
export function planSecret(input: SecretPlanInput): Plan {
  const { resource, secret } = input;
  return plan({
    ownerUid: resource.metadata.uid!,
    secretName: resource.spec.secretName,
    secretType: resource.spec.secretType,
    specHash: input.specHash,
    forceRefresh: resource.metadata.annotations?.[FORCE_REFRESH_ANNOTATION],
    secret: secret ? observedSecret(secret) : undefined,
    now: input.now,
    refreshRatio: input.refreshRatio,
    jitterFraction: input.jitterFraction,
  });
}
