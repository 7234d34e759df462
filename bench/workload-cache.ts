// Memory of rolloutRestart's workload discovery: the heap a Deployment cache holds per 1,000 workloads with the
// operator's transform (names + the Secret names the Pod template reads) and, for comparison, without it (whole
// objects minus nothing). Standalone, against the test world:
//   node --expose-gc bench/workload-cache.ts [count]
// Creates its own namespace with `count` (default 1000) Deployments shaped like real ones (two containers, env
// vars, envFrom, volumes, labels, kubectl's last-applied annotation), measures, and deletes the namespace.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { consumedSecrets, workloadProjection } from "../src/domain/rollout-restart.ts";
import type { CachedWorkload, RawWorkload } from "../src/domain/rollout-restart.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { Informer } from "../src/kube/informer.ts";
import { workloadPath } from "../src/kube/workloads.ts";
import { world } from "../test/support/world.ts";

const count = Number(process.argv[2] ?? 1000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

function deployment(name: string): k8s.V1Deployment {
  const env: k8s.V1EnvVar[] = [
    ...Array.from({ length: 8 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${"x".repeat(20)}` })),
    { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "app-aws", key: "awsAccessKeyId" } } },
  ];
  const container = (c: string): k8s.V1Container => ({
    name: c,
    image: `registry.example/${c}:1.2.3`,
    env,
    envFrom: [{ configMapRef: { name: "settings" } }],
    ports: [{ containerPort: 8080, name: "http" }],
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    volumeMounts: [{ name: "aws", mountPath: "/aws", readOnly: true }],
    readinessProbe: { httpGet: { path: "/ready", port: 8080 } },
  });
  const spec: k8s.V1DeploymentSpec = {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name, tier: "backend", team: "payments" } },
      spec: {
        containers: [container("app"), container("sidecar")],
        volumes: [
          { name: "aws", secret: { secretName: "app-aws-file" } },
          { name: "config", configMap: { name: "settings" } },
          { name: "tmp", emptyDir: {} },
        ],
      },
    },
  };
  return {
    metadata: {
      name,
      labels: { app: name, "app.kubernetes.io/part-of": "shop" },
      annotations: {
        "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ metadata: { name }, spec }),
      },
    },
    spec,
  };
}

async function heapAfterGc(): Promise<number> {
  await new Promise((r) => setTimeout(r, 100));
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

async function cacheHeap(
  client: KubeClient,
  namespace: string,
  transform?: (obj: unknown) => unknown,
): Promise<number> {
  const before = await heapAfterGc();
  const informer = new Informer<CachedWorkload>({
    name: "bench",
    client,
    logger: pino({ level: "silent" }),
    path: workloadPath("Deployment", namespace),
    // The operator's cache: the projection plus its Secret-name index.
    ...(transform
      ? {
          transform: transform as (obj: unknown) => CachedWorkload,
          indexers: { secret: (o: CachedWorkload) => consumedSecrets(o) },
        }
      : {}),
    relistEveryMs: 0,
  });
  await informer.start();
  const listed = informer.list().length;
  const after = await heapAfterGc();
  jsonBytes = Buffer.byteLength(JSON.stringify(informer.list()));
  informer.stop();
  if (listed !== count) throw new Error(`listed ${listed} of ${count}`);
  return after - before;
}

let jsonBytes = 0;
const w = await world();
const apps = w.kubeConfig.makeApiClient(k8s.AppsV1Api);
const namespace = `bench-workloads-${randomBytes(3).toString("hex")}`;
await w.core.createNamespace({ body: { metadata: { name: namespace } } });
try {
  for (let i = 0; i < count; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, (_, j) =>
        apps.createNamespacedDeployment({ namespace, body: deployment(`app-${i + j}`) }),
      ),
    );
  }
  const project = (obj: unknown) => workloadProjection("Deployment", obj as RawWorkload);
  // Each measured twice, interleaved, the smaller of the two kept: garbage of the set-up can only inflate one.
  await cacheHeap(w.client, namespace, project); // warm-up: the client's own lazily built state
  const whole = Math.min(await cacheHeap(w.client, namespace), await cacheHeap(w.client, namespace));
  const lean = Math.min(
    await cacheHeap(w.client, namespace, project),
    await cacheHeap(w.client, namespace, project),
  );
  const perThousand = (bytes: number) => ((bytes / count) * 1000) / 1024 / 1024;
  console.log(
    JSON.stringify({
      workloads: count,
      transformedHeapMiB: +(lean / 1024 / 1024).toFixed(2),
      transformedMiBPer1000: +perThousand(lean).toFixed(2),
      wholeObjectsHeapMiB: +(whole / 1024 / 1024).toFixed(2),
      wholeObjectsMiBPer1000: +perThousand(whole).toFixed(2),
      transformedJsonBytesPerWorkload: Math.round(jsonBytes / count),
    }),
  );
} finally {
  await w.core.deleteNamespace({ name: namespace });
}
