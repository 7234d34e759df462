// Smoke tests of the test world itself: the real kube-apiserver (watches, CRDs, garbage collector, RBAC), moto
// behind the AWS proxy (STS, ECR, faults, lifetimes, records) and the pinned CLIs. If these fail, nothing else is
// worth reading.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
  STSServiceException,
} from "@aws-sdk/client-sts";
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { awsEnv, eventually, freshNamespace, kubectl, privateProxy, world } from "./support/world.ts";

const run = promisify(execFile);

/** Upper bound for one smoke test; each should take a few seconds. */
const TEST_TIMEOUT_MS = 60_000;
/** How long a watch may take to deliver an event for an object we just created. */
const WATCH_TIMEOUT_MS = 15_000;
/** Slack when comparing an expiry to now + lifetime: STS times have second precision and clocks tick meanwhile. */
const EXPIRY_SLACK_MS = 5_000;

const ACCOUNT = "123456789012";

function suffix(): string {
  return randomBytes(4).toString("hex");
}

function roleArn(name: string): string {
  return `arn:aws:iam::${ACCOUNT}:role/${name}`;
}

/** AWS SDK client settings taken only from a world environment (see `awsEnv`). */
function awsClientConfig(env: Record<string, string>, extra: { maxAttempts?: number } = {}) {
  return {
    region: env.AWS_REGION!,
    endpoint: env.AWS_ENDPOINT_URL!,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    ...extra,
  };
}

async function stsClient(t: { after(fn: () => unknown): void }, endpoint?: string, maxAttempts?: number) {
  const client = new STSClient(awsClientConfig(await awsEnv(endpoint), maxAttempts ? { maxAttempts } : {}));
  t.after(() => client.destroy());
  return client;
}

/** Asserts that `actual` lies within [before + lifetime, after + lifetime], give or take EXPIRY_SLACK_MS. */
function assertExpiresAfter(
  actual: Date | undefined,
  lifetimeSeconds: number,
  before: number,
  after: number,
): void {
  assert.ok(actual instanceof Date, `expected an expiry date, got ${String(actual)}`);
  const lo = before + lifetimeSeconds * 1000 - EXPIRY_SLACK_MS;
  const hi = after + lifetimeSeconds * 1000 + EXPIRY_SLACK_MS;
  const got = actual.getTime();
  assert.ok(
    got >= lo && got <= hi,
    `expected expiry ≈ now + ${lifetimeSeconds} s (between ${new Date(lo).toISOString()} and ` +
      `${new Date(hi).toISOString()}), got ${actual.toISOString()} (now + ${Math.round((got - after) / 1000)} s)`,
  );
}

function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}

