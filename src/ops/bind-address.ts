// A bind address as the flags give it (host:port, [ipv6]:port, :port): parsed once for the config's check and for
// the servers that listen on it.

/** host undefined means every interface; undefined when it is no bind address. */
export function parseBindAddress(address: string): { host: string | undefined; port: number } | undefined {
  const m = /^(.*):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1] === "" ? undefined : m[1]!.replace(/^\[|\]$/g, ""), port };
}
