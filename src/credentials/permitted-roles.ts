// The last seen permitted-roles annotation per namespace (--namespace-permissions), so only a change of it
// requeues the namespace's resources. One entry per namespace that exists: a deleted namespace's entry goes.

export class PermittedRolesWatch {
  private readonly annotations = new Map<string, string | undefined>();

  /** Records the namespace's annotation; true when the namespace is new or its annotation changed. */
  changed(namespace: string, annotation: string | undefined): boolean {
    if (this.annotations.has(namespace) && this.annotations.get(namespace) === annotation) return false;
    this.annotations.set(namespace, annotation);
    return true;
  }

  deleted(namespace: string): void {
    this.annotations.delete(namespace);
  }

  get size(): number {
    return this.annotations.size;
  }
}
