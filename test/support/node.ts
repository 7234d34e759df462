// The test world's node (`scripts/testenv up --node`) in tests: the images built by scripts/image, the chart
// installed as Pods into `aws-assume-role`, consumer Pods, Pod logs, and private AWS proxies that Pods can reach.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import { startAwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import { adoptCrds, CHART, helm } from "./chart.ts";
import { CRDS, crdName } from "../../src/api/crd.ts";
import { eventually, kubectl, ROOT, world } from "./world.ts";
import type { TestContext, World } from "./world.ts";

const run = promisify(execFile);

/** The namespace and release name the README installs the chart with. */
export const OPERATOR_NAMESPACE = "aws-assume-role";
export const RELEASE = "aws-assume-role";

export interface NodeWorld extends World {
  nodeName: string;
  nodeIp: string;
  /** The world's AWS proxy as Pods reach it. */
  podAwsEndpoint: string;
}

/** The running world with its node; undefined (the caller skips) when the world runs without one. */
export async function nodeWorld(): Promise<NodeWorld | undefined> {
  const w = await world();
  if (!w.env.TESTENV_NODE_IP) return undefined;
  return {
    ...w,
    nodeName: w.env.TESTENV_NODE_NAME!,
    nodeIp: w.env.TESTENV_NODE_IP,
    podAwsEndpoint: w.env.TESTENV_POD_AWS_ENDPOINT_URL!,
  };
}

/** Whether the running world (its .testenv/env) has a node; for `skip` options decided when a file loads. */
export function hasNode(): boolean {
  const file = join(ROOT, ".testenv", "env");
  return existsSync(file) && /^export TESTENV_NODE_IP=/m.test(readFileSync(file, "utf8"));
}

/** Whether the running world's node has its "ECR" registry (testenv/registry), like hasNode. */
export function hasEcrRegistry(): boolean {
  const file = join(ROOT, ".testenv", "env");
  return existsSync(file) && /^export TESTENV_ECR_REGISTRY=/m.test(readFileSync(file, "utf8"));
}

