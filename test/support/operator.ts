// Runs the real operator (src/main.ts under Node 24) as a child process against the test world, scoped to the
// test's own namespaces so parallel tests do not meet, and keeps everything it printed for assertions.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { join } from "node:path";
import { ROOT, awsEnv, eventually, kubectl, world } from "./world.ts";
import type { TestContext } from "./world.ts";
import type { AWSAssumeRole } from "../../src/api/schema.ts";
import assert from "node:assert/strict";
import { ApiException } from "@kubernetes/client-node";
import type { V1Secret } from "@kubernetes/client-node";
import { FORCE_REFRESH_ANNOTATION } from "../../src/domain/plan.ts";
import { renderPlainCrds } from "../../src/api/crd.ts";

const NODE = join(ROOT, "node_modules", ".bin", "node");
const MAIN = join(ROOT, "src", "main.ts");

export interface OperatorOptions {
  namespaces: string[];
  /** AWS endpoint (a private proxy's url); defaults to the world's shared proxy. */
  awsEndpoint?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Log message that means "started"; a standby under leader election never logs "workers started". */
  waitFor?: string;
  /** Serve /metrics and the health probes on free local ports (default: both disabled). */
  endpoints?: boolean;
}

export interface RunningOperator {
  child: ChildProcess;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
  /** Base URLs of the endpoints, with `endpoints: true`. */
  metricsUrl?: string;
  healthUrl?: string;
}

/** `count` distinct TCP ports that were free a moment ago on 127.0.0.1 (held open together, so distinct). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

let crdInstalled: Promise<void> | undefined;

/** Operators this test process started and has not yet seen exit. */
const running = new Set<RunningOperator>();

/** Kills every operator this process started (a lock they hold may then be released). */
export async function killOperators(): Promise<void> {
  await Promise.all([...running].map((r) => r.kill()));
}

/**
 * Applies the plain CRDs (src/api, as the chart's templates hold them) once per test process and waits until they
 * are served. Tests install the chart with `crds.enabled=false`: the CRDs are cluster-wide and shared by every test.
 */
export function ensureCrd(): Promise<void> {
  crdInstalled ??= (async () => {
    await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], renderPlainCrds());
    await kubectl([
      "wait",
      "--for",
      "condition=established",
      "--timeout=60s",
      "crd/awsassumeroles.pincette.net",
      "crd/clusterawsassumeroles.pincette.net",
    ]);
  })();
  return crdInstalled;
}

/** Starts the operator; it is stopped when the test ends. */
export async function startOperator(t: TestContext, options: OperatorOptions): Promise<RunningOperator> {
  await ensureCrd();
  const w = await world();
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    KUBECONFIG: w.env.KUBECONFIG!,
    ...(await awsEnv(options.awsEndpoint)),
    ...options.env,
  };
  const args = [
    MAIN,
    "--namespaces",
    options.namespaces.join(","),
    "--metrics-bind-address",
    "0",
    "--health-probe-bind-address",
    "0",
    "--log-level",
    "debug",
  ];
  let urls: { metricsUrl?: string; healthUrl?: string } = {};
  if (options.endpoints) {
    const [metricsPort, healthPort] = await freePorts(2);
    args.push("--metrics-bind-address", `127.0.0.1:${metricsPort}`);
    args.push("--health-probe-bind-address", `127.0.0.1:${healthPort}`);
    urls = { metricsUrl: `http://127.0.0.1:${metricsPort}`, healthUrl: `http://127.0.0.1:${healthPort}` };
  }
  args.push(...(options.args ?? []));
  const child = spawn(NODE, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  // "close", not "exit": by then everything the process printed has arrived.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const operator: RunningOperator = {
    child,
    output: () => output,
    logs: () =>
      output
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    exited,
    ...urls,
  };
  running.add(operator);
  void exited.then(() => running.delete(operator));
  t.after(() => operator.kill());
  const waitFor = options.waitFor ?? "workers started";
  await eventually(
    `operator to log "${waitFor}"`,
    () => (output.includes(waitFor) ? true : undefined),
    30_000,
  );
  return operator;
}

/** Reads an AWSAssumeRole. */
export async function getResource(namespace: string, name: string): Promise<AWSAssumeRole> {
  const w = await world();
  return (await w.custom.getNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace,
    name,
  })) as AWSAssumeRole;
}

