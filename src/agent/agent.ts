// The node agent put together from its config: the watched files, the authority client, the cache and the HTTP
// servers. main.ts runs it on the link-local addresses; tests and the memory bench run it on 127.0.0.1.
import type { Server } from "node:http";
import type { AgentConfig } from "./config.ts";
import { AuthorityClient } from "./authority-client.ts";
import { CredentialCache } from "./cache.ts";
import { CredentialSource } from "./credential-source.ts";
import type { AgentLog } from "./logging.ts";
import { closeAll, createRequestHandler, listenAll } from "./server.ts";
import { WatchedFile } from "./watched-file.ts";

export type AgentSettings = Pick<
  AgentConfig,
  "listen" | "authorityUrl" | "authorityAddress" | "authorityCaFile" | "tokenFile" | "cacheMaxEntries"
>;

export interface AgentOptions {
  /** Addresses a request may arrive on and name in its Host. */
  permittedAddresses: readonly string[];
  log: AgentLog;
  /** Deadline of one request to the authority. */
  authorityTimeoutMs?: number;
  /** How often the CA and token files are looked at (on use). */
  fileCheckMs?: number;
  now?: () => number;
}

export interface RunningAgent {
  servers: Server[];
  cache: CredentialCache;
  /** Stops accepting, finishes the requests in flight (up to graceMs), closes the connections to the authority. */
  close(graceMs?: number): Promise<void>;
}

const PRUNE_EVERY_MS = 60_000;

export async function startAgent(settings: AgentSettings, options: AgentOptions): Promise<RunningAgent> {
  const { log } = options;
  const now = options.now ?? Date.now;
  const caFile = new WatchedFile(settings.authorityCaFile, {
    checkEveryMs: options.fileCheckMs ?? 1000,
    now,
    onChange: (state) =>
      (state === "missing" ? log.warn : log.info)(`authority CA ${state}`, {
        path: settings.authorityCaFile,
      }),
  });
  const tokenFile = new WatchedFile(settings.tokenFile, {
    checkEveryMs: options.fileCheckMs ?? 1000,
    now,
    onChange: (state) => {
      if (state !== "changed") log.info(`agent token ${state}`, { path: settings.tokenFile });
    },
  });
  if (!caFile.read()) log.warn("authority CA not there yet", { path: settings.authorityCaFile });
  const authority = new AuthorityClient({
    url: settings.authorityUrl,
    address: settings.authorityAddress,
    caFile,
    tokenFile,
    timeoutMs: options.authorityTimeoutMs ?? 5000,
    log,
  });
  const cache = new CredentialCache(settings.cacheMaxEntries);
  const source = new CredentialSource(authority, cache, log, now);
  const handler = createRequestHandler({
    permittedAddresses: options.permittedAddresses,
    credentials: source,
    caPresent: () => caFile.read() !== undefined,
    log,
  });
  const servers = await listenAll(settings.listen, handler);
  const pruning = setInterval(() => cache.prune(now()), PRUNE_EVERY_MS).unref();
  return {
    servers,
    cache,
    async close(graceMs = 10_000) {
      clearInterval(pruning);
      await closeAll(servers, graceMs);
      authority.close();
    },
  };
}
