// The Helm chart: lint, what `helm template` renders, and — installed into the test world — that its RBAC lets the
// chart's ServiceAccount do exactly what the operator needs (checked with a real token, not by reading the rules).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { parse } from "yaml";
import { FLAGS, parseConfig } from "../src/config.ts";
import { CHART, helm, installChart, kubeVersionArgs, renderChart, upgradeChart } from "./support/chart.ts";
import type { InstalledChart, Rendered } from "./support/chart.ts";
import { eventually, freshNamespace, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";

const GROUP = "pincette.net";
const VERSION = "v1";
const PLURAL = "awsassumeroles";

function only<T = Rendered>(objects: Rendered[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected exactly one ${kind}, got ${found.length}`);
  return found[0] as T;
}

/** helm template's stand-in for a cluster that has the Prometheus Operator's CRDs. */
const SERVES_MONITORS = ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"];

const deploymentOf = (objects: Rendered[]) => only<k8s.V1Deployment>(objects, "Deployment");
const containerOf = (objects: Rendered[]) => deploymentOf(objects).spec!.template.spec!.containers[0]!;
const argsOf = async (set: Record<string, string> = {}) => containerOf(await renderChart({ set })).args ?? [];

describe("helm lint and template", () => {
  test("helm lint finds nothing to complain about, also with --strict", async () => {
    for (const strict of [[], ["--strict"]]) {
      const out = await helm(["lint", CHART, ...strict, ...(await kubeVersionArgs())]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(out, /\[(WARNING|ERROR)\]/, out);
    }
  });

  test("the ServiceAccount is aws-assume-role-controller in the release namespace, as the original's docs say", async () => {
    const objects = await renderChart({ namespace: "ops" });
    const sa = only(objects, "ServiceAccount");
    assert.equal(sa.metadata.name, "aws-assume-role-controller");
    assert.equal(sa.metadata.namespace, "ops");
    assert.equal(deploymentOf(objects).spec!.template.spec!.serviceAccountName, "aws-assume-role-controller");
    assert.equal(deploymentOf(objects).spec!.template.spec!.automountServiceAccountToken, true);
  });

  test("the IRSA role annotation set on the command line lands on the ServiceAccount", async () => {
    const arn = "arn:aws:iam::123456789012:role/operator";
    const objects = await renderChart({
      set: { "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn": arn },
    });
    assert.deepEqual(only(objects, "ServiceAccount").metadata.annotations, {
      "eks.amazonaws.com/role-arn": arn,
    });
  });

  test("the Deployment runs two leader-electing replicas probed on /healthz and /readyz at the health port", async () => {
    const objects = await renderChart();
    const deployment = deploymentOf(objects);
    const container = containerOf(objects);
    assert.equal(deployment.spec!.replicas, 2);
    assert.ok(container.args!.includes("--leader-elect"), `args: ${container.args!.join(" ")}`);
    assert.equal(container.livenessProbe?.httpGet?.path, "/healthz");
    assert.equal(container.readinessProbe?.httpGet?.path, "/readyz");
    const health = container.ports!.find((p) => p.name === "health");
    assert.equal(health?.containerPort, 8081);
    assert.equal(container.livenessProbe?.httpGet?.port, "health");
    assert.equal(container.readinessProbe?.httpGet?.port, "health");
    assert.ok(container.args!.includes("--health-probe-bind-address=:8081"));
  });

  test("the operator container runs as user 65532 under the restricted security context", async () => {
    const objects = await renderChart();
    const pod = deploymentOf(objects).spec!.template.spec!;
    const sc = containerOf(objects).securityContext!;
    assert.equal(sc.runAsNonRoot, true);
    assert.equal(sc.runAsUser, 65532);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities?.drop, ["ALL"]);
    assert.equal(sc.capabilities?.add, undefined);
    assert.equal(sc.privileged, undefined);
    assert.equal(sc.seccompProfile?.type, "RuntimeDefault");
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault");
    assert.equal(pod.hostNetwork, undefined);
  });

  test("POD_NAME and POD_NAMESPACE come from the downward API; AWS_REGION only when aws.region is set", async () => {
    const env = containerOf(await renderChart()).env!;
    assert.equal(
      env.find((e) => e.name === "POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath,
      "metadata.namespace",
    );
    assert.equal(env.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath, "metadata.name");
    assert.equal(
      env.find((e) => e.name === "AWS_REGION"),
      undefined,
    );
    const withRegion = containerOf(await renderChart({ set: { "aws.region": "eu-west-1" } })).env!;
    assert.equal(withRegion.find((e) => e.name === "AWS_REGION")?.value, "eu-west-1");
  });

  test("REFRESH_EVENTS=true only with events.refreshes, a value the operator parses as --refresh-events", async () => {
    const env = containerOf(await renderChart()).env!;
    assert.equal(
      env.find((e) => e.name === "REFRESH_EVENTS"),
      undefined,
    );
    const withRefreshes = containerOf(await renderChart({ set: { "events.refreshes": "true" } })).env!;
    const value = withRefreshes.find((e) => e.name === "REFRESH_EVENTS")?.value;
    assert.equal(value, "true");
    const parsed = parseConfig([], { REFRESH_EVENTS: value }, { hostname: "h" });
    assert.equal(!parsed.help && parsed.config.refreshEvents, true);
  });

  test("NODE_OPTIONS caps the V8 old generation below the container's memory limit and sizes the young one, or is left out", async () => {
    const container = containerOf(await renderChart());
    const options = container.env!.find((e) => e.name === "NODE_OPTIONS")?.value ?? "";
    const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
    const limit = String(container.resources?.limits?.memory ?? "");
    assert.match(limit, /^\d+Mi$/);
    assert.ok(heapMiB > 0 && heapMiB < parseInt(limit, 10), `heap ${heapMiB} MiB vs limit ${limit}`);
    const semiMiB = Number(/--max-semi-space-size=(\d+)/.exec(options)?.[1]);
    assert.ok(semiMiB > 0 && semiMiB < heapMiB, `semi-space ${semiMiB} MiB`);
    const heapOnly = containerOf(await renderChart({ set: { maxSemiSpaceSizeMiB: "null" } })).env!;
    assert.equal(heapOnly.find((e) => e.name === "NODE_OPTIONS")?.value, `--max-old-space-size=${heapMiB}`);
    const unset = containerOf(
      await renderChart({ set: { maxOldSpaceSizeMiB: "null", maxSemiSpaceSizeMiB: "null" } }),
    ).env!;
    assert.equal(
      unset.find((e) => e.name === "NODE_OPTIONS"),
      undefined,
    );
  });

  test("the rendered arguments are accepted by the operator's own flag parser and mean what the values say", async () => {
    const args = await argsOf({
      "watchNamespaces[0]": "team-a",
      "watchNamespaces[1]": "team-b",
      logLevel: "debug",
    });
    const parsed = parseConfig(args, { POD_NAMESPACE: "ops", POD_NAME: "operator-0" }, { hostname: "host" });
    assert.equal(parsed.help, false);
    if (parsed.help) return;
    assert.deepEqual(parsed.config.namespaces, ["team-a", "team-b"]);
    assert.equal(parsed.config.leaderElect, true);
    assert.equal(parsed.config.leaderElectionNamespace, "ops");
    assert.equal(parsed.config.leaderElectionId, "aws-assume-role");
    assert.equal(parsed.config.refreshRatio, 0.6667);
    assert.equal(parsed.config.logLevel, "debug");
    assert.equal(parsed.config.metricsBindAddress, ":8080");
    assert.equal(parsed.config.healthProbeBindAddress, ":8081");
  });

  test("namespace permissions, session tags and the cluster name are passed only when set", async () => {
    const defaults = await argsOf();
    for (const flag of ["--namespace-permissions", "--session-tags", "--cluster-name"]) {
      assert.ok(
        !defaults.some((a) => a.startsWith(flag)),
        `${flag} rendered by default: ${defaults.join(" ")}`,
      );
    }
    const set = await argsOf({
      namespacePermissions: "true",
      "sessionTags.enabled": "true",
      "sessionTags.clusterName": "prod",
      "extraArgs[0]": "--sts-rate=50",
    });
    for (const arg of ["--namespace-permissions", "--session-tags", "--cluster-name=prod", "--sts-rate=50"]) {
      assert.ok(set.includes(arg), `${arg} missing: ${set.join(" ")}`);
    }
    // Every flag the chart renders is one the operator has, or one of the three announced ones above.
    const known = new Set<string>([
      ...FLAGS.map((f) => f.flag),
      "namespace-permissions",
      "session-tags",
      "cluster-name",
    ]);
    for (const arg of set) assert.ok(known.has(arg.replace(/^--([^=]+).*$/, "$1")), `unknown flag ${arg}`);
  });

  test("the ClusterRole grants no wildcards and nothing on ConfigMaps, and Namespaces only with namespacePermissions", async () => {
    const rulesOf = async (set: Record<string, string>) =>
      only<k8s.V1ClusterRole>(await renderChart({ set }), "ClusterRole").rules!;
    const defaults = await rulesOf({});
    for (const rule of defaults) {
      for (const field of [rule.verbs, rule.resources ?? [], rule.apiGroups ?? []]) {
        assert.ok(!field.includes("*"), `wildcard in ${JSON.stringify(rule)}`);
      }
      assert.ok(!rule.resources?.includes("configmaps"), `configmaps in ${JSON.stringify(rule)}`);
      assert.ok(!rule.resources?.includes("namespaces"), `namespaces without namespacePermissions`);
      assert.equal(rule.nonResourceURLs, undefined);
    }
    const statusRule = defaults.find((r) => r.resources?.includes("awsassumeroles/status"));
    assert.deepEqual([...statusRule!.verbs].sort(), ["get", "patch", "update"]);
    const resourceRule = defaults.find((r) => r.resources?.includes("awsassumeroles"));
    assert.deepEqual([...resourceRule!.verbs].sort(), ["get", "list", "watch"]);
    assert.ok(!defaults.some((r) => r.resources?.includes("serviceaccounts")), "serviceaccounts by default");

    const withPermissions = await rulesOf({ namespacePermissions: "true" });
    const namespaces = withPermissions.find((r) => r.resources?.includes("namespaces"));
    assert.deepEqual(namespaces?.apiGroups, [""]);
    assert.deepEqual([...namespaces!.verbs].sort(), ["get", "list", "watch"]);
  });

  test("ClusterAWSAssumeRoles and AWSPodIdentityAssociations are readable and their status writable with their feature on or off (a resource of a kind that is off is told so); Namespaces and the flag only with clusterAssumeRoles.enabled", async () => {
    const rulesOf = async (set: Record<string, string>) =>
      only<k8s.V1ClusterRole>(await renderChart({ set }), "ClusterRole").rules!;
    const verbsOf = (rules: k8s.V1PolicyRule[], resource: string) =>
      rules
        .filter((r) => r.apiGroups?.includes("pincette.net") && r.resources?.includes(resource))
        .flatMap((r) => r.verbs)
        .sort();
    const defaults = await rulesOf({});
    const enabled = await rulesOf({ "clusterAssumeRoles.enabled": "true", "podIdentity.enabled": "true" });
    for (const rules of [defaults, enabled]) {
      for (const kind of ["clusterawsassumeroles", "awspodidentityassociations"]) {
        assert.deepEqual(verbsOf(rules, kind), ["get", "list", "watch"], kind);
        assert.deepEqual(verbsOf(rules, `${kind}/status`), ["get", "patch", "update"], `${kind}/status`);
      }
    }
    assert.ok(!defaults.some((r) => r.resources?.includes("namespaces")));
    assert.ok(!(await argsOf()).includes("--cluster-assume-roles"));

    const namespaces = enabled.find((r) => r.resources?.includes("namespaces"));
    assert.deepEqual([...namespaces!.verbs].sort(), ["get", "list", "watch"]);
    assert.ok((await argsOf({ "clusterAssumeRoles.enabled": "true" })).includes("--cluster-assume-roles"));
  });

  test("ServiceAccounts are granted (get, list, watch, patch), and the flag passed, only with serviceAccounts.enabled", async () => {
    const rulesOf = async (set: Record<string, string>) =>
      only<k8s.V1ClusterRole>(await renderChart({ set }), "ClusterRole").rules!;
    assert.ok(!(await argsOf()).includes("--service-accounts"));
    const enabled = await rulesOf({ "serviceAccounts.enabled": "true" });
    const rule = enabled.find((r) => r.resources?.includes("serviceaccounts"));
    assert.deepEqual(rule?.apiGroups, [""]);
    assert.deepEqual([...rule!.verbs].sort(), ["get", "list", "patch", "watch"]);
    assert.ok((await argsOf({ "serviceAccounts.enabled": "true" })).includes("--service-accounts"));
    // The finalizer: patch on the resources, only with the feature (the cluster kind only when it is on too).
    const patch = (rules: typeof enabled) =>
      rules
        .filter((r) => r.verbs.includes("patch") && r.apiGroups?.includes("pincette.net"))
        .flatMap((r) => r.resources!)
        .filter((x) => !x.includes("/"));
    assert.deepEqual(patch(enabled), ["awsassumeroles"]);
    const both = await rulesOf({ "serviceAccounts.enabled": "true", "clusterAssumeRoles.enabled": "true" });
    assert.deepEqual(patch(both), ["awsassumeroles", "clusterawsassumeroles"]);
    assert.deepEqual(patch(await rulesOf({ "clusterAssumeRoles.enabled": "true" })), []);
  });

  test("workloads in apps are granted get/list/watch/patch, and the flag passed, only with rolloutRestart.enabled", async () => {
    const rulesOf = async (set: Record<string, string>) =>
      only<k8s.V1ClusterRole>(await renderChart({ set }), "ClusterRole").rules!;
    assert.ok(!(await rulesOf({})).some((r) => r.apiGroups?.includes("apps")));
    assert.ok(!(await argsOf()).includes("--rollout-restart"));
    const apps = (await rulesOf({ "rolloutRestart.enabled": "true" })).find((r) =>
      r.apiGroups?.includes("apps"),
    );
    assert.deepEqual([...apps!.resources!].sort(), ["daemonsets", "deployments", "statefulsets"]);
    assert.deepEqual([...apps!.verbs].sort(), ["get", "list", "patch", "watch"]);
    assert.ok((await argsOf({ "rolloutRestart.enabled": "true" })).includes("--rollout-restart"));
  });

  test("the leader-election Role is namespaced to the release and covers Leases only; none without leader election", async () => {
    const objects = await renderChart({ namespace: "ops" });
    const role = only<k8s.V1Role>(objects, "Role");
    assert.equal(role.metadata!.namespace, "ops");
    assert.deepEqual(role.rules, [
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
    ]);
    const binding = only<k8s.V1RoleBinding>(objects, "RoleBinding");
    assert.equal(binding.metadata!.namespace, "ops");
    assert.equal(binding.roleRef.name, role.metadata!.name);
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "aws-assume-role-controller", namespace: "ops" },
    ]);

    const without = await renderChart({ set: { "leaderElection.enabled": "false", replicaCount: "1" } });
    assert.equal(without.filter((o) => o.kind === "Role" || o.kind === "RoleBinding").length, 0);
    assert.ok(!containerOf(without).args!.includes("--leader-elect"));
  });

  test("cluster-scoped objects are named per release and namespace, and each binding points at its own ClusterRole", async () => {
    const names = new Set<string>();
    for (const [release, namespace] of [
      ["aws-assume-role", "aws-assume-role"],
      ["aws-assume-role", "other"],
      ["second", "aws-assume-role"],
    ] as const) {
      const objects = await renderChart({ release, namespace });
      const role = only(objects, "ClusterRole");
      const binding = only<k8s.V1ClusterRoleBinding>(objects, "ClusterRoleBinding");
      assert.equal(binding.roleRef.name, role.metadata.name);
      assert.deepEqual(binding.subjects, [
        { kind: "ServiceAccount", name: "aws-assume-role-controller", namespace },
      ]);
      names.add(role.metadata.name);
    }
    assert.equal(names.size, 3, `names collide: ${[...names].join(", ")}`);
  });

  test("the image tag defaults to the chart's appVersion", async () => {
    const chart = parse(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as { appVersion: string };
    assert.equal(containerOf(await renderChart()).image, `aws-assume-role-operator:${chart.appVersion}`);
    const custom = await renderChart({
      set: { "image.repository": "registry.example/op", "image.tag": "1.2.3" },
    });
    assert.equal(containerOf(custom).image, "registry.example/op:1.2.3");
  });

  test("a ServiceMonitor is rendered only when enabled, with its labels, and refused without metrics", async () => {
    assert.equal(
      (await renderChart({ args: SERVES_MONITORS })).filter((o) => o.kind === "ServiceMonitor").length,
      0,
    );
    const objects = await renderChart({
      set: {
        "metrics.serviceMonitor.enabled": "true",
        "metrics.serviceMonitor.labels.release": "prometheus",
      },
      args: SERVES_MONITORS,
    });
    const monitor = only(objects, "ServiceMonitor");
    assert.equal(monitor.metadata.labels?.release, "prometheus");
    assert.deepEqual(
      (monitor.spec as { endpoints: { port: string }[] }).endpoints.map((e) => e.port),
      ["metrics"],
    );
    assert.equal(only<k8s.V1Service>(objects, "Service").spec!.ports![0]!.targetPort, "metrics");
    await assert.rejects(
      renderChart({ set: { "metrics.serviceMonitor.enabled": "true", "metrics.enabled": "false" } }),
      /metrics.serviceMonitor.enabled needs metrics.enabled/,
    );
  });

  test("a PodDisruptionBudget keeps one of two replicas, and is left out for a single replica", async () => {
    const objects = await renderChart();
    const pdb = only<k8s.V1PodDisruptionBudget>(objects, "PodDisruptionBudget");
    assert.equal(pdb.spec!.minAvailable, 1);
    assert.deepEqual(pdb.spec!.selector!.matchLabels, deploymentOf(objects).spec!.selector.matchLabels);
    const single = await renderChart({ set: { replicaCount: "1" } });
    assert.equal(single.filter((o) => o.kind === "PodDisruptionBudget").length, 0);
  });

  test("replicas are spread over nodes by host name, selecting this release's pods", async () => {
    const objects = await renderChart();
    const [constraint, ...rest] = deploymentOf(objects).spec!.template.spec!.topologySpreadConstraints!;
    assert.equal(rest.length, 0);
    assert.equal(constraint!.topologyKey, "kubernetes.io/hostname");
    assert.deepEqual(
      constraint!.labelSelector?.matchLabels,
      deploymentOf(objects).spec!.selector.matchLabels,
    );
  });
});

/** Runs `call` and expects the API server to answer 403 Forbidden. */
async function forbidden(what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    assert.equal((err as { code?: number }).code, 403, `${what}: expected 403, got ${String(err)}`);
    return;
  }
  assert.fail(`${what} was allowed; the chart's RBAC must refuse it`);
}

/** Opens a cluster-wide watch as `kubeConfig` and resolves with the first event's object name seen for `name`. */
function watchUntilSeen(kubeConfig: k8s.KubeConfig, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let controller: AbortController | undefined;
    let seen = false;
    void new k8s.Watch(kubeConfig)
      .watch(
        `/apis/${GROUP}/${VERSION}/${PLURAL}`,
        {},
        (_type, object: { metadata?: { name?: string } }) => {
          if (object.metadata?.name === name && !seen) {
            seen = true;
            controller?.abort();
            resolve();
          }
        },
        (err: unknown) => {
          if (!seen) reject(err instanceof Error ? err : new Error(`watch ended without seeing ${name}`));
        },
      )
      .then((c) => {
        controller = c;
        if (seen) c.abort();
      });
  });
}

