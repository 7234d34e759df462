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
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { parse, parseAllDocuments } from "yaml";
import { CRDS, crdName } from "../src/api/crd.ts";
import { API_VERSION } from "../src/api/schema.ts";
import { CHART, helm, installChart, notesOf, renderChart, upgradeChart, valueArgs } from "./support/chart.ts";
import type { Rendered } from "./support/chart.ts";
import { ensureCrd } from "./support/operator.ts";
import { eventually, kubectl, world } from "./support/world.ts";

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

describe("Pod Identity (podIdentity.*)", () => {
  const ON = { podIdentity: { enabled: true } };
  const envOf = (objects: Rendered[]) =>
    Object.fromEntries(containerOf(objects).env!.map((e) => [e.name, e.value ?? e.valueFrom]));
  const agentOf = (objects: Rendered[]) => only<k8s.V1DaemonSet>(objects, "DaemonSet");
  const webhookOf = (objects: Rendered[]) =>
    only<k8s.V1MutatingWebhookConfiguration>(objects, "MutatingWebhookConfiguration");
  const rulesOf = (objects: Rendered[]) => only<k8s.V1ClusterRole>(objects, "ClusterRole").rules!;
  const POD_IDENTITY_KINDS = ["DaemonSet", "MutatingWebhookConfiguration", "Namespace", "Certificate"];

  test("is off by default: no POD_IDENTITY variables, port, objects or grants", async () => {
    const objects = await renderChart();
    assert.deepEqual(
      Object.keys(envOf(objects)).filter((k) => k.startsWith("POD_IDENTITY")),
      [],
    );
    assert.ok(!containerOf(objects).ports!.some((p) => p.name === "pod-identity"));
    assert.deepEqual(
      objects.filter((o) => POD_IDENTITY_KINDS.includes(o.kind) || o.metadata.name.includes("pod-identity")),
      [],
    );
    const granted = rulesOf(objects).flatMap((r) => r.resources ?? []);
    // The associations themselves are readable either way: without the feature each is told it is off.
    for (const resource of ["tokenreviews", "pods", "mutatingwebhookconfigurations"])
      assert.ok(!granted.includes(resource), `${resource} granted without podIdentity`);
  });

  test("the operator gets every POD_IDENTITY_* variable, naming the objects the chart creates, and port 9443", async () => {
    const objects = await renderChart({ namespace: "ops", values: ON });
    const env = envOf(objects);
    const service = only<k8s.V1Service>(
      objects.filter((o) => o.metadata.name.endsWith("-pod-identity")),
      "Service",
    );
    const webhook = webhookOf(objects);
    const agent = agentOf(objects);
    assert.deepEqual(Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("POD_IDENTITY"))), {
      POD_IDENTITY: "true",
      POD_IDENTITY_BIND_ADDRESS: ":9443",
      POD_IDENTITY_AGENT: `${agent.metadata!.namespace}/${agent.spec!.template.spec!.serviceAccountName}`,
      POD_IDENTITY_SERVICE: service.metadata!.name,
      POD_IDENTITY_WEBHOOK: webhook.metadata!.name,
      POD_IDENTITY_TLS_SECRET: "aws-assume-role-pod-identity-tls",
      POD_IDENTITY_CA_CONFIG_MAP: "aws-pod-identity-ca",
    });
    assert.equal(env.POD_IDENTITY_AGENT, "aws-pod-identity/aws-pod-identity-agent");
    const port = containerOf(objects).ports!.find((p) => p.name === "pod-identity");
    assert.equal(port?.containerPort, 9443);
    // Every replica serves: the Service selects the Deployment's Pods, not the leader.
    assert.equal(service.metadata!.namespace, "ops");
    assert.deepEqual(service.spec!.selector, selectorOf(objects));
    assert.deepEqual(service.spec!.ports, [
      { name: "pod-identity", port: 9443, targetPort: "pod-identity", protocol: "TCP" },
    ]);
    assert.equal(service.spec!.clusterIP, undefined);
    const pinned = await renderChart({
      values: { podIdentity: { enabled: true, service: { clusterIP: "10.0.0.99" } } },
    });
    const pinnedService = ofKind<k8s.V1Service>(pinned, "Service").find((s) =>
      s.metadata!.name!.endsWith("-pod-identity"),
    );
    assert.equal(pinnedService!.spec!.clusterIP, "10.0.0.99");
  });

  test("the webhook mutates Pod CREATE through the Service's /mutate, ignores failures and leaves out system namespaces", async () => {
    const extra = { key: "team", operator: "Exists" };
    const objects = await renderChart({
      namespace: "ops",
      values: {
        podIdentity: {
          enabled: true,
          webhook: {
            timeoutSeconds: 3,
            namespaceSelector: { matchLabels: { a: "b" }, matchExpressions: [extra] },
          },
        },
      },
    });
    const webhook = webhookOf(objects);
    assert.equal(webhook.metadata!.annotations, undefined);
    const [hook, ...rest] = webhook.webhooks!;
    assert.equal(rest.length, 0);
    assert.equal(hook!.name, "pod-identity.pincette.net");
    assert.deepEqual(hook!.rules, [
      {
        apiGroups: [""],
        apiVersions: ["v1"],
        operations: ["CREATE"],
        resources: ["pods"],
        scope: "Namespaced",
      },
    ]);
    assert.equal(hook!.failurePolicy, "Ignore");
    assert.equal(hook!.sideEffects, "None");
    assert.deepEqual(hook!.admissionReviewVersions, ["v1"]);
    assert.equal(hook!.timeoutSeconds, 3);
    assert.equal(hook!.reinvocationPolicy, "IfNeeded");
    assert.deepEqual(hook!.clientConfig, {
      service: { name: envOf(objects).POD_IDENTITY_SERVICE, namespace: "ops", path: "/mutate", port: 9443 },
    });
    assert.deepEqual(hook!.namespaceSelector, {
      matchLabels: { a: "b" },
      matchExpressions: [
        {
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: ["kube-system", "ops", "aws-pod-identity"],
        },
        extra,
      ],
    });
    assert.equal(webhookOf(await renderChart({ values: ON })).webhooks![0]!.timeoutSeconds, 5);
  });

  test("the agent: its own privileged namespace, host network, root with NET_BIND_SERVICE only, the contract's variables and mounts", async () => {
    const objects = await renderChart({ namespace: "ops", values: ON });
    const namespace = only<k8s.V1Namespace>(objects, "Namespace");
    assert.equal(namespace.metadata!.name, "aws-pod-identity");
    assert.equal(namespace.metadata!.labels!["pod-security.kubernetes.io/enforce"], "privileged");
    const sa = ofKind<k8s.V1ServiceAccount>(objects, "ServiceAccount").find(
      (s) => s.metadata!.namespace === "aws-pod-identity",
    );
    assert.equal(sa?.metadata!.name, "aws-pod-identity-agent");
    const agent = agentOf(objects);
    assert.equal(agent.metadata!.namespace, "aws-pod-identity");
    // A selector of its own: the operator's Services and PDB never match the agent.
    assert.notDeepEqual(agent.spec!.selector.matchLabels, selectorOf(objects));
    assert.deepEqual(agent.spec!.updateStrategy, {
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: 1 },
    });
    const pod = agent.spec!.template.spec!;
    assert.equal(pod.serviceAccountName, "aws-pod-identity-agent");
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, "ClusterFirstWithHostNet");
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.priorityClassName, "system-node-critical");
    assert.deepEqual(pod.tolerations, [{ operator: "Exists" }]);
    assert.equal(pod.initContainers, undefined);
    const [container] = pod.containers;
    assert.equal(container!.image, containerOf(objects).image);
    assert.deepEqual(container!.command, [
      "node",
      "--max-semi-space-size=1",
      "--no-opt",
      "--no-maglev",
      "dist/agent/main.js",
    ]);
    assert.equal(container!.ports, undefined);
    const env = Object.fromEntries(container!.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
    assert.deepEqual(env, {
      AGENT_LISTEN: "169.254.170.23:80",
      AGENT_AUTHORITY_URL: "https://aws-assume-role-pod-identity.ops.svc:9443",
      AGENT_AUTHORITY_CA_FILE: "/etc/aws-pod-identity/ca/ca.crt",
      AGENT_TOKEN_FILE: "/var/run/secrets/pincette.net/agent/token",
      NODE_NAME: { fieldRef: { fieldPath: "spec.nodeName" } },
    });
    const sc = container!.securityContext!;
    assert.equal(sc.runAsUser, 0);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities, { drop: ["ALL"], add: ["NET_BIND_SERVICE"] });
    assert.equal(sc.privileged, undefined);
    for (const probe of [container!.livenessProbe!, container!.readinessProbe!])
      assert.deepEqual(probe.httpGet, { host: "169.254.170.23", port: 80, path: "/healthz" });
    assert.equal(container!.resources!.limits!.memory, "128Mi");
    const mounts = Object.fromEntries(container!.volumeMounts!.map((m) => [m.name, m.mountPath]));
    const volumes = Object.fromEntries(pod.volumes!.map((v) => [v.name, v]));
    assert.equal(mounts["authority-ca"], "/etc/aws-pod-identity/ca");
    assert.deepEqual(volumes["authority-ca"]!.configMap, {
      name: envOf(objects).POD_IDENTITY_CA_CONFIG_MAP,
      optional: true,
    });
    assert.equal(mounts["agent-token"], "/var/run/secrets/pincette.net/agent");
    assert.deepEqual(volumes["agent-token"]!.projected!.sources, [
      {
        serviceAccountToken: {
          audience: "aws-assume-role.pincette.net/agent",
          expirationSeconds: 3600,
          path: "token",
        },
      },
    ]);
  });

  test("the agent takes the authority's address, IPv6, the setup init container and an existing namespace from the values", async () => {
    const objects = await renderChart({
      values: {
        podIdentity: {
          enabled: true,
          agent: {
            namespace: "node-agents",
            createNamespace: false,
            authorityAddress: "10.0.0.99",
            ipv6Address: "fd00:ec2::23",
            setupAddress: { enabled: true, image: { repository: "registry.example/iproute2", tag: "6" } },
          },
        },
      },
    });
    assert.equal(ofKind(objects, "Namespace").length, 0);
    const pod = agentOf(objects).spec!.template.spec!;
    const env = Object.fromEntries(pod.containers[0]!.env!.map((e) => [e.name, e.value]));
    assert.equal(env.AGENT_AUTHORITY_ADDRESS, "10.0.0.99");
    assert.equal(env.AGENT_LISTEN, "169.254.170.23:80,[fd00:ec2::23]:80");
    assert.equal(envOf(objects).POD_IDENTITY_AGENT, "node-agents/aws-pod-identity-agent");
    const [init] = pod.initContainers!;
    assert.equal(init!.image, "registry.example/iproute2:6");
    assert.deepEqual(init!.securityContext!.capabilities, { drop: ["ALL"], add: ["NET_ADMIN"] });
    const script = init!.command!.join(" ");
    assert.match(script, /ip link add aws-pod-id0 type dummy/);
    assert.match(script, /ip addr replace 169\.254\.170\.23\/32 dev aws-pod-id0/);
    assert.match(script, /ip -6 addr replace fd00:ec2::23\/128 dev aws-pod-id0/);
    await assert.rejects(
      renderChart({ values: { podIdentity: { enabled: true, agent: { setupAddress: { enabled: true } } } } }),
      /setupAddress\.image\.repository must name an image with a shell and iproute2/,
    );
  });

  test("RBAC only with podIdentity: TokenReviews, Pods, its own webhook, and the CA ConfigMap in the agent's namespace (the associations are read either way)", async () => {
    const objects = await renderChart({ namespace: "ops", values: ON });
    const rules = rulesOf(objects);
    const verbsFor = (resource: string) =>
      [...(rules.find((r) => r.resources?.includes(resource))?.verbs ?? [])].sort();
    assert.deepEqual(verbsFor("tokenreviews"), ["create"]);
    assert.deepEqual(verbsFor("pods"), ["get", "list", "watch"]);
    assert.deepEqual(verbsFor("awspodidentityassociations"), ["get", "list", "watch"]);
    assert.deepEqual(verbsFor("awspodidentityassociations/status"), ["get", "patch", "update"]);
    const webhookRule = rules.find((r) => r.resources?.includes("mutatingwebhookconfigurations"))!;
    assert.deepEqual(webhookRule.resourceNames, [webhookOf(objects).metadata!.name]);
    assert.deepEqual([...webhookRule.verbs].sort(), ["get", "patch", "update"]);
    assert.ok(!rules.some((r) => r.resources?.includes("configmaps")), "configmaps granted cluster-wide");
    const role = ofKind<k8s.V1Role>(objects, "Role").find(
      (r) => r.metadata!.namespace === "aws-pod-identity",
    )!;
    assert.deepEqual(role.rules, [
      { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: ["aws-pod-identity-ca"],
        verbs: ["get", "update", "patch"],
      },
    ]);
    const binding = ofKind<k8s.V1RoleBinding>(objects, "RoleBinding").find(
      (r) => r.metadata!.namespace === "aws-pod-identity",
    )!;
    assert.equal(binding.roleRef.name, role.metadata!.name);
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "aws-assume-role-controller", namespace: "ops" },
    ]);
  });

  test("the NetworkPolicy admits the Pod Identity port, from the peers given", async () => {
    const peer = { ipBlock: { cidr: "10.0.0.0/8" } };
    const objects = await renderChart({
      values: { ...ON, networkPolicy: { enabled: true, podIdentityFrom: [peer] } },
    });
    const rules = only<RenderedPolicy>(objects, "NetworkPolicy").spec.ingress!;
    assert.deepEqual(
      rules.map((r) => r.ports!.map((p) => p.port)),
      [[8080], [8081], [9443]],
    );
    assert.deepEqual(rules[2]!.from, [peer]);
  });

  describe("with cert-manager", () => {
    const CERT_MANAGER = ["--api-versions", "cert-manager.io/v1/Certificate"];
    const values = {
      podIdentity: { enabled: true, certManager: { enabled: true, issuerRef: { name: "ca" } } },
    };

    test("a Certificate for the Service's names, mounted as POD_IDENTITY_CERT_DIR, its CA injected into the webhook", async () => {
      const objects = await renderChart({ namespace: "ops", values, args: CERT_MANAGER });
      const certificate = only<Rendered & { spec: Record<string, unknown> }>(objects, "Certificate");
      const service = envOf(objects).POD_IDENTITY_SERVICE as string;
      assert.deepEqual(certificate.spec.dnsNames, [service, `${service}.ops`, `${service}.ops.svc`]);
      assert.deepEqual(certificate.spec.issuerRef, { name: "ca", kind: "Issuer", group: "cert-manager.io" });
      assert.equal(envOf(objects).POD_IDENTITY_CERT_DIR, "/etc/aws-pod-identity/tls");
      const pod = deploymentOf(objects).spec!.template.spec!;
      const volume = pod.volumes!.find((v) => v.secret?.secretName === certificate.spec.secretName);
      const mount = containerOf(objects).volumeMounts!.find((m) => m.name === volume?.name);
      assert.equal(mount?.mountPath, "/etc/aws-pod-identity/tls");
      assert.notEqual(certificate.spec.secretName, envOf(objects).POD_IDENTITY_TLS_SECRET);
      assert.equal(
        webhookOf(objects).metadata!.annotations!["cert-manager.io/inject-ca-from"],
        `ops/${certificate.metadata.name}`,
      );
    });

    test("fails with a clear message when the cluster has no cert-manager, or no issuer is named", async () => {
      await assert.rejects(renderChart({ values }), /podIdentity\.certManager\.enabled needs cert-manager/);
      await assert.rejects(
        renderChart({
          values: { podIdentity: { enabled: true, certManager: { enabled: true } } },
          args: CERT_MANAGER,
        }),
        /issuerRef\.name must name your cert-manager Issuer/,
      );
    });
  });
});