/** A TestContext for a describe() block: its after() callbacks run, newest first, when the suite ends. */
export function suiteContext(name: string, suiteAfter: (fn: () => Promise<void>) => void): TestContext {
  const cleanups: (() => unknown)[] = [];
  suiteAfter(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return { name, after: (fn) => void cleanups.push(fn) };
}

export const NO_NODE =
  "the test world runs without a node (scripts/testenv up --node; scripts/test does this)";

const images = new Map<string, Promise<string>>();

/** Runs a scripts/image command once per test process; resolves to the image reference. */
function image(args: string[]): Promise<string> {
  const key = args.join(" ");
  let built = images.get(key);
  if (!built) {
    built = run(join(ROOT, "scripts", "image"), args, {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 900_000,
    }).then(async ({ stdout }) => {
      if (args[0] === "consumer") return stdout.trim().split("\n").pop()!;
      return (await run(join(ROOT, "scripts", "image"), ["ref"], { cwd: ROOT })).stdout.trim();
    });
    images.set(key, built);
  }
  return built;
}

/** The operator image from the repository's Dockerfile, in the node's containerd. */
export const operatorImage = (): Promise<string> => image(["build"]);

/** A consumer image from testenv/consumers/<name>, in the node's containerd. */
export const consumerImage = (name: string): Promise<string> => image(["consumer", name]);

/**
 * A private AWS proxy in front of the world's moto, listening on the node's address so Pods reach it. Its ECR tokens
 * are ones the node's registry accepts (the key the world shares with it).
 */
export async function podReachableProxy(t: TestContext, w: NodeWorld): Promise<AwsProxy> {
  const proxy = await startAwsProxy({
    upstream: w.motoUrl,
    host: w.nodeIp,
    ecrTokenKey: w.env.TESTENV_ECR_TOKEN_KEY,
  });
  t.after(() => proxy.close());
  return proxy;
}

/** The chart's default values, as the chart declares them (tests read, never restate, e.g. resources). */
export async function chartValues(): Promise<Record<string, unknown>> {
  return parse(await helm(["show", "values", CHART])) as Record<string, unknown>;
}

/**
 * Installs the chart as the README does (release and namespace `aws-assume-role`, the namespace enforcing the
 * restricted Pod Security Standard), with values only where the test world differs: the image, its pull policy,
 * the AWS endpoint and the emulator's credentials. Waits for the rollout; uninstalls when the test ends.
 */
export async function installOperator(
  t: TestContext,
  w: NodeWorld,
  awsEndpoint: string,
  extraValues: Record<string, unknown> = {},
): Promise<void> {
  const ref = await operatorImage();
  const [repository, tag] = [ref.slice(0, ref.lastIndexOf(":")), ref.slice(ref.lastIndexOf(":") + 1)];
  const values = {
    image: { repository, tag, pullPolicy: "Never" },
    aws: { region: w.env.AWS_REGION },
    extraEnv: [
      { name: "AWS_ENDPOINT_URL", value: awsEndpoint },
      { name: "AWS_ACCESS_KEY_ID", value: w.env.AWS_ACCESS_KEY_ID },
      { name: "AWS_SECRET_ACCESS_KEY", value: w.env.AWS_SECRET_ACCESS_KEY },
    ],
    ...extraValues,
  };
  const dir = mkdtempSync(join(tmpdir(), "aar-values-"));
  const file = join(dir, "values.json");
  writeFileSync(file, JSON.stringify(values));
  await uninstallOperator();
  await kubectl(["create", "namespace", OPERATOR_NAMESPACE]);
  await kubectl([
    "label",
    "namespace",
    OPERATOR_NAMESPACE,
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
  ]);
  t.after(uninstallOperator);
  // The integration tests apply the CRDs as plain YAML; the chart installs them itself (crds.enabled, as the README
  // says), so it first adopts the ones already there, with the commands docs/chart.md gives users.
  const existing = (await kubectl(["get", "crd", "-o", "name"]))
    .split("\n")
    .map((n) => n.replace(/^.*\//, ""));
  const ours = CRDS.map(crdName).filter((name) => existing.includes(name));
  if (ours.length > 0) await adoptCrds(RELEASE, OPERATOR_NAMESPACE, ours);
  try {
    await helm([
      "install",
      RELEASE,
      CHART,
      "--namespace",
      OPERATOR_NAMESPACE,
      "--values",
      file,
      "--wait",
      "--timeout",
      "3m",
    ]);
  } catch (err) {
    throw new Error(`helm install failed: ${String(err)}\n${await describePods(OPERATOR_NAMESPACE)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes the release (also one `scripts/demo --node` left) with its cluster-scoped RBAC, and its namespace. */
export async function uninstallOperator(): Promise<void> {
  await helm(["uninstall", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--wait", "--ignore-not-found"]);
  await kubectl(["delete", "namespace", OPERATOR_NAMESPACE, "--ignore-not-found", "--wait=true"]);
}

/** `kubectl describe pods` and events of a namespace, for failure messages. */
export async function describePods(namespace: string): Promise<string> {
  const out = await kubectl(["describe", "pods", "-n", namespace]).catch((err: unknown) => String(err));
  const events = await kubectl(["get", "events", "-n", namespace]).catch((err: unknown) => String(err));
  return `${out}\n${events}`;
}

export async function operatorPods(w: World): Promise<k8s.V1Pod[]> {
  const pods = await w.core.listNamespacedPod({
    namespace: OPERATOR_NAMESPACE,
    labelSelector: "app.kubernetes.io/name=aws-assume-role",
  });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp);
}

export const isReady = (pod: k8s.V1Pod): boolean =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** The holder of the operator's Lease ("" when released). */
export async function leaseHolder(w: World): Promise<string> {
  const coordination = w.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  const lease = await coordination.readNamespacedLease({ name: RELEASE, namespace: OPERATOR_NAMESPACE });
  return lease.spec?.holderIdentity ?? "";
}

/** Creates a Pod and waits until it runs (or fails with its description). */
export async function runPod(namespace: string, pod: k8s.V1Pod): Promise<k8s.V1Pod> {
  const w = await world();
  const name = pod.metadata!.name!;
  await w.core.createNamespacedPod({ namespace, body: pod });
  try {
    return await eventually(
      `Pod ${namespace}/${name} running`,
      async () => {
        const p = await w.core.readNamespacedPod({ name, namespace });
        if (p.status?.phase === "Failed" || p.status?.phase === "Succeeded")
          throw new Error(`Pod ${name} ended: ${p.status.phase}`);
        return p.status?.phase === "Running" ? p : undefined;
      },
      120_000,
      250,
    );
  } catch (err) {
    throw new Error(`${String(err)}\n${await describePods(namespace)}`);
  }
}

/** The log of a Pod's container, as JSON lines parsed (other lines dropped). */
export async function podJsonLog(namespace: string, pod: string): Promise<Record<string, unknown>[]> {
  const text = await kubectl(["logs", "-n", namespace, pod]);
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not JSON
    }
  }
  return out;
}

/** A security context the restricted Pod Security Standard admits. */
export const restrictedContainer = {
  runAsNonRoot: true,
  runAsUser: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

/** Issued access key id → its expiration (ms), from the proxy's AssumeRole records. */
export function issuedKeys(proxy: AwsProxy): Map<string, number> {
  const keys = new Map<string, number>();
  for (const r of proxy.records({ action: "AssumeRole" })) {
    if (r.issued?.accessKeyId && r.issued.expiration)
      keys.set(r.issued.accessKeyId, Date.parse(r.issued.expiration));
  }
  return keys;
}

/**
 * A Pod of one container under the restricted Pod Security Standard, with no API token, no Service links and no
 * restarts: the shape of the tests' workload Pods. `pod` adds to the spec (volumes, a ServiceAccount).
 */
export function restrictedPod(
  name: string,
  container: k8s.V1Container,
  pod: Partial<k8s.V1PodSpec> = {},
): k8s.V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{ imagePullPolicy: "Never", securityContext: restrictedContainer, ...container }],
      ...pod,
    },
  };
}
