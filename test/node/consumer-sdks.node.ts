// Which SDKs pick up refreshed credentials, measured on the node (the numbers and the table built from them are in
// docs/consuming-credentials.md). One Pod mounts a `File` Secret (AWS_SHARED_CREDENTIALS_FILE) into one container
// per SDK and mode; another reads a `Map` Secret through environment variables. 30-second credentials, and the AWS
// proxy answers calls signed with expired ones `ExpiredToken`, as AWS does. Consumers: testenv/consumers/{js,python,go}.
//   - MODE=client (one client for the life of the process, what applications do): the AWS SDK for JavaScript v3,
//     botocore and the AWS SDK for Go v2 keep the credentials they read first, although the kubelet rewrote the
//     file; after expiry every call fails with ExpiredToken until the process restarts.
//   - MODE=per-call (credentials resolved anew for every call) and the AWS CLI v1 (a new process per call): each new
//     file is used on the next call, and no call ever fails.
//   - environment variables: every SDK keeps its first credentials and fails after expiry.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import { createResource, readSecret, startOperator, waitForReady } from "../support/operator.ts";
import { chartValues, hasNode, NO_NODE, runPod, suiteContext } from "../support/node.ts";
import type { NodeWorld } from "../support/node.ts";
import { eventually, freshNamespace } from "../support/world.ts";
import { associate, installWithPodIdentity } from "../support/pod-identity.ts";
import {
  analyse,
  consumerWorld,
  containerLog,
  containerName,
  fingerprint,
  issuedExpiry,
  sdkPod,
} from "../support/sdk-consumers.ts";
import type { ConsumerWorld } from "../support/sdk-consumers.ts";

const LIFETIME_SECONDS = 30;
const REFRESHES = 3;
const LAST_REFRESH = "aws-assume-role.pincette.net/last-refresh-time";
const ROLE = "node-sdk-role";
const FILE_CONSUMERS = [
  { sdk: "js", mode: "client" },
  { sdk: "js", mode: "per-call" },
  { sdk: "python", mode: "client" },
  { sdk: "python", mode: "per-call" },
  { sdk: "python", mode: "cli" },
  { sdk: "go", mode: "client" },
  { sdk: "go", mode: "per-call" },
] as const;
const ENV_CONSUMERS = [
  { sdk: "js", mode: "client" },
  { sdk: "python", mode: "client" },
  { sdk: "go", mode: "client" },
] as const;

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

