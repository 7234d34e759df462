// Workloads that use the credentials through the kubelet, with the operator running from the chart on the node and
// 30-second credentials (the AWS proxy shortens them; kubelet syncFrequency is 2 s in this world):
//   - a Pod mounting a `File` Secret (AWS_SHARED_CREDENTIALS_FILE) keeps working across refreshes: every call it
//     makes uses credentials the AWS side issued and that had not expired;
//   - a Pod reading a `Map` Secret through environment variables keeps its first credentials and goes stale.
// The consumer is the AWS SDK for JavaScript v3 (testenv/consumers/js) calling STS GetCallerIdentity.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import type { ProxyRecord } from "../../testenv/aws-proxy/types.ts";
import { createResource, readSecret, waitForReady } from "../support/operator.ts";
import {
  consumerImage,
  hasNode,
  installOperator,
  NO_NODE,
  nodeWorld,
  podJsonLog,
  podReachableProxy,
  restrictedPod,
  runPod,
  suiteContext,
  issuedKeys,
} from "../support/node.ts";
import type { NodeWorld } from "../support/node.ts";
import { eventually, freshNamespace } from "../support/world.ts";

const LIFETIME_SECONDS = 30;
const REFRESHES = 3;
const LAST_REFRESH = "aws-assume-role.pincette.net/last-refresh-time";
const ROLE = "node-consumer-role";

interface CallLine {
  time: string;
  accessKeyId?: string;
  arn?: string;
  error?: string;
  event?: string;
}

function consumerPod(
  name: string,
  image: string,
  awsEndpoint: string,
  region: string,
  credentials: object,
): k8s.V1Pod {
  return restrictedPod(
    name,
    {
      name: "consumer",
      image,
      env: [
        { name: "AWS_ENDPOINT_URL", value: awsEndpoint },
        { name: "AWS_REGION", value: region },
        { name: "INTERVAL_MS", value: "500" },
        ...((credentials as { env?: k8s.V1EnvVar[] }).env ?? []),
      ],
      volumeMounts: (credentials as { mounts?: k8s.V1VolumeMount[] }).mounts ?? [],
    },
    { volumes: (credentials as { volumes?: k8s.V1Volume[] }).volumes ?? [] },
  );
}

const callsBy = (proxy: AwsProxy, keys: Set<string>): ProxyRecord[] =>
  proxy.records({ action: "GetCallerIdentity" }).filter((r) => r.accessKeyId && keys.has(r.accessKeyId));