/** Creates an AWSAssumeRole from a spec. */
export async function createResource(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
): Promise<AWSAssumeRole> {
  const w = await world();
  return (await w.custom.createNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace,
    body: {
      apiVersion: "pincette.net/v1",
      kind: "AWSAssumeRole",
      metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
      spec,
    },
  })) as AWSAssumeRole;
}

/** Creates a ClusterAWSAssumeRole from a spec; it is deleted when the test ends. */
export async function createClusterResource(
  t: TestContext,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  const w = await world();
  const id = { group: "pincette.net", version: "v1", plural: "clusterawsassumeroles" };
  await w.custom.createClusterCustomObject({
    ...id,
    body: { apiVersion: "pincette.net/v1", kind: "ClusterAWSAssumeRole", metadata: { name }, spec },
  });
  t.after(() => w.custom.deleteClusterCustomObject({ ...id, name }).catch(() => undefined));
}

/** The Ready condition of a resource, once it has one with the given status (and reason, if given). */
export async function waitForReady(
  namespace: string,
  name: string,
  status: "True" | "False" = "True",
  reason?: string,
  timeoutMs = 30_000,
): Promise<AWSAssumeRole> {
  return eventually(
    `${namespace}/${name} Ready=${status}${reason ? ` (${reason})` : ""}`,
    async () => {
      const r = await getResource(namespace, name);
      const ready = r.status?.conditions?.find((c) => c.type === "Ready");
      if (ready?.status === status && (reason === undefined || ready.reason === reason)) return r;
      return undefined;
    },
    timeoutMs,
  );
}

/** Decoded data of a Secret, or undefined when it does not exist. */
export async function secretData(
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  const w = await world();
  try {
    const s = await w.core.readNamespacedSecret({ namespace, name });
    return Object.fromEntries(
      Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
    );
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** The original operator's README, for tests that apply its manifests verbatim. */
export function originalReadme(): string {
  return readFileSync(join(ROOT, "..", "shared", "reference", "original-operator-README.md"), "utf8");
}

/** A Map spec for role `my-role` writing `secretName`. */
export function mapSpec(secretName: string): Record<string, unknown> {
  return { roleName: "my-role", secretName, secretType: "Map" };
}

/** A Secret as the API server has it, or undefined when it does not exist. */
export async function readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
  const w = await world();
  try {
    return await w.core.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export interface EventSummary {
  type: string;
  reason: string;
  message: string;
  /** Name of the involved object. */
  name: string;
  count: number;
}

/** The Events of a namespace. */
export async function events(namespace: string): Promise<EventSummary[]> {
  const list = JSON.parse(await kubectl(["get", "events", "-n", namespace, "-o", "json"])) as {
    items: {
      type: string;
      reason: string;
      message: string;
      count?: number;
      involvedObject: { name: string };
    }[];
  };
  return list.items.map((e) => ({
    type: e.type,
    reason: e.reason,
    message: e.message,
    name: e.involvedObject.name,
    count: e.count ?? 1,
  }));
}

/** Operator flags for tests that wait on retries: short backoff instead of the production defaults. */
export const FAST_RETRY = [
  "--backoff-base-ms",
  "200",
  "--backoff-max-ms",
  "2000",
  "--permanent-error-retry-ms",
  "1000",
];

/** Sets the resource's force-refresh annotation (kubectl annotate), as a user would. */
export async function forceRefresh(namespace: string, name: string, value: string): Promise<void> {
  await kubectl([
    "annotate",
    "--overwrite",
    "awsassumeroles.pincette.net",
    name,
    "-n",
    namespace,
    `${FORCE_REFRESH_ANNOTATION}=${value}`,
  ]);
}

/** A server-side dry-run create of `spec`: the API server's message when it refuses, a failure when it accepts. */
export async function rejection(spec: Record<string, unknown>): Promise<string> {
  await ensureCrd();
  const w = await world();
  try {
    await w.custom.createNamespacedCustomObject({
      group: "pincette.net",
      version: "v1",
      plural: "awsassumeroles",
      namespace: "default",
      body: {
        apiVersion: "pincette.net/v1",
        kind: "AWSAssumeRole",
        metadata: { generateName: "bad-" },
        spec,
      },
      dryRun: "All",
    });
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an API error, got ${String(err)}`);
    assert.equal(err.code, 422, "422 Unprocessable Entity");
    const message = (JSON.parse(err.body as string) as { message?: string }).message;
    assert.ok(message, "the Status has a message");
    return message;
  }
  assert.fail(`the API server accepted ${JSON.stringify(spec)}`);
}
