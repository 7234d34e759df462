// What the chart offers beside the operator itself, as the reference charts (External Secrets Operator, cert-manager)
// do: NetworkPolicy, PodDisruptionBudget, probes, revisionHistoryLimit, commonLabels, extra volumes, env and objects,
// a ServiceMonitor skipped when its CRD is missing, kubeVersion and Artifact Hub annotations. Rendered with helm,
// and installed with everything on into the test world, whose API server must accept every object.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parse, parseAllDocuments } from "yaml";
import { CRDS, crdName } from "../src/api/crd.ts";
import { API_VERSION } from "../src/api/schema.ts";
import { CHART, helm, installChart, renderChart, valueArgs } from "./support/chart.ts";
import type { Rendered } from "./support/chart.ts";
import { ensureCrd } from "./support/operator.ts";
import { kubectl, world } from "./support/world.ts";

const SERVES_MONITORS = ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"];

const ofKind = <T = Rendered>(objects: Rendered[], kind: string) =>
  objects.filter((o) => o.kind === kind) as T[];
function only<T = Rendered>(objects: Rendered[], kind: string): T {
  const found = ofKind<T>(objects, kind);
  assert.equal(found.length, 1, `expected exactly one ${kind}, got ${found.length}`);
  return found[0]!;
}
const deploymentOf = (objects: Rendered[]) => only<k8s.V1Deployment>(objects, "Deployment");
const containerOf = (objects: Rendered[]) => deploymentOf(objects).spec!.template.spec!.containers[0]!;
const selectorOf = (objects: Rendered[]) => deploymentOf(objects).spec!.selector.matchLabels;

/** A NetworkPolicy as helm renders it (client-node's type spells `from` as `_from`). */
interface RenderedPolicy {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes: string[];
    ingress?: { ports?: { port: number; protocol: string }[]; from?: unknown[] }[];
    egress?: unknown[];
  };
}

/**
 * `helm install --dry-run=server` output: the release summary with NOTES.txt (helm template has no NOTES), rendered
 * with the test world's capabilities, which include no Prometheus Operator.
 */
const notesOf = async (args: string[]) => {
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
};

describe("NetworkPolicy", () => {
  test("is opt-in", async () => {
    assert.equal(ofKind(await renderChart(), "NetworkPolicy").length, 0);
  });

  test("admits ingress to this release's pods on the metrics and health ports only, from the peers given", async () => {
    const peer = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };
    const objects = await renderChart({ values: { networkPolicy: { enabled: true, metricsFrom: [peer] } } });
    const policy = only<RenderedPolicy>(objects, "NetworkPolicy");
    assert.deepEqual(policy.spec.podSelector.matchLabels, selectorOf(objects));
    assert.deepEqual(policy.spec.policyTypes, ["Ingress"]);
    const rules = policy.spec.ingress!;
    assert.deepEqual(
      rules.map((r) => r.ports!.map((p) => p.port)),
      [[8080], [8081]],
    );
    assert.deepEqual(rules[0]!.from, [peer]);
    assert.equal(rules[1]!.from, undefined);
    // The ports it admits are the container's ports, so the policy follows a changed port.
    const ports = containerOf(objects)
      .ports!.map((p) => p.containerPort)
      .sort();
    assert.deepEqual(rules.flatMap((r) => r.ports!.map((p) => p.port)).sort(), ports);
  });

  test("without metrics admits only the health port; egress rules add the Egress policy type", async () => {
    const egress = [{ ports: [{ port: 443, protocol: "TCP" }] }];
    const objects = await renderChart({
      values: { metrics: { enabled: false }, networkPolicy: { enabled: true, egress } },
    });
    const policy = only<RenderedPolicy>(objects, "NetworkPolicy");
    assert.deepEqual(
      policy.spec.ingress!.map((r) => r.ports!.map((p) => p.port)),
      [[8081]],
    );
    assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
    assert.deepEqual(policy.spec.egress, egress);
  });
});

