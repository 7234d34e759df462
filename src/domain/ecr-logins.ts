// The ECR registries of an EcrDockerConfigJson spec (ecrRepositoryUrl and ecrRepositoryUrls, in that order, without
// repeats), the regions that need a GetAuthorizationToken (one per region: an ECR token is valid for every registry
// the principal may access in its region, so registries of several accounts in one region share it), and the
// token that expires first. Pure.
import type { AWSAssumeRoleSpec } from "../api/schema.ts";
import type { EcrToken } from "./credentials.ts";
import { parseEcrRegistryUrl } from "./naming.ts";
import type { EcrRegistry } from "./naming.ts";

/** A registry URL as written in the spec (the key under `auths`) and what it names. */
export interface EcrLogin {
  url: string;
  registry: EcrRegistry;
}

/** Every registry URL of the spec, the single one first, without repeats. */
export function ecrRepositoryUrlsOf(
  spec: Pick<AWSAssumeRoleSpec, "ecrRepositoryUrl" | "ecrRepositoryUrls">,
): string[] {
  return [
    ...new Set([
      ...(spec.ecrRepositoryUrl ? [spec.ecrRepositoryUrl] : []),
      ...(spec.ecrRepositoryUrls ?? []),
    ]),
  ];
}

/** The spec's registries; throws InvalidEcrRegistryUrlError for a URL that is not an ECR registry. */
export function ecrLoginsOf(
  spec: Pick<AWSAssumeRoleSpec, "ecrRepositoryUrl" | "ecrRepositoryUrls">,
): EcrLogin[] {
  return ecrRepositoryUrlsOf(spec).map((url) => ({ url, registry: parseEcrRegistryUrl(url) }));
}

/** The regions to ask for a token, in first-seen order. */
export function ecrTokenRegions(logins: readonly EcrLogin[]): string[] {
  return [...new Set(logins.map((l) => l.registry.region))];
}

/** The token that expires first (it bounds the Secret's lifetime), if any. */
export function earliestEcrToken(tokens: Readonly<Record<string, EcrToken>>): EcrToken | undefined {
  return Object.values(tokens).reduce<EcrToken | undefined>(
    (first, t) => (first === undefined || t.expirationTime < first.expirationTime ? t : first),
    undefined,
  );
}
