// The transport's two connection pools: keep-alive sockets for ordinary requests, and a pool of its own for watches,
// which hold a socket each for minutes, so that no number of watches makes a write wait for a socket. Both are made
// again when a TLS file (CA, client certificate or key) is rewritten.
import type { Agent } from "node:http";
import https from "node:https";
import { readFileSync, statSync } from "node:fs";
import type { Connection, TlsSource } from "./client.ts";

// node:http is taken with process.getBuiltinModule, not imported: importing it as an ES module builds its namespace,
// whose lazy getters load undici (about 13 MiB of RSS; src/lazy-imports.test.ts).
const http = process.getBuiltinModule("node:http");

/** How often file-based TLS material is checked for a change. */
const TLS_RECHECK_MS = 10_000;
/** Sockets of the request pool: requests are short, so this bounds concurrency towards the API server only. */
export const MAX_REQUEST_SOCKETS = 256;
/** Idle sockets each pool keeps. */
const MAX_FREE_SOCKETS = 32;

/** `request` for everything that answers and ends; `watch` for streams that stay open. */
export type PoolKind = "request" | "watch";

interface Pools {
  key: string;
  checkedAtMs: number;
  request: Agent;
  watch: Agent;
}

export class Agents {
  private readonly connection: Connection;
  private readonly secure: boolean;
  private pools: Pools | undefined;

  constructor(connection: Connection, secure: boolean) {
    this.connection = connection;
    this.secure = secure;
  }

  /** The pool of this kind for the current TLS settings; a rewritten certificate file gets new pools. */
  get(kind: PoolKind): Agent {
    const now = Date.now();
    if (this.pools && now - this.pools.checkedAtMs < TLS_RECHECK_MS) return this.pools[kind];
    const key = this.tlsKey();
    if (this.pools?.key === key) {
      this.pools.checkedAtMs = now;
      return this.pools[kind];
    }
    const old = this.pools;
    // A watch is one socket for minutes and there is one per watched path and namespace, so its pool has no
    // limit (as many sockets as watches, like client-go over HTTP/1.1); requests keep theirs to themselves.
    this.pools = {
      key,
      checkedAtMs: now,
      request: this.agent({ maxSockets: MAX_REQUEST_SOCKETS, scheduling: "lifo" }),
      watch: this.agent({ maxSockets: Infinity }),
    };
    // Requests and watches still running on the old pools finish; their idle sockets go once they are released.
    if (old)
      setTimeout(() => {
        old.request.destroy();
        old.watch.destroy();
      }, 60_000).unref();
    return this.pools[kind];
  }

  /** Closes the idle connections of both pools (in-flight requests and open watches finish). */
  close(): void {
    this.pools?.request.destroy();
    this.pools?.watch.destroy();
    this.pools = undefined;
  }

  private agent(limits: { maxSockets: number; scheduling?: "lifo" }): Agent {
    const options = { keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS, ...limits };
    if (!this.secure) return new http.Agent(options);
    const c = this.connection;
    return new https.Agent({
      ...options,
      rejectUnauthorized: !c.insecureSkipTlsVerify,
      ...(c.tlsServerName ? { servername: c.tlsServerName } : {}),
      ...tlsMaterial("ca", c.ca),
      ...tlsMaterial("cert", c.cert),
      ...tlsMaterial("key", c.key),
    });
  }

  private tlsKey(): string {
    const { ca, cert, key } = this.connection;
    return JSON.stringify([stamp(ca), stamp(cert), stamp(key)]);
  }
}

function tlsMaterial(name: "ca" | "cert" | "key", source: TlsSource | undefined): Record<string, Buffer> {
  if (!source) return {};
  if ("data" in source) return { [name]: source.data };
  // Read when a pool is made; the pool lives until the file's modification time or size changes.
  return { [name]: readFileSync(source.file) };
}

function stamp(source: TlsSource | undefined): string | undefined {
  if (!source || "data" in source) return undefined;
  try {
    const s = statSync(source.file);
    return `${source.file}@${s.mtimeMs}:${s.size}`;
  } catch {
    return `${source.file}@missing`;
  }
}