describe("Kubernetes in the test world", () => {
  test(
    "a Secret created in a namespace is seen as ADDED by a watch",
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const w = await world();
      const namespace = await freshNamespace(t);
      const name = `watched-${suffix()}`;

      let resolveSeen!: (s: k8s.V1Secret) => void;
      let rejectSeen!: (e: Error) => void;
      const seen = new Promise<k8s.V1Secret>((resolve, reject) => {
        resolveSeen = resolve;
        rejectSeen = reject;
      });
      seen.catch(() => undefined); // awaited below; avoid an unhandled rejection if the watch dies first
      const timer = setTimeout(
        () =>
          rejectSeen(
            new Error(`no ADDED event for Secret ${namespace}/${name} within ${WATCH_TIMEOUT_MS} ms`),
          ),
        WATCH_TIMEOUT_MS,
      );
      const controller = await new k8s.Watch(w.kubeConfig).watch(
        `/api/v1/namespaces/${namespace}/secrets`,
        {},
        (type: string, obj: k8s.V1Secret) => {
          if (type === "ADDED" && obj.metadata?.name === name) resolveSeen(obj);
        },
        (err: unknown) => rejectSeen(new Error(`the watch ended before the ADDED event: ${String(err)}`)),
      );
      t.after(() => {
        clearTimeout(timer);
        controller.abort();
      });

      await w.core.createNamespacedSecret({
        namespace,
        body: { metadata: { name }, stringData: { greeting: "hello" } },
      });
      const secret = await seen;
      assert.equal(secret.metadata?.namespace, namespace);
      assert.equal(Buffer.from(secret.data?.greeting ?? "", "base64").toString("utf8"), "hello");
    },
  );

  test(
    "a CRD applied is served: a custom object is created, validated, pruned and read back",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const w = await world();
      const namespace = await freshNamespace(t);
      const extensions = w.kubeConfig.makeApiClient(k8s.ApiextensionsV1Api);
      // A group of its own per run, so parallel runs never share (or delete) each other's CRD.
      const group = `r${suffix()}.smoke.test`;
      const plural = "widgets";
      const crdName = `${plural}.${group}`;
      await extensions.createCustomResourceDefinition({
        body: {
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "CustomResourceDefinition",
          metadata: { name: crdName },
          spec: {
            group,
            scope: "Namespaced",
            names: { plural, singular: "widget", kind: "Widget", listKind: "WidgetList" },
            versions: [
              {
                name: "v1",
                served: true,
                storage: true,
                schema: {
                  openAPIV3Schema: {
                    type: "object",
                    properties: {
                      spec: { type: "object", properties: { size: { type: "integer", minimum: 1 } } },
                    },
                  },
                },
              },
            ],
          },
        },
      });
      t.after(async () => {
        await extensions.deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
      });

      await eventually(`CRD ${crdName} to become Established`, async () => {
        const crd = await extensions.readCustomResourceDefinition({ name: crdName });
        const established = crd.status?.conditions?.find((c) => c.type === "Established");
        return established?.status === "True" ? true : undefined;
      });

      const widget = (name: string, size: number) => ({
        apiVersion: `${group}/v1`,
        kind: "Widget",
        metadata: { name },
        spec: { size, colour: "blue" },
      });
      await w.custom.createNamespacedCustomObject({
        group,
        version: "v1",
        namespace,
        plural,
        body: widget("w1", 3),
      });
      const read = (await w.custom.getNamespacedCustomObject({
        group,
        version: "v1",
        namespace,
        plural,
        name: "w1",
      })) as { metadata?: { uid?: string }; spec?: Record<string, unknown> };
      assert.ok(read.metadata?.uid, "the custom object read back has no uid");
      assert.deepEqual(
        read.spec,
        { size: 3 },
        "spec.size kept, the unknown spec.colour pruned by the schema",
      );

      await assert.rejects(
        w.custom.createNamespacedCustomObject({
          group,
          version: "v1",
          namespace,
          plural,
          body: widget("w0", 0),
        }),
        (err: unknown) => {
          assert.ok(err instanceof k8s.ApiException, `expected an ApiException, got ${String(err)}`);
          assert.equal(err.code, 422, "spec.size 0 violates minimum 1 and must be rejected as invalid");
          return true;
        },
      );
    },
  );

  test(
    "deleting an owner makes the garbage collector delete its dependent",
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const w = await world();
      const namespace = await freshNamespace(t);
      const owner = await w.core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: "owner" } },
      });
      await w.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: {
            name: "dependent",
            ownerReferences: [
              { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid! },
            ],
          },
          stringData: { k: "v" },
        },
      });
      // The dependent must survive while its owner exists, or the deletion below would prove nothing.
      const dependent = await w.core.readNamespacedSecret({ namespace, name: "dependent" });
      assert.equal(dependent.metadata?.ownerReferences?.[0]?.uid, owner.metadata!.uid);

      await w.core.deleteNamespacedConfigMap({ namespace, name: "owner" });
      await eventually(
        `the garbage collector to delete Secret ${namespace}/dependent after its owner went`,
        async () => {
          try {
            await w.core.readNamespacedSecret({ namespace, name: "dependent" });
            return undefined;
          } catch (err) {
            if (isNotFound(err)) return true;
            throw err;
          }
        },
      );
    },
  );

  test(
    "a ServiceAccount token without RBAC is authenticated but forbidden to list Secrets",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const w = await world();
      const namespace = await freshNamespace(t);
      const sa = "no-rbac";
      await w.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } });
      const tokenRequest = await w.core.createNamespacedServiceAccountToken({
        namespace,
        name: sa,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      const token = tokenRequest.status?.token;
      assert.ok(token, "the TokenRequest returned no token");

      const cluster = w.kubeConfig.getCurrentCluster();
      assert.ok(cluster, "the world's kubeconfig has no current cluster");
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [cluster],
        users: [{ name: sa, token }],
        contexts: [{ name: sa, cluster: cluster.name, user: sa, namespace }],
        currentContext: sa,
      });

      // Authenticated: every user may ask who it is.
      const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      });
      const username = `system:serviceaccount:${namespace}:${sa}`;
      assert.equal(review.status?.userInfo?.username, username);

      // Not authorised: no Role grants it anything.
      await assert.rejects(
        kc.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace }),
        (err: unknown) => {
          assert.ok(err instanceof k8s.ApiException, `expected an ApiException, got ${String(err)}`);
          assert.equal(err.code, 403, `expected 403 Forbidden, got ${err.code}: ${String(err.body)}`);
          assert.match(String(err.body), new RegExp(username.replace(/[.]/g, "\\.")));
          return true;
        },
      );
    },
  );
});

