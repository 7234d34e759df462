// The Helm chart in tests: the world's real helm binary, `helm template` parsed into objects, and installs into the
// test world with a KubeConfig that acts as the chart's ServiceAccount (a TokenRequest token), to prove its RBAC.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { ensureCrd } from "./operator.ts";
import { ROOT, kubectl, world } from "./world.ts";
import type { TestContext } from "./world.ts";

const run = promisify(execFile);
export const CHART = join(ROOT, "charts", "aws-assume-role");

/** Private helm home, so tests neither read nor write the user's helm configuration and caches. */
const HELM_HOME = mkdtempSync(join(tmpdir(), "aar-helm-"));
process.on("exit", () => rmSync(HELM_HOME, { recursive: true, force: true }));

/** Runs the world's helm against the world's cluster; rejects with helm's stderr in the message on failure. */
export async function helm(args: string[]): Promise<string> {
  const w = await world();
  const { stdout } = await run(w.helm, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: HELM_HOME,
      KUBECONFIG: w.env.KUBECONFIG!,
      HELM_CONFIG_HOME: join(HELM_HOME, "config"),
      HELM_CACHE_HOME: join(HELM_HOME, "cache"),
      HELM_DATA_HOME: join(HELM_HOME, "data"),
    },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

let kubeVersion: Promise<string[]> | undefined;

/**
 * `--kube-version` of the world's API server, for the commands that do not ask the cluster (template, lint,
 * install --dry-run=client). The world's helm is built without helm's k8sVersion link flags, so it would otherwise
 * assume Kubernetes v1.20.0, below the chart's kubeVersion; released helm binaries assume their client-go's version.
 */
export function kubeVersionArgs(): Promise<string[]> {
  kubeVersion ??= (async () => {
    const w = await world();
    const { gitVersion } = await w.kubeConfig.makeApiClient(k8s.VersionApi).getCode();
    return ["--kube-version", gitVersion];
  })();
  return kubeVersion;
}

/** A rendered Kubernetes object; the fields tests look at. */
export interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** `--set` values, key → value as helm's --set syntax spells them. */
  set?: Record<string, string>;
  /** Values as a structure (passed as a values file), for lists of objects that --set spells badly. */
  values?: object;
  /** Further helm arguments, e.g. ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"]. */
  args?: string[];
}

const setArgs = (set: Record<string, string> = {}) =>
  Object.entries(set).flatMap(([k, v]) => ["--set", `${k}=${v}`]);

/** Helm arguments for values: `--values <file>` (removed at exit) for `values`, then `--set` for `set`. */
export function valueArgs(options: Pick<RenderOptions, "set" | "values">): string[] {
  const args: string[] = [];
  if (options.values) {
    const file = join(HELM_HOME, `values-${randomBytes(4).toString("hex")}.json`);
    writeFileSync(file, JSON.stringify(options.values));
    args.push("--values", file);
  }
  return [...args, ...setArgs(options.set)];
}

/** `helm template` of the chart, parsed; rejects on a template error or YAML that does not parse. */
export async function renderChart(options: RenderOptions = {}): Promise<Rendered[]> {
  const out = await helm([
    "template",
    options.release ?? "aws-assume-role",
    CHART,
    "--namespace",
    options.namespace ?? "aws-assume-role",
    ...valueArgs(options),
    ...(options.args ?? []),
    ...(await kubeVersionArgs()),
  ]);
  const objects: Rendered[] = [];
  for (const doc of parseAllDocuments(out)) {
    if (doc.errors.length > 0) throw new Error(`helm template gave invalid YAML: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Rendered | null;
    if (value) objects.push(value);
  }
  return objects;
}

/**
 * `helm install --dry-run=server` output: the release summary with NOTES.txt (helm template has no NOTES), rendered
 * with the test world's capabilities, which include no Prometheus Operator.
 */
export async function notesOf(args: string[]): Promise<string> {
  await ensureCrd(); // the shared CRDs, which the dry run must not try to own
  return helm([
    "install",
    "aws-assume-role",
    CHART,
    "--namespace",
    "default",
    "--dry-run=server",
    "--set",
    "crds.enabled=false",
    ...args,
  ]);
}

export interface InstalledChart {
  release: string;
  namespace: string;
  serviceAccount: string;
  /** Acts as the chart's ServiceAccount, with a token from the TokenRequest API. */
  kubeConfig: k8s.KubeConfig;
  /** The same KubeConfig as a file, for a child process (KUBECONFIG). */
  kubeConfigFile: string;
  /** What `helm install` printed: the release summary and the rendered NOTES.txt. */
  notes: string;
}

/**
 * Installs the chart as a unique release into its own new namespace, and mints a token for its ServiceAccount.
 * Uninstalls (removing the cluster-scoped RBAC) and deletes the namespace when the test ends. The CRDs are shared by
 * every test in the world, so the release does not own them (`crds.enabled=false`): they are applied once as plain
 * YAML, as other tests do (two releases owning one CRD would refuse each other).
 */
export async function installChart(
  t: TestContext,
  set: Record<string, string> = {},
  values?: object,
): Promise<InstalledChart> {
  await ensureCrd();
  const w = await world();
  const suffix = randomBytes(3).toString("hex");
  const namespace = `chart-${suffix}`;
  const release = `aar-${suffix}`;
  await w.core.createNamespace({ body: { metadata: { name: namespace, labels: { "aar-test": "true" } } } });
  t.after(async () => {
    // Uninstall before the namespace goes: helm finds the release through a Secret in it.
    await helm(["uninstall", release, "--namespace", namespace]).catch(() => undefined);
    await w.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });
  const notes = await helm([
    "install",
    release,
    CHART,
    "--namespace",
    namespace,
    "--kubeconfig",
    w.env.KUBECONFIG!,
    ...valueArgs({ values, set: { "crds.enabled": "false", ...set } }),
  ]);

  const serviceAccount = "aws-assume-role-controller";
  const tokenRequest = await w.core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  const cluster = w.kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("the world's KubeConfig has no current cluster");
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ ...cluster, name: "world" }],
    users: [{ name: serviceAccount, token }],
    contexts: [{ name: serviceAccount, cluster: "world", user: serviceAccount, namespace }],
    currentContext: serviceAccount,
  });
  const dir = mkdtempSync(join(tmpdir(), "aar-sa-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeConfigFile = join(dir, "kubeconfig");
  writeFileSync(kubeConfigFile, kubeConfig.exportConfig(), { mode: 0o600 });
  return { release, namespace, serviceAccount, kubeConfig, kubeConfigFile, notes };
}

/** `helm upgrade` of an installed test release, keeping its values and changing the ones in `set`. */
export async function upgradeChart(installed: InstalledChart, set: Record<string, string>): Promise<string> {
  return helm([
    "upgrade",
    installed.release,
    CHART,
    "--namespace",
    installed.namespace,
    "--reuse-values",
    ...setArgs(set),
  ]);
}

/**
 * Lets a helm release adopt existing CRDs (installed from the chart's former crds/ folder, or by kubectl): exactly
 * the commands docs/chart.md gives users, since helm refuses to take over an object without its ownership label and
 * annotations.
 */
export async function adoptCrds(release: string, namespace: string, crds: string[]): Promise<void> {
  await kubectl(["label", "crd", ...crds, "app.kubernetes.io/managed-by=Helm", "--overwrite"]);
  await kubectl([
    "annotate",
    "crd",
    ...crds,
    `meta.helm.sh/release-name=${release}`,
    `meta.helm.sh/release-namespace=${namespace}`,
    "--overwrite",
  ]);
}
