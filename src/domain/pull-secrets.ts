// Which imagePullSecrets a ServiceAccount should have: from what it has, the record of the entries the operator
// added (an annotation on the ServiceAccount, per owner) and the Secret one owner wants there. Pure: the wiring
// reads the ServiceAccount and writes the answer back. An entry the operator did not add is never removed, and
// entries of other Secrets are never touched.
import { PREFIX } from "./plan.ts";

/** On a ServiceAccount: JSON object owner → the Secret name the operator added to its imagePullSecrets. */
export const WIRED_ANNOTATION = `${PREFIX}/image-pull-secrets`;
/** On a ServiceAccount that carries the record, so the operator finds it again without caching all of them. */
export const WIRED_LABEL = `${PREFIX}/image-pull-secrets`;
export const WIRED_LABEL_VALUE = "wired";
/** On a resource while ServiceAccounts may hold its Secret: removed once its entries are gone. */
export const SERVICE_ACCOUNTS_FINALIZER = `${PREFIX}/service-accounts`;

/** Owner → Secret name the operator added on the owner's behalf. */
export type WiredRecord = Record<string, string>;

/** One imagePullSecrets entry (a LocalObjectReference); unknown fields are carried through untouched. */
export interface PullSecretRef {
  name?: string;
}

/** The record key of a resource: `AWSAssumeRole/<name>` (same namespace) or `ClusterAWSAssumeRole/<name>`. */
export function ownerKey(kind: string, name: string): string {
  return `${kind}/${name}`;
}

/** The record from the annotation; anything unreadable counts as no record (so nothing is ever removed for it). */
export function parseRecord(annotation: string | undefined): WiredRecord {
  if (!annotation) return {};
  try {
    const parsed = JSON.parse(annotation) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
  } catch {
    return {};
  }
}

/** The annotation value for a record, keys sorted (so equal records compare equal); undefined when empty. */
export function formatRecord(record: WiredRecord): string | undefined {
  const keys = Object.keys(record).sort();
  return keys.length ? JSON.stringify(Object.fromEntries(keys.map((k) => [k, record[k]]))) : undefined;
}

export interface Wiring {
  imagePullSecrets: PullSecretRef[];
  record: WiredRecord;
  changed: boolean;
}

/**
 * The imagePullSecrets and record after `owner` wants `secretName` in them (undefined: wants nothing). An entry
 * already present that no owner recorded is the user's: it satisfies the owner but is not recorded, so it stays
 * when the owner stops wanting it. An entry is removed only when its last recording owner lets go of it.
 */
export function wirePullSecret(
  current: readonly PullSecretRef[],
  record: WiredRecord,
  owner: string,
  secretName: string | undefined,
): Wiring {
  let list = [...current];
  const next: WiredRecord = { ...record };
  const had = next[owner];
  if (had !== undefined && had !== secretName) {
    delete next[owner];
    if (!Object.values(next).includes(had)) list = list.filter((e) => e.name !== had);
  }
  if (secretName !== undefined) {
    if (!list.some((e) => e.name === secretName)) {
      list.push({ name: secretName });
      next[owner] = secretName;
    } else if (had === secretName || Object.values(next).includes(secretName)) {
      next[owner] = secretName; // ours already (perhaps through another owner): shared, removed with the last
    }
  }
  const changed =
    JSON.stringify(list) !== JSON.stringify(current) || formatRecord(next) !== formatRecord(record);
  return { imagePullSecrets: list, record: next, changed };
}
