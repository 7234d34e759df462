// The one key of an object in queues and maps: "namespace/name" for a namespaced object, "name" for a
// cluster-scoped one. Formatted and parsed here only, so every controller and feature speaks the same keys.

/** What a key is built from: any object with metadata (name and, for namespaced kinds, namespace). */
export interface KeyedObject {
  metadata?: { name?: string; namespace?: string };
}

/** The key of `name` in `namespace` ("" or undefined: cluster-scoped). */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** The key of an object, from its metadata. */
export function keyOf(obj: KeyedObject): string {
  return objectKey(obj.metadata?.namespace, obj.metadata?.name ?? "");
}

/** The namespace ("" for a cluster-scoped object) and name a key stands for. */
export function parseKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0
    ? { namespace: "", name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