describe("PodDisruptionBudget, probes, revisionHistoryLimit", () => {
  test("the PodDisruptionBudget takes minAvailable, or maxUnavailable instead, and can be turned off", async () => {
    const pdbOf = async (set: Record<string, string>) =>
      ofKind<k8s.V1PodDisruptionBudget>(await renderChart({ set }), "PodDisruptionBudget");
    assert.equal((await pdbOf({ "podDisruptionBudget.minAvailable": "50%" }))[0]!.spec!.minAvailable, "50%");
    const [max] = await pdbOf({ "podDisruptionBudget.maxUnavailable": "1" });
    assert.equal(max!.spec!.maxUnavailable, 1);
    assert.equal(max!.spec!.minAvailable, undefined);
    assert.equal((await pdbOf({ "podDisruptionBudget.maxUnavailable": "0" }))[0]!.spec!.maxUnavailable, 0);
    assert.deepEqual(await pdbOf({ "podDisruptionBudget.enabled": "false" }), []);
  });

  test("probe timings come from the values, and a probe can be turned off", async () => {
    const container = containerOf(
      await renderChart({
        set: {
          "livenessProbe.periodSeconds": "20",
          "livenessProbe.failureThreshold": "6",
          "readinessProbe.timeoutSeconds": "2",
        },
      }),
    );
    assert.equal(container.livenessProbe?.periodSeconds, 20);
    assert.equal(container.livenessProbe?.failureThreshold, 6);
    assert.equal(container.livenessProbe?.httpGet?.path, "/healthz");
    assert.equal(container.readinessProbe?.timeoutSeconds, 2);
    assert.equal(container.readinessProbe?.httpGet?.port, "health");
    assert.equal((container.livenessProbe as Record<string, unknown>).enabled, undefined);
    const off = containerOf(await renderChart({ set: { "livenessProbe.enabled": "false" } }));
    assert.equal(off.livenessProbe, undefined);
    assert.equal(off.readinessProbe?.httpGet?.path, "/readyz");
  });

  test("revisionHistoryLimit reaches the Deployment", async () => {
    assert.equal(deploymentOf(await renderChart()).spec!.revisionHistoryLimit, 10);
    const set = { revisionHistoryLimit: "3" };
    assert.equal(deploymentOf(await renderChart({ set })).spec!.revisionHistoryLimit, 3);
  });
});

describe("commonLabels and extras", () => {
  test("commonLabels land on every object and the Pods, never in the selector, and never replace the chart's", async () => {
    const objects = await renderChart({
      values: {
        commonLabels: { team: "platform", "app.kubernetes.io/name": "mine" },
        networkPolicy: { enabled: true },
        extraObjects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }],
      },
      args: SERVES_MONITORS,
      set: { "metrics.serviceMonitor.enabled": "true" },
    });
    for (const o of objects.filter((o) => o.metadata.name !== "x")) {
      assert.equal(o.metadata.labels?.team, "platform", `${o.kind} ${o.metadata.name}`);
      assert.equal(o.metadata.labels?.["app.kubernetes.io/name"], "aws-assume-role", `${o.kind}`);
    }
    assert.ok(objects.some((o) => o.kind === "CustomResourceDefinition"));
    assert.equal(deploymentOf(objects).spec!.template.metadata!.labels!.team, "platform");
    assert.equal(selectorOf(objects)!.team, undefined);
  });

  test("extra volumes, volume mounts and envFrom reach the Pod beside the chart's own", async () => {
    const container = (objects: Rendered[]) => containerOf(objects);
    const objects = await renderChart({
      values: {
        extraVolumes: [{ name: "ca", configMap: { name: "corporate-ca" } }],
        extraVolumeMounts: [{ name: "ca", mountPath: "/etc/ssl/corporate", readOnly: true }],
        extraEnvFrom: [{ configMapRef: { name: "aws-settings" } }],
      },
    });
    const pod = deploymentOf(objects).spec!.template.spec!;
    assert.deepEqual(
      pod.volumes!.map((v) => v.name),
      ["tmp", "ca"],
    );
    assert.deepEqual(
      container(objects).volumeMounts!.map((m) => m.mountPath),
      ["/tmp", "/etc/ssl/corporate"],
    );
    assert.deepEqual(container(objects).envFrom, [{ configMapRef: { name: "aws-settings" } }]);
  });

  test("extraObjects are rendered with tpl, as maps and as strings", async () => {
    const objects = await renderChart({
      namespace: "ops",
      values: {
        extraObjects: [
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: {
              name: '{{ include "aws-assume-role.fullname" . }}-extra',
              namespace: "{{ .Release.Namespace }}",
            },
          },
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-string\n  namespace: {{ .Release.Namespace }}\n",
        ],
      },
    });
    const maps = ofKind(objects, "ConfigMap").map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
    assert.deepEqual(maps, ["ops/aws-assume-role-extra", "ops/from-string"]);
  });
});

describe("ServiceMonitor", () => {
  const monitorValues = {
    metrics: {
      serviceMonitor: {
        enabled: true,
        scrapeTimeout: "15s",
        honorLabels: true,
        relabelings: [{ targetLabel: "cluster", replacement: "prod" }],
        metricRelabelings: [{ sourceLabels: ["__name__"], regex: "go_.*", action: "drop" }],
      },
    },
  };

  test("carries scrapeTimeout, honorLabels and both relabelings when the cluster serves ServiceMonitors", async () => {
    const monitor = only(
      await renderChart({ values: monitorValues, args: SERVES_MONITORS }),
      "ServiceMonitor",
    );
    const [endpoint] = (monitor.spec as { endpoints: Record<string, unknown>[] }).endpoints;
    assert.equal(endpoint!.interval, "30s");
    assert.equal(endpoint!.scrapeTimeout, "15s");
    assert.equal(endpoint!.honorLabels, true);
    assert.deepEqual(endpoint!.relabelings, monitorValues.metrics.serviceMonitor.relabelings);
    assert.deepEqual(endpoint!.metricRelabelings, monitorValues.metrics.serviceMonitor.metricRelabelings);
  });

  test("is skipped without the Prometheus Operator's CRD, and the install notes say so", async () => {
    assert.equal(ofKind(await renderChart({ values: monitorValues }), "ServiceMonitor").length, 0);
    const notes = await notesOf(valueArgs({ values: monitorValues }));
    assert.match(notes, /WARNING: metrics\.serviceMonitor\.enabled is set, but this cluster does not serve/);
    assert.doesNotMatch(notes, /kind: ServiceMonitor/);
    assert.doesNotMatch(await notesOf([]), /WARNING: metrics\.serviceMonitor/);
  });
});

