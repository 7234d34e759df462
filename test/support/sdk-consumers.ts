// The SDK consumers of the node tests (testenv/consumers/{js,python,go}): their Pod, their JSON log lines and what a
// log says about the keys they signed with (the consumers print fingerprints of access key ids, never keys).
import { createHash } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import { consumerImage, NO_NODE, nodeWorld, podReachableProxy, restrictedContainer } from "./node.ts";
import type { NodeWorld } from "./node.ts";
import { kubectl } from "./world.ts";
import type { TestContext } from "./world.ts";

/** Each consumer calls STS this often. */
export const INTERVAL_MS = 1000;

export interface Line {
  time: string;
  event?: string;
  sdk?: string;
  result?: "ok" | "expired" | "error";
  /** Fingerprint of the access key it signed with / the mounted file holds (see the consumers). */
  key?: string;
  fileKey?: string;
  error?: string;
}

/** The consumers' fingerprint of an access key id: the first 8 hex digits of its SHA-256. */
export const fingerprint = (key: string): string =>
  createHash("sha256").update(key).digest("hex").slice(0, 8);

export const containerName = (c: { sdk: string; mode: string }): string => `${c.sdk}-${c.mode}`;

export function sdkPod(
  name: string,
  images: Record<string, string>,
  w: NodeWorld,
  proxyUrl: string,
  consumers: readonly { sdk: string; mode: string }[],
  delivery: { env: k8s.V1EnvVar[]; mounts?: k8s.V1VolumeMount[]; volumes?: k8s.V1Volume[] },
): k8s.V1Pod {
  const region = w.env.AWS_REGION!;
  return {
    metadata: { name },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      volumes: delivery.volumes ?? [],
      containers: consumers.map((c) => ({
        name: containerName(c),
        image: images[c.sdk]!,
        imagePullPolicy: "Never",
        securityContext: restrictedContainer,
        env: [
          { name: "AWS_ENDPOINT_URL", value: proxyUrl },
          { name: "AWS_REGION", value: region },
          // The chains end at the instance metadata service; nothing here may reach for it (169.254.169.254).
          { name: "AWS_EC2_METADATA_DISABLED", value: "true" },
          { name: "AWS_DEFAULT_REGION", value: region },
          { name: "HOME", value: "/tmp" },
          { name: "MODE", value: c.mode },
          { name: "INTERVAL_MS", value: String(INTERVAL_MS) },
          ...delivery.env,
        ],
        volumeMounts: delivery.mounts ?? [],
      })),
    },
  };
}

export async function containerLog(ns: string, pod: string, container: string): Promise<Line[]> {
  const text = await kubectl(["logs", "-n", ns, pod, "-c", container]);
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);
}

/** Issued access key fingerprint → its expiration (ms), from the proxy's AssumeRole records. */
export function issuedExpiry(proxy: AwsProxy): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of proxy.records({ action: "AssumeRole" }))
    if (r.issued?.accessKeyId && r.issued.expiration)
      out.set(fingerprint(r.issued.accessKeyId), Date.parse(r.issued.expiration));
  return out;
}

/** What one container saw: when each new file appeared, when the SDK first signed with it, and how calls ended. */
export function analyse(lines: Line[]) {
  const calls = lines.filter((l) => l.event === undefined && l.result !== undefined);
  const fileSeen = new Map<string, number>();
  const used = new Map<string, number>();
  for (const c of calls) {
    const t = Date.parse(c.time);
    if (c.fileKey && !fileSeen.has(c.fileKey)) fileSeen.set(c.fileKey, t);
    if (c.key && !used.has(c.key)) used.set(c.key, t);
  }
  const count = (r: string) => calls.filter((c) => c.result === r).length;
  return { calls, fileSeen, used, ok: count("ok"), expired: count("expired"), errors: count("error") };
}

/** What the SDK node tests start from: the node world, a proxy Pods reach with short sessions, the consumer images. */
export interface ConsumerWorld {
  w: NodeWorld;
  proxy: AwsProxy;
  images: Record<"js" | "python" | "go", string>;
}

export async function consumerWorld(t: TestContext, lifetimeSeconds: number): Promise<ConsumerWorld> {
  const w = await nodeWorld();
  if (!w) throw new Error(NO_NODE);
  const proxy = await podReachableProxy(t, w);
  proxy.setLifetime({ stsSeconds: lifetimeSeconds, rejectExpired: true });
  const [js, python, go] = await Promise.all([
    consumerImage("js"),
    consumerImage("python"),
    consumerImage("go"),
  ]);
  return { w, proxy, images: { js, python, go } };
}
