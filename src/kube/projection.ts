// Lean metadata for the caches (the idea of controller-runtime's cache transforms): every cached object loses
// metadata.managedFields, kubectl's last-applied annotation (often larger than the rest of the object) and the
// metadata fields reconcile never reads. The credential reconcilers' Secret projection (secret-view.ts) builds on it.
import type { V1ObjectMeta, V1OwnerReference } from "@kubernetes/client-node";

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/** The metadata fields a cached object keeps. */
export interface CachedMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: V1OwnerReference[];
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
  if (m.finalizers !== undefined) out.finalizers = m.finalizers;
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
