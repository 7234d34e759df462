// Which addresses the agent may listen on and which Host a request may name: pure checks on plain values.

/** The addresses the AWS SDKs accept over plain HTTP for the container credential provider. */
export const LINK_LOCAL_ADDRESSES: readonly string[] = ["169.254.170.23", "fd00:ec2::23"];

/** One spelling per address: IPv6 lower-case and compressed, IPv4-mapped IPv6 as IPv4, no brackets. */
export function canonicalAddress(address: string): string {
  const bare = address.replace(/^\[|\]$/g, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1]!;
  if (!bare.includes(":")) return bare;
  try {
    return new URL(`http://[${bare}]/`).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return bare;
  }
}

/** The host part of a Host header: "169.254.170.23:80" → "169.254.170.23", "[fd00:ec2::23]:80" → "fd00:ec2::23". */
export function hostOfHeader(header: string): string | undefined {
  const h = header.trim();
  if (h.startsWith("[")) {
    const m = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(h);
    return m ? canonicalAddress(m[1]!) : undefined;
  }
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(h);
  return m ? canonicalAddress(m[1]!) : undefined;
}

/**
 * A request is served only when it arrived on one of the permitted addresses and its Host names that very address:
 * a request forged through another name (a DNS name, another IP) gets nothing.
 */
export function hostPermitted(
  hostHeader: string | undefined,
  localAddress: string | undefined,
  permitted: readonly string[],
): boolean {
  if (!hostHeader || !localAddress) return false;
  const local = canonicalAddress(localAddress);
  if (!permitted.some((a) => canonicalAddress(a) === local)) return false;
  return hostOfHeader(hostHeader) === local;
}

/** Whether this host holds the address on one of its interfaces (os.networkInterfaces() passed in). */
export function isAddressOfThisNode(
  address: string,
  interfaces: NodeJS.Dict<{ address: string }[]>,
): boolean {
  const wanted = canonicalAddress(address);
  return Object.values(interfaces).some((list) => list?.some((i) => canonicalAddress(i.address) === wanted));
}
