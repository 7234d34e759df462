// When the Pod Identity server's certificates are due (the CA and the serving certificate the operator manages), and
// which CAs the published bundle holds. Pure: the times and what the stored certificates say come in as values.

const DAY_MS = 24 * 60 * 60 * 1000;
export const SERVING_CERTIFICATE_LIFETIME_MS = 365 * DAY_MS;
export const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
/** notBefore lies this far back, so a clock a little behind still accepts a certificate just issued. */
export const BACKDATE_MS = 5 * 60 * 1000;

export interface Validity {
  notBeforeMs: number;
  notAfterMs: number;
}

/** What the stored Secret holds, as far as the decision needs it; undefined parts are missing or unusable. */
export interface StoredCertificates {
  ca: { validity: Validity } | undefined;
  serving:
    | {
        validity: Validity;
        /** Subject alternative names as "DNS:name" / "IP:address". */
        names: readonly string[];
        /** Signed by the current CA and matching the stored key. */
        issuedByCa: boolean;
      }
    | undefined;
}

export interface CertificateWork {
  issueCa: boolean;
  issueServing: boolean;
  /** For the log line; empty when nothing is due. */
  reason: string;
}

/** Renewal is due once less than a third of the certificate's life is left (or it is not valid yet or any more). */
export function renewalDue(validity: Validity, nowMs: number): boolean {
  const life = validity.notAfterMs - validity.notBeforeMs;
  if (life <= 0 || nowMs < validity.notBeforeMs) return true;
  return validity.notAfterMs - nowMs < life / 3;
}

/** What has to be issued for `stored`, serving `wantedNames` ("DNS:..." / "IP:..."), at `nowMs`. */
export function certificateWork(
  stored: StoredCertificates,
  wantedNames: readonly string[],
  nowMs: number,
): CertificateWork {
  if (!stored.ca) return { issueCa: true, issueServing: true, reason: "no CA" };
  if (renewalDue(stored.ca.validity, nowMs))
    return { issueCa: true, issueServing: true, reason: "the CA has less than a third of its life left" };
  const serving = stored.serving;
  if (!serving) return { issueCa: false, issueServing: true, reason: "no serving certificate" };
  if (!serving.issuedByCa)
    return {
      issueCa: false,
      issueServing: true,
      reason: "the serving certificate is not the CA's or not its key's",
    };
  if (!sameNames(serving.names, wantedNames))
    return { issueCa: false, issueServing: true, reason: "the serving certificate names other hosts" };
  if (renewalDue(serving.validity, nowMs))
    return {
      issueCa: false,
      issueServing: true,
      reason: "the serving certificate has less than a third of its life left",
    };
  return { issueCa: false, issueServing: false, reason: "" };
}

/** The validity of a certificate issued at `nowMs`, never past its issuer's end. */
export function validityFrom(nowMs: number, lifetimeMs: number, issuerNotAfterMs = Infinity): Validity {
  return { notBeforeMs: nowMs - BACKDATE_MS, notAfterMs: Math.min(nowMs + lifetimeMs, issuerNotAfterMs) };
}

export interface BundleEntry {
  pem: string;
  notAfterMs: number;
}

/**
 * The CAs to trust: the current one first, then earlier ones until they expire, so clients that still hold a
 * certificate of the old CA keep working while the new bundle spreads.
 */
export function caBundle(
  current: BundleEntry,
  previous: readonly BundleEntry[],
  nowMs: number,
): BundleEntry[] {
  const seen = new Set([current.pem.trim()]);
  const kept = [current];
  for (const entry of previous) {
    const pem = entry.pem.trim();
    if (seen.has(pem) || entry.notAfterMs <= nowMs) continue;
    seen.add(pem);
    kept.push(entry);
  }
  return kept;
}

/** The names a serving certificate of Service `service` in `namespace` carries, plus extra IPs and DNS names. */
export function servingNames(
  service: string,
  namespace: string,
  extra: { dnsNames?: readonly string[]; ipAddresses?: readonly string[] } = {},
): string[] {
  const dns = [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    ...(extra.dnsNames ?? []),
  ];
  const names = [...dns.map((n) => `DNS:${n}`), ...(extra.ipAddresses ?? []).map((ip) => `IP:${ip}`)];
  return [...new Set(names)];
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a.map((n) => n.toLowerCase()));
  const right = new Set(b.map((n) => n.toLowerCase()));
  return left.size === right.size && [...left].every((n) => right.has(n));
}
