// What the caches keep of each object: the smallest projection reconcile reads, made on the way in (the idea of
// controller-runtime's cache transforms). Every object loses metadata.managedFields and kubectl's last-applied
// annotation (often larger than the rest of the object); a Secret keeps its metadata, its type and a fingerprint
// of its data — never the data itself, so no plaintext credentials live in the operator's heap between writes.
import type { V1ObjectMeta, V1OwnerReference, V1Secret } from "@kubernetes/client-node";
import { dataFingerprint } from "./fingerprint.ts";

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/** The metadata fields a cached object keeps. */
export interface CachedMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: V1OwnerReference[];
}

/** A Secret as the cache holds it: metadata, type and the fingerprint of its data. */
export interface CachedSecret {
  metadata: CachedMeta;
  type?: string;
  /** dataFingerprint(data) of the object as the API server returned it. */
  dataHash: string;
}

/** Metadata without managedFields, the last-applied annotation and fields reconcile never reads. */
export function leanMetadata(meta: V1ObjectMeta | CachedMeta | undefined): CachedMeta {
  const m = (meta ?? {}) as Record<string, unknown> & V1ObjectMeta;
  const out: CachedMeta = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = String(m.deletionTimestamp as unknown);
  if (m.labels !== undefined) out.labels = m.labels;
  if (m.annotations !== undefined) {
    const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...rest } = m.annotations;
    out.annotations = rest;
  }
  if (m.ownerReferences !== undefined) out.ownerReferences = m.ownerReferences;
  return out;
}

/** Any object with its metadata made lean; everything else (spec, status) is kept as it came. */
export function leanObject<T extends { metadata?: unknown }>(obj: T): T {
  return { ...obj, metadata: leanMetadata(obj.metadata as V1ObjectMeta | undefined) };
}

/** A Secret as the cache keeps it. Accepts a cached Secret too (then it is returned as it is). */
export function cachedSecret(secret: V1Secret | CachedSecret): CachedSecret {
  if ("dataHash" in secret && !("data" in secret)) return secret;
  const s = secret as V1Secret;
  return {
    metadata: leanMetadata(s.metadata),
    ...(s.type !== undefined ? { type: s.type } : {}),
    dataHash: dataFingerprint(s.data),
  };
}
