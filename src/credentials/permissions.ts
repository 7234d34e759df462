// Namespace limits (--namespace-permissions) for both kinds: whether a namespace's permitted-roles annotation allows
// a role, and the message that says why not.
import type { V1Namespace } from "@kubernetes/client-node";
import type { NamespaceFailure } from "../api/cluster-schema.ts";
import { Reason } from "../domain/conditions.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import {
  PERMITTED_ROLES_ANNOTATION,
  isRolePermitted,
  permittedPatterns,
} from "../domain/namespace-permissions.ts";
import type { Cache } from "./ports.ts";

/** Namespace limits: does the namespace's permitted-roles annotation allow this role? */
export function namespacePermits(
  namespaces: Cache<V1Namespace> | undefined,
  request: { namespace: string; roleArn: string; identity: CallerIdentity },
): boolean {
  const { namespace, roleArn, identity } = request;
  const annotation = namespaces?.get("", namespace)?.metadata?.annotations?.[PERMITTED_ROLES_ANNOTATION];
  return isRolePermitted(roleArn, permittedPatterns(annotation, identity));
}

/** Why a namespace may not assume a role, for status and events. */
export function notPermittedMessage(namespace: string, roleArn: string): string {
  return `Namespace ${namespace} may not assume ${roleArn}: its annotation ${PERMITTED_ROLES_ANNOTATION} does not permit it`;
}

/** The selected namespaces whose annotation permits the role, and the others with why not (for status). */
export function permittedNamespaces(
  namespaces: Cache<V1Namespace>,
  request: { selected: readonly string[]; roleArn: string; identity: CallerIdentity },
): { permitted: string[]; denied: NamespaceFailure[] } {
  const { roleArn, identity } = request;
  const permitted: string[] = [];
  const denied: NamespaceFailure[] = [];
  for (const namespace of request.selected) {
    if (namespacePermits(namespaces, { namespace, roleArn, identity })) permitted.push(namespace);
    else
      denied.push({
        namespace,
        reason: Reason.RoleNotPermitted,
        message: `its annotation ${PERMITTED_ROLES_ANNOTATION} does not permit ${roleArn}`,
      });
  }
  return { permitted, denied };
}