describe("the chart with podIdentity on, installed into the test world", () => {
  test("the API server accepts every object, and helm upgrade keeps the caBundle the operator wrote", async (t) => {
    const suffix = randomBytes(3).toString("hex");
    // Its own agent namespace, and a webhook that selects no Pod of the other tests running meanwhile.
    const values = {
      podIdentity: {
        enabled: true,
        webhook: { objectSelector: { matchLabels: { "aar-test-webhook": suffix } } },
        agent: { namespace: `pod-identity-${suffix}` },
      },
      networkPolicy: { enabled: true },
    };
    const installed = await installChart(t, {}, values);
    t.after(() =>
      kubectl(["delete", "namespace", `pod-identity-${suffix}`, "--ignore-not-found", "--wait=false"]),
    );
    const w = await world();
    const agentNamespace = await w.core.readNamespace({ name: `pod-identity-${suffix}` });
    assert.equal(agentNamespace.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "privileged");
    const agent = await w.kubeConfig
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDaemonSet({ namespace: `pod-identity-${suffix}`, name: "aws-pod-identity-agent" });
    assert.equal(agent.spec?.template.spec?.hostNetwork, true);
    const service = await w.core.readNamespacedService({
      namespace: installed.namespace,
      name: `${installed.release}-aws-assume-role-pod-identity`,
    });
    assert.equal(service.spec?.ports?.[0]?.port, 9443);

    const admission = w.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
    const name = `${installed.namespace}-${installed.release}-aws-assume-role`;
    const caBundle = Buffer.from("not a real CA, written as the operator would").toString("base64");
    // As the operator: a JSON patch of its own webhook's caBundle, which its ClusterRole allows by name.
    const operatorAdmission = installed.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
    await eventually("the operator may patch its webhook's caBundle", () =>
      operatorAdmission.patchMutatingWebhookConfiguration(
        { name, body: [{ op: "add", path: "/webhooks/0/clientConfig/caBundle", value: caBundle }] },
        setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
      ),
    );
    await upgradeChart(installed, { "podIdentity.webhook.timeoutSeconds": "7" });
    const webhook = await admission.readMutatingWebhookConfiguration({ name });
    assert.equal(webhook.webhooks?.[0]?.timeoutSeconds, 7);
    assert.equal(webhook.webhooks?.[0]?.clientConfig.caBundle, caBundle);
  });
});