describe("which SDKs pick up refreshed credentials", { skip: hasNode() ? false : NO_NODE }, () => {
  const suite = suiteContext("SDKs on the node", after);
  let w: NodeWorld;
  let proxy: AwsProxy;
  let ns: string;
  let images: ConsumerWorld["images"];

  before(async () => {
    ({ w, proxy, images } = await consumerWorld(suite, LIFETIME_SECONDS));
    ns = await freshNamespace(suite, { "pod-security.kubernetes.io/enforce": "restricted" });
    // The operator runs on the host (the chart's Pods are tested elsewhere): what is measured is kubelet → consumer.
    await startOperator(suite, { namespaces: [ns], awsEndpoint: proxy.url });
  });

  test(`a File Secret rewritten ${REFRESHES} times and a Map Secret, read by three SDKs`, async (t) => {
    await createResource(ns, "sdk-file", { roleName: ROLE, secretName: "sdk-file", secretType: "File" });
    await createResource(ns, "sdk-env", { roleName: ROLE, secretName: "sdk-env", secretType: "Map" });
    await waitForReady(ns, "sdk-file", "True", undefined, 60_000);
    await waitForReady(ns, "sdk-env", "True", undefined, 60_000);
    const keyRef = (key: string) => ({ secretKeyRef: { name: "sdk-env", key } });
    await Promise.all([
      runPod(
        ns,
        sdkPod("sdk-file", images, w, proxy.url, FILE_CONSUMERS, {
          env: [{ name: "AWS_SHARED_CREDENTIALS_FILE", value: "/var/run/aws/credentials" }],
          mounts: [{ name: "aws", mountPath: "/var/run/aws", readOnly: true }],
          volumes: [{ name: "aws", secret: { secretName: "sdk-file" } }],
        }),
      ),
      runPod(
        ns,
        sdkPod("sdk-env", images, w, proxy.url, ENV_CONSUMERS, {
          env: [
            { name: "AWS_ACCESS_KEY_ID", valueFrom: keyRef("awsAccessKeyId") },
            { name: "AWS_SECRET_ACCESS_KEY", valueFrom: keyRef("awsSecretAccessKey") },
            { name: "AWS_SESSION_TOKEN", valueFrom: keyRef("awsSessionToken") },
          ],
        }),
      ),
    ]);

    // Measure only what every consumer lived through: from the first call of the slowest one on.
    const containers = [
      ...FILE_CONSUMERS.map((c) => ["sdk-file", containerName(c)] as const),
      ...ENV_CONSUMERS.map((c) => ["sdk-env", containerName(c)] as const),
    ];
    await eventually(
      "every consumer's first call",
      async () => {
        const logs = await Promise.all(containers.map(([pod, c]) => containerLog(ns, pod, c)));
        return logs.every((lines) => lines.some((l) => l.result !== undefined)) ? true : undefined;
      },
      120_000,
      1_000,
    );
    // Our File Secret's writes (key fingerprint → last-refresh-time), until it was rewritten REFRESHES times and the
    // env Pod's credentials have been expired for a few calls.
    const writes = new Map<string, number>();
    let envKey: string | undefined;
    await eventually(
      `${REFRESHES} rewrites of the File Secret and the Map Secret's first credentials expired`,
      async () => {
        const secret = await readSecret(ns, "sdk-file");
        const text = Buffer.from(secret?.data?.credentials ?? "", "base64").toString("utf8");
        const id = /aws_access_key_id=(\S+)/.exec(text)?.[1];
        const key = id === undefined ? undefined : fingerprint(id);
        const written = Date.parse(secret?.metadata?.annotations?.[LAST_REFRESH] ?? "");
        if (key && !writes.has(key)) writes.set(key, written);
        envKey ??= (await containerLog(ns, "sdk-env", "go-client")).find((l) => l.key)?.key;
        const envExpiry = envKey ? issuedExpiry(proxy).get(envKey) : undefined;
        const done =
          writes.size >= REFRESHES + 1 && envExpiry !== undefined && Date.now() > envExpiry + 5_000;
        return done ? true : undefined;
      },
      (REFRESHES + 3) * LIFETIME_SECONDS * 1000,
      500,
    );
    // The first key seen was written before every consumer ran: measure only the rewrites after it.
    const expiry = issuedExpiry(proxy);
    const rewrites = [...writes.keys()].slice(1);
    // Every container's calls after the kubelet put the last rewrite into the (shared) mounted file.
    const fileLogs = await eventually(
      "every container reading the last rewritten file",
      async () => {
        const logs = await Promise.all(
          FILE_CONSUMERS.map((c) => containerLog(ns, "sdk-file", containerName(c))),
        );
        const last = rewrites.at(-1);
        return logs.every((lines) => lines.some((l) => l.fileKey === last)) ? logs : undefined;
      },
      30_000,
      1_000,
    );

    for (const [i, c] of FILE_CONSUMERS.entries()) {
      const a = analyse(fileLogs[i]!);
      const first = a.calls[0]!;
      const firstExpiry = expiry.get(first.key!)!;
      assert.ok(firstExpiry, `${containerName(c)}: its first key was issued by STS`);
      const rows = rewrites.map((key) => {
        const visible = a.fileSeen.get(key);
        const usedAt = a.used.get(key);
        return (
          `${key}: written→file ${visible ? seconds(visible - writes.get(key)!) : "?"} s, ` +
          `file→used ${visible && usedAt ? seconds(usedAt - visible) : "never"}`
        );
      });
      t.diagnostic(
        `File ${containerName(c)} (${first.sdk}): ${a.ok} ok, ${a.expired} expired, ${a.errors} other errors; ${rows.join("; ")}`,
      );
      if (c.mode === "client") {
        for (const key of rewrites)
          assert.ok(a.fileSeen.has(key), `${containerName(c)}: the kubelet put ${key} into the mounted file`);
        assert.deepEqual(
          [...a.used.keys()],
          [first.key],
          `${containerName(c)}: signs with its first key only`,
        );
        const late = a.calls.filter((l) => Date.parse(l.time) > firstExpiry + 2_000);
        assert.ok(late.length > 0, `${containerName(c)}: made calls after its key expired`);
        assert.deepEqual(
          late.map((l) => l.result).filter((r) => r !== "expired"),
          [],
          `${containerName(c)}: every call after expiry failed ExpiredToken (stale until restart)`,
        );
      } else {
        assert.equal(a.expired + a.errors, 0, `${containerName(c)}: no call failed`);
        // A slow consumer (the AWS CLI starts a Python process per call) may miss a short-lived file; each call
        // signs with a key the file held, and the process moved on to rewritten files without a restart.
        const fromFile = [...a.used.keys()].filter((key) => a.fileSeen.has(key) || !rewrites.includes(key));
        assert.deepEqual([...a.used.keys()], fromFile, `${containerName(c)}: signs with keys the file held`);
        const switched = rewrites.filter((key) => a.used.has(key));
        assert.ok(
          switched.length >= 1,
          `${containerName(c)}: signed with a rewritten file's key, without restart`,
        );
      }
    }

    for (const c of ENV_CONSUMERS) {
      const a = analyse(await containerLog(ns, "sdk-env", containerName(c)));
      const first = a.calls[0]!;
      const firstExpiry = expiry.get(first.key!)!;
      t.diagnostic(
        `Map/env ${containerName(c)} (${first.sdk}): ${a.ok} ok, ${a.expired} expired, ${a.errors} other errors`,
      );
      assert.deepEqual([...a.used.keys()], [first.key], `env ${containerName(c)}: one key for life`);
      const late = a.calls.filter((l) => Date.parse(l.time) > firstExpiry + 2_000);
      assert.ok(
        late.length > 0 && late.every((l) => l.result === "expired"),
        `env ${containerName(c)}: expired after expiry`,
      );
    }
  });
});