describe("the chart installed into the test world, acting as its ServiceAccount", () => {
  // Suite-level cleanups, run in reverse order after the last test.
  const cleanups: (() => unknown)[] = [];
  const scope = (name: string): TestContext => ({ name, after: (fn) => cleanups.push(fn) });
  let installed: InstalledChart;
  let target: string;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let leases: k8s.CoordinationV1Api;
  const resourceName = "chart-rbac";

  before(async () => {
    // installChart applies the CRDs as plain YAML (shared by every test) and installs with crds.enabled=false.
    installed = await installChart(scope("chart install"));
    target = await freshNamespace(scope("chart rbac target"));
    custom = installed.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    core = installed.kubeConfig.makeApiClient(k8s.CoreV1Api);
    leases = installed.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    const w = await world();
    await w.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: target,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "AWSAssumeRole",
        metadata: { name: resourceName, namespace: target },
        spec: { roleName: "some-role", secretName: "some-secret", secretType: "Map" },
      },
    });
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test("lists and watches AWSAssumeRoles in all namespaces", async () => {
    // RBAC objects reach the API server's authorizer through its informers: allow a moment after the install.
    const list = await eventually(
      "the ServiceAccount may list AWSAssumeRoles cluster-wide",
      async () =>
        (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as {
          items: { metadata: { name: string; namespace: string } }[];
        },
    );
    assert.ok(list.items.some((r) => r.metadata.namespace === target && r.metadata.name === resourceName));
    await watchUntilSeen(installed.kubeConfig, resourceName);
  });

  test("creates, reads, updates, patches and deletes a Secret in a watched namespace", async () => {
    const name = "chart-rbac-secret";
    await eventually("the ServiceAccount may create a Secret", () =>
      core.createNamespacedSecret({
        namespace: target,
        body: { metadata: { name }, stringData: { a: "1" } },
      }),
    );
    const secret = await core.readNamespacedSecret({ namespace: target, name });
    await core.replaceNamespacedSecret({
      namespace: target,
      name,
      body: { ...secret, data: { a: Buffer.from("2").toString("base64") } },
    });
    await core.patchNamespacedSecret(
      { namespace: target, name, body: { metadata: { labels: { patched: "yes" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const list = await core.listSecretForAllNamespaces({ labelSelector: "patched=yes" });
    assert.deepEqual(
      list.items.map((s) => `${s.metadata!.namespace}/${s.metadata!.name}`),
      [`${target}/${name}`],
    );
    await core.deleteNamespacedSecret({ namespace: target, name });
  });

  test("patches the status of an AWSAssumeRole but may not change its spec", async () => {
    const patched = (await eventually("the ServiceAccount may patch AWSAssumeRole status", () =>
      custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: target,
          name: resourceName,
          body: { status: { observedGeneration: 1 } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    )) as { status?: { observedGeneration?: number } };
    assert.equal(patched.status?.observedGeneration, 1);
    await forbidden("patching an AWSAssumeRole's spec", () =>
      custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: target,
          name: resourceName,
          body: { spec: { roleName: "other" } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    );
  });

  test("creates and patches Events about an AWSAssumeRole", async () => {
    const name = `${resourceName}.chart-test`;
    await eventually("the ServiceAccount may create an Event", () =>
      core.createNamespacedEvent({
        namespace: target,
        body: {
          metadata: { name, namespace: target },
          involvedObject: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: "AWSAssumeRole",
            namespace: target,
            name: resourceName,
          },
          type: "Normal",
          reason: "Created",
          message: "chart RBAC test",
          count: 1,
        },
      }),
    );
    const event = await core.patchNamespacedEvent(
      { namespace: target, name, body: { count: 2 } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    assert.equal(event.count, 2);
  });

  test("gets, creates and updates its Lease in the release namespace", async () => {
    const namespace = installed.namespace;
    const name = installed.release;
    const spec = { holderIdentity: "replica-a", leaseDurationSeconds: 15 };
    await eventually("the ServiceAccount may create a Lease in the release namespace", () =>
      leases.createNamespacedLease({ namespace, body: { metadata: { name }, spec } }),
    );
    const lease = await leases.readNamespacedLease({ namespace, name });
    const updated = await leases.replaceNamespacedLease({
      namespace,
      name,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "replica-b" } },
    });
    assert.equal(updated.spec?.holderIdentity, "replica-b");
  });

  test("is refused ConfigMaps, Leases outside the release namespace, and Namespaces", async () => {
    const w = await world();
    await w.core.createNamespacedConfigMap({
      namespace: target,
      body: { metadata: { name: "private" }, data: { a: "b" } },
    });
    // Wait until the ServiceAccount's grants are in effect, so the refusals below are the chart's and not a race.
    await eventually("the ServiceAccount's grants in effect", () =>
      custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }),
    );
    await forbidden("reading a ConfigMap", () =>
      core.readNamespacedConfigMap({ namespace: target, name: "private" }),
    );
    await forbidden("listing ConfigMaps", () => core.listConfigMapForAllNamespaces());
    await forbidden("creating a Lease outside the release namespace", () =>
      leases.createNamespacedLease({
        namespace: target,
        body: { metadata: { name: "elsewhere" }, spec: {} },
      }),
    );
    await forbidden("reading a Lease outside the release namespace", () =>
      leases.readNamespacedLease({ namespace: "kube-system", name: "kube-controller-manager" }),
    );
    await forbidden("listing Namespaces without namespacePermissions", () => core.listNamespace());
  });

  test("may read Namespaces once namespacePermissions is turned on", async () => {
    await upgradeChart(installed, { namespacePermissions: "true" });
    const list = await eventually("the ServiceAccount may list Namespaces", () => core.listNamespace());
    assert.ok(list.items.some((n) => n.metadata?.name === target));
    await core.readNamespace({ name: target });
  });
});