describe("workloads using the credentials through the kubelet", { skip: hasNode() ? false : NO_NODE }, () => {
  const suite = suiteContext("workloads on the node", after);
  let w: NodeWorld;
  let proxy: AwsProxy;
  let ns: string;
  let image: string;

  before(async () => {
    const found = await nodeWorld();
    if (!found) throw new Error(NO_NODE);
    w = found;
    proxy = await podReachableProxy(suite, w);
    proxy.setLifetime({ stsSeconds: LIFETIME_SECONDS });
    [image] = await Promise.all([consumerImage("js"), installOperator(suite, w, proxy.url)]);
    ns = await freshNamespace(suite, { "pod-security.kubernetes.io/enforce": "restricted" });
  });

  test(`a Pod reading a mounted File Secret works across ${REFRESHES} refreshes with issued, unexpired credentials`, async (t) => {
    await createResource(ns, "consumer-file", {
      roleName: ROLE,
      secretName: "consumer-file",
      secretType: "File",
    });
    await waitForReady(ns, "consumer-file", "True", undefined, 60_000);
    await runPod(
      ns,
      consumerPod("consumer-file", image, proxy.url, w.env.AWS_REGION!, {
        env: [{ name: "AWS_SHARED_CREDENTIALS_FILE", value: "/var/run/aws/credentials" }],
        mounts: [{ name: "aws", mountPath: "/var/run/aws", readOnly: true }],
        volumes: [{ name: "aws", secret: { secretName: "consumer-file" } }],
      }),
    );
    // Our Secret writes: access key id → when the operator wrote it (its last-refresh-time annotation).
    const writes = new Map<string, number>();
    const changes = await eventually(
      `the consumer seeing ${REFRESHES} refreshed credentials files`,
      async () => {
        const secret = await readSecret(ns, "consumer-file");
        const text = Buffer.from(secret?.data?.credentials ?? "", "base64").toString("utf8");
        const key = /aws_access_key_id=(\S+)/.exec(text)?.[1];
        const written = Date.parse(secret?.metadata?.annotations?.[LAST_REFRESH] ?? "");
        if (key && !writes.has(key)) writes.set(key, written);
        const lines = (await podJsonLog(ns, "consumer-file")) as unknown as CallLine[];
        const seen = lines.filter((l) => l.event === "credentials-changed");
        return seen.length >= REFRESHES + 1 ? { lines, seen } : undefined;
      },
      (REFRESHES + 2) * LIFETIME_SECONDS * 1000,
      500,
    );
    const calls = changes.lines.filter((l) => l.event === undefined);
    const errors = calls.filter((l) => l.error !== undefined);
    assert.deepEqual(errors, [], "no call failed");
    const arn = new RegExp(`^arn:aws:sts::123456789012:assumed-role/${ROLE}/aar\\.${ns}\\.consumer-file$`);
    for (const call of calls) assert.match(call.arn ?? "", arn, "every call ran as the assumed role");

    // What the AWS side saw: every call of this consumer was signed with credentials it issued, before they expired.
    const issued = issuedKeys(proxy);
    const mine = new Set(changes.seen.map((l) => l.accessKeyId!));
    for (const key of mine)
      assert.ok(issued.has(key), `the consumer's key ${key.slice(0, 8)}… was issued by STS`);
    const late = callsBy(proxy, mine).filter((r) => Date.parse(r.time) >= issued.get(r.accessKeyId!)!);
    assert.deepEqual(late, [], "no call used expired credentials");

    // Propagation: our Secret write → the file changing inside the container; margin: → the old key's expiry.
    const rows: string[] = [];
    for (let i = 1; i < changes.seen.length; i++) {
      const change = changes.seen[i]!;
      const seenAt = Date.parse(change.time);
      const writtenAt = writes.get(change.accessKeyId!);
      const oldExpiry = issued.get(changes.seen[i - 1]!.accessKeyId!)!;
      assert.ok(seenAt < oldExpiry, "the new file arrived before the old credentials expired");
      rows.push(
        `refresh ${i}: written→visible ${writtenAt ? seenAt - writtenAt : "?"} ms, visible→old expiry ${oldExpiry - seenAt} ms`,
      );
    }
    for (const row of rows) t.diagnostic(row);
  });

  test("a Pod reading a Map Secret through environment variables keeps its first credentials and goes stale", async (t) => {
    await createResource(ns, "consumer-env", {
      roleName: ROLE,
      secretName: "consumer-env",
      secretType: "Map",
    });
    await waitForReady(ns, "consumer-env", "True", undefined, 60_000);
    const keyRef = (key: string) => ({ secretKeyRef: { name: "consumer-env", key } });
    await runPod(
      ns,
      consumerPod("consumer-env", image, proxy.url, w.env.AWS_REGION!, {
        env: [
          { name: "AWS_ACCESS_KEY_ID", valueFrom: keyRef("awsAccessKeyId") },
          { name: "AWS_SECRET_ACCESS_KEY", valueFrom: keyRef("awsSecretAccessKey") },
          { name: "AWS_SESSION_TOKEN", valueFrom: keyRef("awsSessionToken") },
        ],
      }),
    );
    const first = await eventually("the consumer's first call", async () => {
      const line = ((await podJsonLog(ns, "consumer-env")) as unknown as CallLine[]).find((l) => l.arn);
      return line?.accessKeyId;
    });
    const issued = issuedKeys(proxy);
    const expiry = issued.get(first);
    assert.ok(expiry, "the environment held credentials STS issued");
    // Wait until the Secret holds newer credentials and the first ones have expired.
    await eventually(
      "a call with the first credentials after they expired",
      async () => {
        const secret = await readSecret(ns, "consumer-env");
        const current = Buffer.from(secret?.data?.awsAccessKeyId ?? "", "base64").toString("utf8");
        const stale = callsBy(proxy, new Set([first])).filter((r) => Date.parse(r.time) >= expiry);
        return current !== first && stale.length > 0 ? stale : undefined;
      },
      3 * LIFETIME_SECONDS * 1000,
      500,
    );
    const lines = (await podJsonLog(ns, "consumer-env")) as unknown as CallLine[];
    const keys = new Set(lines.filter((l) => l.accessKeyId).map((l) => l.accessKeyId));
    assert.deepEqual([...keys], [first], "environment variables never change in a running container");
    t.diagnostic(
      `the Pod still signs with ${first.slice(0, 8)}…, expired at ${new Date(expiry).toISOString()}; ` +
        "AWS would answer ExpiredToken (moto does not check expiry, the proxy's records show it)",
    );
  });
});