// The endpoint as a delivery (Pod Identity): the chart installed with podIdentity.enabled (operator replicas, the node
// agent, the webhook), an AWSPodIdentityAssociation for a ServiceAccount, and Pods of that ServiceAccount with no
// credential setting of their own. The SDKs' container credential providers fetch from the agent and fetch again
// before expiry: across rotations no call fails, nothing restarts, and no Secret holds what AWS issued.
const ENDPOINT_CONSUMERS = [
  { sdk: "js", mode: "client" },
  { sdk: "python", mode: "client" },
  { sdk: "python", mode: "cli" },
  { sdk: "go", mode: "client" },
] as const;
const ENDPOINT_VAR = "AWS_CONTAINER_CREDENTIALS_FULL_URI";

/** Every Secret of the cluster, decoded: namespace/name → its values as text. */
async function allSecretValues(w: NodeWorld): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const s of (await w.core.listSecretForAllNamespaces()).items) {
    const text = Object.values(s.data ?? {})
      .map((v) => Buffer.from(v, "base64").toString("utf8"))
      .join("\n");
    out.set(`${s.metadata?.namespace}/${s.metadata?.name}`, text);
  }
  return out;
}

describe(
  "the node endpoint (Pod Identity): SDKs refresh by themselves",
  { skip: hasNode() ? false : NO_NODE },
  () => {
    const suite = suiteContext("SDKs on the node endpoint", after);
    let w: NodeWorld;
    let proxy: AwsProxy;
    let ns: string;
    let images: ConsumerWorld["images"];

    /** Fingerprint → access key id of every key the proxy issued to a session of this association. */
    const issuedTo = (session: string): Map<string, string> =>
      new Map(
        proxy
          .records({ action: "AssumeRole" })
          .filter((r) => r.params.RoleSessionName === session && r.issued?.accessKeyId)
          .map((r) => [fingerprint(r.issued!.accessKeyId!), r.issued!.accessKeyId!]),
      );

    before(async () => {
      ({ w, proxy, images } = await consumerWorld(suite, LIFETIME_SECONDS));
      await installWithPodIdentity(suite, w, proxy.url);
      ns = await freshNamespace(suite, { "pod-security.kubernetes.io/enforce": "restricted" });
    });

    test(`JS, botocore, Go and the AWS CLI across ${REFRESHES} rotations: no ExpiredToken, no restart, no Secret`, async (t) => {
      await associate(ns, "sdk", { roleName: ROLE, durationSeconds: 900 });
      const pod = sdkPod("sdk-endpoint", images, w, proxy.url, ENDPOINT_CONSUMERS, { env: [] });
      pod.spec!.serviceAccountName = "sdk";
      const running = await runPod(ns, pod);
      for (const c of running.spec!.containers) {
        assert.equal(
          c.env?.find((e) => e.name === ENDPOINT_VAR)?.value,
          "http://169.254.170.23/v1/credentials",
          `${c.name}: the webhook injected the endpoint`,
        );
        assert.ok(!c.env?.some((e) => e.name === "AWS_ACCESS_KEY_ID"), `${c.name}: no key in its spec`);
      }
      const session = `aarpi.${ns}.sdk`;
      const logs = await eventually(
        `every consumer calling on past the expiry of ${REFRESHES} keys it signed with`,
        async () => {
          const all = await Promise.all(
            ENDPOINT_CONSUMERS.map((c) => containerLog(ns, "sdk-endpoint", containerName(c))),
          );
          const expiry = issuedExpiry(proxy);
          // Two replicas serve, each with its own credentials: a rotation is a key that expired while calls went on.
          // The AWS CLI starts a process per call and cannot say which key it signed with: its calls must span the
          // same time, and the proxy's records below say what they were signed with.
          const rotated = all.every((lines, i) => {
            const a = analyse(lines);
            const last = Date.parse(a.calls.at(-1)?.time ?? "");
            if (ENDPOINT_CONSUMERS[i]!.mode === "cli") {
              return last - Date.parse(a.calls[0]?.time ?? "") > REFRESHES * LIFETIME_SECONDS * 1000;
            }
            const outlived = [...a.used.keys()].filter((k) => (expiry.get(k) ?? Infinity) < last);
            return outlived.length >= REFRESHES;
          });
          return rotated ? all : undefined;
        },
        (REFRESHES + 4) * LIFETIME_SECONDS * 1000,
        1_000,
      );
      const issued = issuedTo(session);
      for (const [i, c] of ENDPOINT_CONSUMERS.entries()) {
        const a = analyse(logs[i]!);
        t.diagnostic(
          `endpoint ${containerName(c)} (${a.calls[0]?.sdk}): ${a.ok} ok, ${a.expired} expired, ${a.errors} other errors, ${a.used.size} keys`,
        );
        assert.equal(a.expired, 0, `${containerName(c)}: no ExpiredToken`);
        assert.equal(a.errors, 0, `${containerName(c)}: no failed call`);
        assert.ok(a.ok > 0, `${containerName(c)}: made calls`);
        if (c.mode === "cli") continue;
        for (const key of a.used.keys())
          assert.ok(
            issued.has(key),
            `${containerName(c)}: signed with ${key}, which AWS issued to ${session}`,
          );
      }
      // At the proxy: every call not signed with the operator's own key was signed with a key issued to the
      // association, and none was refused.
      const consumerCalls = proxy
        .records({ action: "GetCallerIdentity" })
        .filter((r) => r.accessKeyId !== w.env.AWS_ACCESS_KEY_ID);
      assert.ok(consumerCalls.length > 0);
      for (const r of consumerCalls) {
        assert.equal(r.callerSession, session, `GetCallerIdentity #${r.seq} signed with a key of ${session}`);
        assert.equal(r.status, 200, `GetCallerIdentity #${r.seq} answered ${r.status} ${r.rejected ?? ""}`);
      }
      const after = await w.core.readNamespacedPod({ name: "sdk-endpoint", namespace: ns });
      for (const s of after.status?.containerStatuses ?? [])
        assert.equal(s.restartCount, 0, `${s.name} never restarted`);

      // No credentials at rest: no Secret anywhere holds a key issued to the association.
      const secrets = await allSecretValues(w);
      for (const [name, text] of secrets) {
        for (const key of issuedTo(session).values())
          assert.ok(!text.includes(key), `Secret ${name} holds an issued access key id`);
      }
    });

    test("20 Pods of one ServiceAccount cost one AssumeRole per serving replica, none per Pod start", async () => {
      // Long enough that no refresh falls into the test: every AssumeRole is one a Pod start would have caused.
      proxy.setLifetime({ stsSeconds: 900, rejectExpired: true });
      await associate(ns, "many", { roleName: ROLE, durationSeconds: 900 });
      const session = `aarpi.${ns}.many`;
      const pods = Array.from({ length: 20 }, (_, i) => {
        const p = sdkPod(`many-${i}`, images, w, proxy.url, [{ sdk: "go", mode: "client" }], { env: [] });
        p.spec!.serviceAccountName = "many";
        return p;
      });
      await Promise.all(pods.map((p) => runPod(ns, p)));
      await eventually(
        "every Pod's first successful call",
        async () => {
          const logs = await Promise.all(pods.map((p) => containerLog(ns, p.metadata!.name!, "go-client")));
          return logs.every((l) => analyse(l).ok > 0) ? true : undefined;
        },
        120_000,
        1_000,
      );
      const values = (await chartValues()) as { replicaCount: number };
      const assumed = proxy
        .records({ action: "AssumeRole" })
        .filter((r) => r.params.RoleSessionName === session);
      assert.ok(
        assumed.length >= 1 && assumed.length <= values.replicaCount,
        `${assumed.length} AssumeRole for 20 Pods (at most one per replica: ${values.replicaCount})`,
      );
    });
  },
);
