// The benchmark's own Kubernetes side: namespaces it creates (labelled aar-bench, deleted at the end of each
// scenario or on interrupt) and objects created at once through a bounded pool of concurrent requests.
import { randomBytes } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../src/api/schema.ts";
import type { AWSAssumeRoleSpec } from "../src/api/schema.ts";
import { world } from "../test/support/world.ts";
import { sleep } from "./operator-process.ts";

export const BENCH_LABEL = "aar-bench";

/** Namespaces created and not yet deleted, for cleanup on interrupt. */
export const liveNamespaces = new Set<string>();
/** Node objects (no kubelet behind them) created and not yet deleted, for cleanup on interrupt. */
export const liveNodes = new Set<string>();

export async function createNamespace(scenario: string): Promise<string> {
  const w = await world();
  const name = `bench-${scenario}-${randomBytes(3).toString("hex")}`;
  await withRetry(`create namespace ${name}`, () =>
    w.core.createNamespace({ body: { metadata: { name, labels: { [BENCH_LABEL]: scenario } } } }),
  );
  liveNamespaces.add(name);
  return name;
}

/** Deletes namespaces and waits (bounded) until they are gone, so the next measurement starts on a quiet world. */
export async function deleteNamespaces(
  names: string[],
  timeoutMs: number,
): Promise<{ gone: boolean; ms: number }> {
  const w = await world();
  const started = Date.now();
  await Promise.all(names.map((name) => w.core.deleteNamespace({ name }).catch(() => undefined)));
  for (const name of names) liveNamespaces.delete(name);
  const deadline = started + timeoutMs;
  for (;;) {
    const present = await Promise.all(
      names.map((name) =>
        w.core.readNamespace({ name }).then(
          () => true,
          (err: { code?: number }) => err.code !== 404,
        ),
      ),
    );
    if (!present.some(Boolean)) return { gone: true, ms: Date.now() - started };
    if (Date.now() > deadline) return { gone: false, ms: Date.now() - started };
    await sleep(500);
  }
}

/** Runs `fn` over `items` with at most `concurrency` at once; resolves when all are done. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Calls `fn`, retrying throttling (the apiserver answers 429 while a CRD's storage reinitialises), server
 * errors and dropped connections a few times with backoff. */
export async function retry<T>(what: string, fn: () => Promise<T>, attempt = 0): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const retryable = typeof code !== "number" || code === 429 || code >= 500;
    if (!retryable || attempt >= 6) throw new Error(`${what}: ${firstLine(err)}`, { cause: err });
    await sleep(250 * 2 ** attempt);
    return retry(what, fn, attempt + 1);
  }
}

/** Like retry, for creates: a retried create that finds the object already there (409) succeeded before. */
export async function withRetry(what: string, fn: () => Promise<unknown>): Promise<void> {
  let attempts = 0;
  await retry(what, async () => {
    try {
      await fn();
    } catch (err) {
      if ((err as { code?: unknown }).code === 409 && attempts > 0) return;
      throw err;
    } finally {
      attempts++;
    }
  });
}

/** The first line of an error's message (client-node puts whole responses in its messages). */
export function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const body = /"message":"((?:[^"\\]|\\.)*)"/.exec(message.replace(/\\"/g, '"'))?.[1];
  return `${message.split("\n")[0]}${body ? ` (${body})` : ""}`;
}

export function resourceNames(count: number, prefix = "r"): string[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(width, "0")}`);
}

/** The spec every benchmark resource uses: a Map Secret named after the resource, one-hour sessions. */
export function benchSpec(name: string): AWSAssumeRoleSpec {
  return { roleName: "bench-role", secretName: `${name}-aws`, secretType: "Map", durationSeconds: 3600 };
}

/** Creates the resources through the pool; returns when each create call returned (ms), by name. */
export async function createResources(
  namespace: string,
  names: readonly string[],
  concurrency: number,
): Promise<Map<string, number>> {
  const w = await world();
  const createdAt = new Map<string, number>();
  await pool(names, concurrency, async (name) => {
    await withRetry(`create ${namespace}/${name}`, () =>
      w.custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "AWSAssumeRole",
          metadata: { name, namespace },
          spec: benchSpec(name),
        },
      }),
    );
    createdAt.set(name, Date.now());
  });
  return createdAt;
}

/** Creates `count` unlabelled Opaque Secrets of `bytes` data each, spread round-robin over `namespaces`. */
export async function createUnrelatedSecrets(
  namespaces: readonly string[],
  count: number,
  bytes: number,
  concurrency: number,
  onProgress?: (done: number) => void,
): Promise<void> {
  const w = await world();
  const payload = randomBytes(Math.ceil((bytes * 3) / 4))
    .toString("base64")
    .slice(0, bytes);
  let done = 0;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      const namespace = namespaces[i % namespaces.length]!;
      const body: V1Secret = {
        metadata: { name: `unrelated-${i}`, namespace, labels: { app: "unrelated" } },
        type: "Opaque",
        data: { payload: Buffer.from(payload).toString("base64") },
      };
      await withRetry(`create Secret ${namespace}/unrelated-${i}`, () =>
        w.core.createNamespacedSecret({ namespace, body }),
      );
      if (++done % 5000 === 0) onProgress?.(done);
    },
  );
}
