// Impersonation as a kubeconfig asks for it (`as`, `as-uid`, `as-groups`, `as-user-extra`): the Impersonate-*
// headers client-go's transport adds to every request, so the operator acts as that user with its own credentials.

export interface Impersonation {
  user?: string;
  uid?: string;
  groups?: string[];
  /** Extra user attributes, e.g. `scopes`; each value is one header. */
  extra?: Record<string, string[]>;
}

/** The request headers for an impersonation; a name that repeats (groups, extra values) is an array. */
export function impersonationHeaders(i: Impersonation): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (i.user) headers["Impersonate-User"] = i.user;
  if (i.uid) headers["Impersonate-Uid"] = i.uid;
  if (i.groups?.length) headers["Impersonate-Group"] = i.groups;
  for (const [key, values] of Object.entries(i.extra ?? {}))
    if (values.length) headers[`Impersonate-Extra-${headerKeyEscape(key)}`] = values;
  return headers;
}

/**
 * An extra's key as a header name: bytes outside RFC 7230's token characters and '%' percent-encoded, as
 * client-go's headerKeyEscape does (the API server decodes it with url.PathUnescape). encodeURIComponent does this
 * except that it leaves '(' and ')' as they are, which a header name may not contain.
 */
function headerKeyEscape(key: string): string {
  return encodeURIComponent(key).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
