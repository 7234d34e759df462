// The test world for integration tests: reuses the running `scripts/testenv` world (or starts one), and hands out
// a KubeConfig, a fresh namespace per test (deleted afterwards), AWS endpoint settings and proxy controls.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { startAwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import { AwsProxyClient } from "./aws-proxy-client.ts";
import { PooledKubeConfig } from "./pooled-kubeconfig.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";

const run = promisify(execFile);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface World {
  /** The admin KubeConfig of the test world (client-node, for tests' typed calls). */
  kubeConfig: k8s.KubeConfig;
  /** The same credentials through the operator's own transport (src/kube/client.ts). */
  client: KubeClient;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  /** Environment of the world (KUBECONFIG, AWS_ENDPOINT_URL, AWS_REGION, test keys, ...). */
  env: Record<string, string>;
  /** The shared AWS proxy started by scripts/testenv. */
  proxy: AwsProxyClient;
  motoUrl: string;
  helm: string;
}

/** A test context as node:test passes it; only the parts we use. */
export interface TestContext {
  name: string;
  after(fn: () => unknown): void;
}

let worldPromise: Promise<World> | undefined;

/**
 * The running test world; `scripts/testenv up` is idempotent and serialised with a lock. With AAR_TESTENV_DIR set to
 * another checkout's `.testenv`, the world that checkout runs is used as it is and nothing is started here (a second
 * work tree of the repository sharing one node world).
 */
export function world(): Promise<World> {
  worldPromise ??= (async () => {
    const stateDir = process.env.AAR_TESTENV_DIR || join(ROOT, ".testenv");
    if (!process.env.AAR_TESTENV_DIR) {
      await run(join(ROOT, "scripts", "testenv"), ["up"], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    }
    const env = parseEnv(readFileSync(join(stateDir, "env"), "utf8"));
    const kubeConfig = new PooledKubeConfig();
    kubeConfig.loadFromFile(env.KUBECONFIG!);
    return {
      kubeConfig,
      client: new KubeClient(loadConnection({ env: { KUBECONFIG: env.KUBECONFIG! } })),
      core: kubeConfig.makeApiClient(k8s.CoreV1Api),
      custom: kubeConfig.makeApiClient(k8s.CustomObjectsApi),
      env,
      proxy: new AwsProxyClient(env.AWS_PROXY_URL!),
      motoUrl: env.MOTO_URL!,
      helm: env.TESTENV_HELM!,
    };
  })();
  return worldPromise;
}

export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** A fresh namespace for one test, deleted (with everything in it) when the test ends. */
export async function freshNamespace(t: TestContext, labels: Record<string, string> = {}): Promise<string> {
  const w = await world();
  const slug = t.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 40)
    .replace(/-$/, "");
  const name = `t-${slug}-${randomBytes(3).toString("hex")}`;
  await w.core.createNamespace({ body: { metadata: { name, labels: { "aar-test": "true", ...labels } } } });
  t.after(async () => {
    await w.core.deleteNamespace({ name }).catch(() => undefined);
  });
  return name;
}

/** A private AWS proxy in front of the world's moto, for tests that inject faults or shorten lifetimes. */
export async function privateProxy(t: TestContext): Promise<AwsProxy> {
  const w = await world();
  const proxy = await startAwsProxy({ upstream: w.motoUrl });
  t.after(() => proxy.close());
  return proxy;
}

/** Environment for an AWS SDK client or a child process talking to AWS through `endpoint`. */
export async function awsEnv(endpoint?: string): Promise<Record<string, string>> {
  const w = await world();
  const env: Record<string, string> = {};
  for (const key of [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_EC2_METADATA_DISABLED",
  ]) {
    env[key] = w.env[key]!;
  }
  env.AWS_ENDPOINT_URL = endpoint ?? w.env.AWS_ENDPOINT_URL!;
  return env;
}

/** Polls `check` until it returns a value other than undefined, or fails with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Fails with `check`'s message if it reports a change at any time within `ms` (checked every 200 ms). */
export async function staysTheSame(ms: number, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const change = await check();
    if (change !== undefined) throw new Error(change);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** kubectl against the test world. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const w = await world();
  const child = run("kubectl", args, {
    env: { ...process.env, KUBECONFIG: w.env.KUBECONFIG },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}
