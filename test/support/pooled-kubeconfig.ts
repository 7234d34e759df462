// A KubeConfig whose requests share one connection pool: the typed client-node client of tests and benchmarks (the
// operator itself speaks through src/kube/client.ts).
//
// client-node 2.x builds a new undici Agent in every applySecurityAuthentication call, that is for every request:
// each request opens its own TLS connection (a handshake, a fresh TLS context with the CA parsed again) and leaves
// it open until undici's keep-alive timeout. Measured against the test world, 6,000 reads made the process's RSS
// grow from 113 to 280 MiB with 35 MiB of live heap — native memory of connections and TLS contexts — which is
// what got the operator OOM-killed inside the chart's 256 MiB. Here the first Agent made for a given set of TLS
// settings is kept and handed to every later request, so requests reuse keep-alive connections the way client-go's
// shared transport does; a change of those settings (another context, a rotated certificate file) gets a new pool
// and the old one is closed once its requests are done.
import { statSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import type { RequestContext } from "@kubernetes/client-node";

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

export class PooledKubeConfig extends KubeConfig {
  #pool: { key: string; dispatcher: Dispatcher } | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    if (made === undefined) return; // plain HTTP without TLS settings: fetch's global pool is shared already
    const key = this.tlsKey();
    if (this.#pool?.key !== key) {
      const old = this.#pool?.dispatcher;
      this.#pool = { key, dispatcher: made };
      if (old) void closeQuietly(old);
      return;
    }
    context.setDispatcher(this.#pool.dispatcher);
    void closeQuietly(made); // never connected: closing frees it at once
  }

  /** What the TLS settings of a request are made from; files by path and modification time. */
  private tlsKey(): string {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    return JSON.stringify([
      cluster?.server,
      cluster?.proxyUrl,
      cluster?.skipTLSVerify,
      cluster?.tlsServerName,
      cluster?.caData,
      fileStamp(cluster?.caFile),
      user?.certData,
      fileStamp(user?.certFile),
      user?.keyData,
      fileStamp(user?.keyFile),
    ]);
  }
}

function fileStamp(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    const s = statSync(path);
    return `${path}@${s.mtimeMs}:${s.size}`;
  } catch {
    return `${path}@missing`;
  }
}

async function closeQuietly(dispatcher: Dispatcher): Promise<void> {
  try {
    await (dispatcher as { close?: () => Promise<void> }).close?.();
  } catch {
    // closing a pool that is already closed or never connected
  }
}