describe("AWS in the test world (moto behind the AWS proxy)", () => {
  test(
    "AssumeRole credentials expire after DurationSeconds, or after the lifetime the proxy is told",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const w = await world();
      const shared = await stsClient(t);
      for (const duration of [900, 1800]) {
        const before = Date.now();
        const out = await shared.send(
          new AssumeRoleCommand({
            RoleArn: roleArn("smoke-duration"),
            RoleSessionName: `smoke-${duration}-${suffix()}`,
            DurationSeconds: duration,
          }),
        );
        const after = Date.now();
        assert.ok(
          out.Credentials?.AccessKeyId && out.Credentials.SecretAccessKey && out.Credentials.SessionToken,
        );
        const { lifetime } = await w.proxy.health();
        assert.deepEqual(
          lifetime,
          {},
          "someone set a lifetime on the shared proxy; use privateProxy(t) for that",
        );
        assertExpiresAfter(out.Credentials.Expiration, duration, before, after);
      }

      const proxy = await privateProxy(t);
      proxy.setLifetime({ stsSeconds: 120 });
      const shortened = await stsClient(t, proxy.url);
      const before = Date.now();
      const out = await shortened.send(
        new AssumeRoleCommand({
          RoleArn: roleArn("smoke-duration"),
          RoleSessionName: `smoke-short-${suffix()}`,
          DurationSeconds: 900,
        }),
      );
      const after = Date.now();
      assertExpiresAfter(out.Credentials?.Expiration, 120, before, after);
    },
  );

  test(
    "ECR GetAuthorizationToken returns a base64 AWS:<password> token that expires in the future",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const ecr = new ECRClient(awsClientConfig(await awsEnv()));
      t.after(() => ecr.destroy());
      const out = await ecr.send(new GetAuthorizationTokenCommand({}));
      const data = out.authorizationData?.[0];
      assert.ok(data?.authorizationToken, "no authorizationToken in the answer");
      const decoded = Buffer.from(data.authorizationToken, "base64").toString("utf8");
      assert.match(decoded, /^AWS:.+$/, "the token is not base64 of AWS:<password>");
      assert.ok(data.expiresAt instanceof Date, `expiresAt is not a date: ${String(data.expiresAt)}`);
      assert.ok(
        data.expiresAt.getTime() > Date.now(),
        `expiresAt ${data.expiresAt.toISOString()} is not in the future`,
      );
      assert.match(
        data.proxyEndpoint ?? "",
        /^https:\/\/123456789012\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$/,
      );
    },
  );

  test(
    "an injected throttle reaches the SDK as a Throttling error with HTTP 400",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const proxy = await privateProxy(t);
      proxy.setFaults([{ service: "sts", action: "AssumeRole", kind: "throttle" }]);
      const sts = await stsClient(t, proxy.url, 1);
      await assert.rejects(
        sts.send(new AssumeRoleCommand({ RoleArn: roleArn("smoke-throttle"), RoleSessionName: "throttled" })),
        (err: unknown) => {
          assert.ok(
            err instanceof STSServiceException,
            `expected an STS service exception, got ${String(err)}`,
          );
          assert.equal(err.name, "Throttling");
          assert.equal(err.$metadata.httpStatusCode, 400);
          return true;
        },
      );
      const records = proxy.records({ service: "sts", action: "AssumeRole" });
      assert.deepEqual(
        records.map((r) => [r.status, r.fault]),
        [[400, "throttle"]],
        "with maxAttempts 1 the proxy sees exactly one, throttled, AssumeRole",
      );
    },
  );

  test(
    "the proxy records each call with service, action, parameters and the issuing session",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const w = await world();
      const sts = await stsClient(t);
      const session = `smoke-record-${suffix()}`;
      const arn = roleArn("smoke-record");
      const assumed = await sts.send(
        new AssumeRoleCommand({ RoleArn: arn, RoleSessionName: session, DurationSeconds: 900 }),
      );
      const creds = assumed.Credentials!;

      // A call signed with the assumed credentials is attributed to the session that issued them.
      const env = await awsEnv();
      const ecr = new ECRClient({
        region: env.AWS_REGION!,
        endpoint: env.AWS_ENDPOINT_URL!,
        credentials: {
          accessKeyId: creds.AccessKeyId!,
          secretAccessKey: creds.SecretAccessKey!,
          sessionToken: creds.SessionToken!,
        },
      });
      t.after(() => ecr.destroy());
      const token = await ecr.send(new GetAuthorizationTokenCommand({}));

      const assumeRecords = (await w.proxy.records({ service: "sts", action: "AssumeRole" })).filter(
        (r) => r.params.RoleSessionName === session,
      );
      assert.equal(assumeRecords.length, 1, `expected one AssumeRole record for session ${session}`);
      const assume = assumeRecords[0]!;
      assert.equal(assume.status, 200);
      assert.equal(assume.region, env.AWS_REGION);
      assert.equal(assume.params.RoleArn, arn);
      assert.equal(assume.params.DurationSeconds, "900");
      assert.equal(assume.accessKeyId, env.AWS_ACCESS_KEY_ID);
      assert.equal(assume.issued?.accessKeyId, creds.AccessKeyId);
      // Same instant; STS sends microseconds, which JS dates and the SDK round differently.
      const recordedExpiry = new Date(assume.issued?.expiration ?? NaN).getTime();
      assert.ok(
        Math.abs(recordedExpiry - (creds.Expiration?.getTime() ?? NaN)) < 1000,
        `recorded expiration ${assume.issued?.expiration} differs from ${creds.Expiration?.toISOString()}`,
      );

      const ecrRecords = (await w.proxy.records({ service: "ecr", action: "GetAuthorizationToken" })).filter(
        (r) => r.accessKeyId === creds.AccessKeyId,
      );
      assert.equal(
        ecrRecords.length,
        1,
        `expected one GetAuthorizationToken record signed by ${creds.AccessKeyId}`,
      );
      const ecrRecord = ecrRecords[0]!;
      assert.equal(ecrRecord.status, 200);
      assert.equal(ecrRecord.callerSession, session);
      assert.ok(ecrRecord.seq > assume.seq, "records are numbered in arrival order");
      assert.equal(ecrRecord.issued?.authorizationToken, token.authorizationData?.[0]?.authorizationToken);
    },
  );

  test(
    "GetCallerIdentity through the shared proxy answers for the moto account",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const sts = await stsClient(t);
      const me = await sts.send(new GetCallerIdentityCommand({}));
      assert.equal(me.Account, ACCOUNT);
    },
  );
});

