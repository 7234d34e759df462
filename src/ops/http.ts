// The operator's two small HTTP endpoints: Prometheus metrics, and the health probes (/healthz fails while an
// informer's watch is stalled beyond the watchdog's limit; /readyz passes once the caches are synced — standbys
// included, so a rollout does not wait for leadership).
import type { Server } from "node:http";
import type { Registry } from "prom-client";
import { parseBindAddress } from "./bind-address.ts";

// node:http is taken with process.getBuiltinModule, not imported: importing it as an ES module builds its namespace,
// whose lazy getters load undici (about 13 MiB of RSS; src/lazy-imports.test.ts).
const { createServer } = process.getBuiltinModule("node:http");

export interface HealthSource {
  synced(): boolean;
  stalledInformers(): string[];
}

export function startMetricsServer(address: string, registry: Registry): Promise<Server | undefined> {
  return listen(address, async (path) => {
    if (path !== "/metrics") return { status: 404, body: "not found\n" };
    return { status: 200, body: await registry.metrics(), type: registry.contentType };
  });
}

export function startHealthServer(address: string, source: HealthSource): Promise<Server | undefined> {
  return listen(address, async (path) => {
    if (path === "/healthz") {
      const stalled = source.stalledInformers();
      return stalled.length === 0
        ? { status: 200, body: "ok\n" }
        : { status: 500, body: `stalled watches: ${stalled.join(", ")}\n` };
    }
    if (path === "/readyz") {
      return source.synced() ? { status: 200, body: "ok\n" } : { status: 503, body: "caches not synced\n" };
    }
    return { status: 404, body: "not found\n" };
  });
}

type Handler = (path: string) => Promise<{ status: number; body: string; type?: string }>;

async function listen(address: string, handler: Handler): Promise<Server | undefined> {
  const bind = parseBindAddress(address);
  if (!bind) return undefined; // "0": disabled
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    handler(path).then(
      ({ status, body, type }) => {
        res.writeHead(status, { "content-type": type ?? "text/plain; charset=utf-8" });
        res.end(body);
      },
      (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end(`${(err as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(bind.port, bind.host, () => resolve());
  });
  return server;
}
