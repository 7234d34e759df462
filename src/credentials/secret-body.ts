// The Secret the operator writes for a resource: the rendered credentials as data, our label, the resource as
// controller owner, the secretTemplate's labels and annotations, and the annotations that let the next reconcile
// (or a restarted operator) decide without calling AWS.
import type { V1Secret } from "@kubernetes/client-node";
import { API_VERSION, KIND } from "../api/schema.ts";
import type { AWSAssumeRole } from "../api/schema.ts";
import type { AwsCredentials, EcrToken } from "../domain/credentials.ts";
import {
  FORCE_REFRESH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SecretAnnotation,
} from "../domain/plan.ts";
import { renderSecret } from "../domain/render.ts";
import { ecrLoginsOf } from "../domain/ecr-logins.ts";
import { dataHash } from "../runtime/content-hash.ts";
import type { CachedSecret } from "./ports.ts";

export interface SecretBodyInput {
  resource: AWSAssumeRole;
  credentials: AwsCredentials;
  /** ECR tokens by region, for EcrDockerConfigJson. */
  ecrTokens: Readonly<Record<string, EcrToken>>;
  roleArn: string;
  durationSeconds: number;
  lastRefreshTime: Date;
  expirationTime: Date;
  specHash: string;
  /** The Secret being replaced: labels and annotations others added are kept. */
  existing: CachedSecret | undefined;
}

export function secretBody(input: SecretBodyInput): V1Secret {
  const { resource, existing } = input;
  const { spec } = resource;
  const { namespace, name, uid } = resource.metadata;
  const rendered = renderSecret({
    secretType: spec.secretType,
    credentials: input.credentials,
    ...(spec.secretType === "EcrDockerConfigJson"
      ? {
          ecr: ecrLoginsOf(spec).map((l) => ({
            registryUrl: l.url,
            token: input.ecrTokens[l.registry.region]!,
          })),
        }
      : {}),
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
    ...(existing?.metadata?.annotations ?? {}),
    ...(template?.annotations ?? {}),
    [SecretAnnotation.roleArn]: input.roleArn,
    [SecretAnnotation.durationSeconds]: String(input.durationSeconds),
    [SecretAnnotation.expirationTime]: input.expirationTime.toISOString(),
    [SecretAnnotation.lastRefreshTime]: input.lastRefreshTime.toISOString(),
    [SecretAnnotation.specHash]: input.specHash,
    [SecretAnnotation.dataHash]: dataHash(data),
    [SecretAnnotation.ownerUid]: uid!,
  };
  if (forceRefresh !== undefined) annotations[SecretAnnotation.forceRefresh] = forceRefresh;
  else delete annotations[SecretAnnotation.forceRefresh];
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: spec.secretName,
      namespace: namespace!,
      labels: {
        ...(existing?.metadata?.labels ?? {}),
        ...(template?.labels ?? {}),
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
      },
      annotations,
      ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: name!, uid: uid!, controller: true }],
    },
    type: rendered.type,
    data,
  };
}