describe("Chart.yaml", () => {
  const chart = parse(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as {
    kubeVersion: string;
    annotations: Record<string, string>;
  };

  test("kubeVersion refuses a cluster older than the CRDs' CEL rules need and admits vendor builds", async () => {
    await assert.rejects(helm(["template", "x", CHART, "--kube-version", "v1.27.9"]), /kubeVersion/);
    const eks = await helm(["template", "x", CHART, "--kube-version", "v1.28.15-eks-ae9a62a"]);
    assert.match(eks, /kind: Deployment/);
  });

  test("artifacthub.io/crds lists exactly the chart's CRDs", () => {
    const listed = parse(chart.annotations["artifacthub.io/crds"]!) as {
      kind: string;
      name: string;
      version: string;
    }[];
    assert.deepEqual(
      listed.map((c) => [c.kind, c.name, c.version]),
      CRDS.map((def) => [def.kind, crdName(def), API_VERSION.split("/")[1]]),
    );
  });

  test("artifacthub.io/crdsExamples has one example of each kind, and the API server accepts each", async () => {
    await ensureCrd();
    const examples = parse(chart.annotations["artifacthub.io/crdsExamples"]!) as Rendered[];
    assert.deepEqual(
      examples.map((e) => e.kind),
      CRDS.map((def) => def.kind),
    );
    for (const example of examples) {
      assert.equal(example.apiVersion, API_VERSION);
      // A name of its own: the original examples' names may exist in the shared world (examples.test.ts).
      const name = `${example.metadata.name}-${randomBytes(3).toString("hex")}`;
      const out = await kubectl(
        ["create", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-"],
        JSON.stringify({ ...example, metadata: { ...example.metadata, name } }),
      );
      assert.match(out, new RegExp(`/${name}$`, "m"));
    }
  });

  test("Artifact Hub annotations name the license, category, links and operator capabilities", () => {
    const package_ = JSON.parse(readFileSync(join(CHART, "..", "..", "package.json"), "utf8")) as {
      license: string;
    };
    assert.equal(chart.annotations["artifacthub.io/license"], package_.license);
    for (const key of ["category", "operator", "operatorCapabilities", "links", "prerelease"]) {
      assert.ok(chart.annotations[`artifacthub.io/${key}`], `artifacthub.io/${key} missing`);
    }
    const links = parse(chart.annotations["artifacthub.io/links"]!) as { name: string; url: string }[];
    for (const link of links) assert.match(link.url, /^https:\/\//, link.name);
  });
});

describe("the chart with every option on, installed into the test world", () => {
  test("the API server accepts every object, and the ServiceMonitor is skipped with a note", async (t) => {
    const installed = await installChart(
      t,
      { "metrics.serviceMonitor.enabled": "true" },
      {
        commonLabels: { team: "platform" },
        networkPolicy: { enabled: true, egress: [{ ports: [{ port: 443, protocol: "TCP" }] }] },
        podDisruptionBudget: { maxUnavailable: 1 },
        extraVolumes: [{ name: "extra", emptyDir: {} }],
        extraVolumeMounts: [{ name: "extra", mountPath: "/extra" }],
        extraObjects: [
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: '{{ include "aws-assume-role.fullname" . }}-extra' },
            data: { release: "{{ .Release.Name }}" },
          },
        ],
      },
    );
    assert.match(installed.notes, /no ServiceMonitor was created/);
    const w = await world();
    const namespace = installed.namespace;
    const net = w.kubeConfig.makeApiClient(k8s.NetworkingV1Api);
    const policy = await net.readNamespacedNetworkPolicy({
      namespace,
      name: installed.release + "-aws-assume-role",
    });
    assert.equal(policy.metadata?.labels?.team, "platform");
    const pdb = await w.kubeConfig
      .makeApiClient(k8s.PolicyV1Api)
      .readNamespacedPodDisruptionBudget({ namespace, name: installed.release + "-aws-assume-role" });
    assert.equal(pdb.spec?.maxUnavailable, 1);
    const extra = await w.core.readNamespacedConfigMap({
      namespace,
      name: installed.release + "-aws-assume-role-extra",
    });
    assert.deepEqual(extra.data, { release: installed.release });
    const manifest = await helm(["get", "manifest", installed.release, "--namespace", namespace]);
    const kinds = parseAllDocuments(manifest).map((d) => (d.toJS() as Rendered | null)?.kind);
    assert.ok(!kinds.includes("ServiceMonitor"), `kinds: ${kinds.join(", ")}`);
    assert.ok(!kinds.includes("CustomResourceDefinition"), "a test release must not own the shared CRDs");
  });
});