describe("the pinned CLIs work against the test world", () => {
  test(
    "kubectl reports the server as the pinned Kubernetes release v1.37.2",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const out = JSON.parse(await kubectl(["version", "-o", "json"])) as {
        serverVersion?: { gitVersion?: string };
      };
      assert.equal(out.serverVersion?.gitVersion, "v1.37.2");
    },
  );

  test(
    "the aws CLI with the world's environment reaches moto through the proxy",
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      // A private proxy, so the record below can only come from this CLI call.
      const proxy = await privateProxy(t);
      const { stdout } = await run("aws", ["sts", "get-caller-identity", "--output", "json"], {
        env: { ...process.env, ...(await awsEnv(proxy.url)) },
      });
      const identity = JSON.parse(stdout) as { Account?: string };
      assert.equal(identity.Account, ACCOUNT);
      assert.deepEqual(
        proxy.records().map((r) => [r.service, r.action, r.status]),
        [["sts", "GetCallerIdentity", 200]],
      );
    },
  );

  test("the world's helm is v3.22.0", { timeout: TEST_TIMEOUT_MS }, async () => {
    const w = await world();
    const { stdout } = await run(w.helm, ["version", "--template", "{{.Version}}"]);
    assert.equal(stdout.trim(), "v3.22.0");
  });
});
