// The Secrets of a ClusterAWSAssumeRole: one credential set (type, data and our annotations, the same in every
// namespace) and the copy of it each selected namespace holds, owned by the cluster resource.
import type { V1Secret } from "@kubernetes/client-node";
import { CLUSTER_KIND } from "../api/cluster-schema.ts";
import type { ClusterAWSAssumeRole } from "../api/cluster-schema.ts";
import { API_VERSION, KIND } from "../api/schema.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SecretAnnotation } from "../domain/plan.ts";
import { dataHash } from "../runtime/content-hash.ts";
import type { CachedSecret } from "./ports.ts";
import { secretBody } from "./secret-body.ts";
import type { SecretBodyInput } from "./secret-body.ts";

/** One credential set, as every copy carries it. Kept in memory between reconciles; never logged. */
export interface CredentialSet {
  type: string;
  /** Empty in a times-only view (the data is read live when a copy needs it). */
  data: Record<string, string>;
  /** Our annotations (SecretAnnotation keys) with the set's times, spec hash and data hash. */
  annotations: Record<string, string>;
  lastRefreshTime: Date;
  expirationTime: Date;
  roleArn: string | undefined;
  /** The session duration STS granted. */
  durationSeconds: number | undefined;
}

const OWN_ANNOTATIONS = new Set<string>(Object.values(SecretAnnotation));

/** The set made from credentials just obtained. */
export function newCredentialSet(
  input: Omit<SecretBodyInput, "resource" | "existing"> & { resource: ClusterAWSAssumeRole },
): CredentialSet {
  const { resource } = input;
  // The namespaced kind's body has the same data and annotations; namespace and owner are set per copy.
  const body = secretBody({
    ...input,
    resource: { apiVersion: API_VERSION, kind: KIND, metadata: resource.metadata, spec: resource.spec },
    existing: undefined,
  });
  return credentialSetOf(body, input.lastRefreshTime, input.expirationTime);
}

/** The set an existing intact copy holds (read live: the cache does not keep Secret data for this). */
export function credentialSetFromCopy(secret: V1Secret): CredentialSet | undefined {
  const annotations = secret.metadata?.annotations ?? {};
  if (annotations[SecretAnnotation.dataHash] !== dataHash(secret.data)) return undefined;
  const lastRefreshTime = new Date(annotations[SecretAnnotation.lastRefreshTime] ?? "");
  const expirationTime = new Date(annotations[SecretAnnotation.expirationTime] ?? "");
  if (Number.isNaN(lastRefreshTime.getTime()) || Number.isNaN(expirationTime.getTime())) return undefined;
  return credentialSetOf(secret, lastRefreshTime, expirationTime);
}

function credentialSetOf(secret: V1Secret, lastRefreshTime: Date, expirationTime: Date): CredentialSet {
  const annotations = Object.fromEntries(
    Object.entries(secret.metadata?.annotations ?? {}).filter(([k]) => OWN_ANNOTATIONS.has(k)),
  );
  return {
    type: secret.type!,
    data: { ...secret.data },
    ...timesOf(annotations, lastRefreshTime, expirationTime),
  };
}

/** A set's annotations with what status reads of them. */
export function timesOf(
  annotations: Record<string, string>,
  lastRefreshTime: Date,
  expirationTime: Date,
): Pick<CredentialSet, "annotations" | "lastRefreshTime" | "expirationTime" | "roleArn" | "durationSeconds"> {
  return {
    annotations,
    lastRefreshTime,
    expirationTime,
    roleArn: annotations[SecretAnnotation.roleArn],
    durationSeconds: Number(annotations[SecretAnnotation.durationSeconds]) || undefined,
  };
}

/** The copy for `namespace`: the set, our label, the secretTemplate's metadata, the cluster resource as owner. */
export function copyBody(
  credentialSet: CredentialSet,
  resource: ClusterAWSAssumeRole,
  namespace: string,
  existing: CachedSecret | undefined,
): V1Secret {
  const { spec } = resource;
  const { name, uid } = resource.metadata;
  const template = spec.secretTemplate?.metadata;
  const annotations: Record<string, string> = {
    ...(existing?.metadata?.annotations ?? {}),
    ...(template?.annotations ?? {}),
    ...credentialSet.annotations,
  };
  if (!(SecretAnnotation.forceRefresh in credentialSet.annotations))
    delete annotations[SecretAnnotation.forceRefresh];
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: spec.secretName,
      namespace,
      labels: {
        ...(existing?.metadata?.labels ?? {}),
        ...(template?.labels ?? {}),
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
      },
      annotations,
      // A cluster-scoped owner of namespaced dependents is valid: the garbage collector deletes every copy with it.
      ownerReferences: [
        { apiVersion: API_VERSION, kind: CLUSTER_KIND, name: name!, uid: uid!, controller: true },
      ],
    },
    type: credentialSet.type,
    data: { ...credentialSet.data },
  };
}
