// Namespace limits: with --namespace-permissions, a namespace may only assume the roles matched by its annotation
// aws-assume-role.pincette.net/permitted-roles (comma-separated ARN globs, or role names meaning the operator's
// own account). No annotation permits nothing.
import type { CallerIdentity } from "./naming.ts";
import { roleArnFor } from "./naming.ts";

export const PERMITTED_ROLES_ANNOTATION = "aws-assume-role.pincette.net/permitted-roles";

/** The annotation's entries as full ARN globs. */
export function permittedPatterns(annotation: string | undefined, identity: CallerIdentity): string[] {
  if (!annotation) return [];
  return annotation
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => (entry.startsWith("arn:") ? entry : roleArnFor(identity, entry)));
}

/** Glob match: `*` matches any run of characters (also across '/' and ':'), `?` one character. */
export function globMatches(pattern: string, value: string): boolean {
  const source = pattern
    .split("")
    .map((ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`).test(value);
}

export function isRolePermitted(roleArn: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => globMatches(p, roleArn));
}
