// The Pod Identity webhook against the real test world: the operator's certificate manager creates its Secret and
// fills the caBundle of a MutatingWebhookConfiguration (configured by URL on 127.0.0.1, limited to the test's own
// namespace), the HTTPS server answers the API server's reviews, and Pods created through the API come back injected
// (or not); failurePolicy Ignore lets Pods in while the server is down; replicas agree on one CA; rotation and drift.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import type { V1ConfigMap, V1MutatingWebhookConfiguration, V1Pod, V1Secret } from "@kubernetes/client-node";
import { pino } from "pino";
import {
  CA_CONFIG_MAP_KEY,
  SecretKey,
  ServingCertificates,
} from "../src/features/pod-identity/certificates.ts";
import type { ServingCertificatesOptions } from "../src/features/pod-identity/certificates.ts";
import { startPodIdentityServer } from "../src/features/pod-identity/server.ts";
import type { PodIdentityServer } from "../src/features/pod-identity/server.ts";
import { admissionWebhookRoute } from "../src/features/pod-identity/webhook.ts";
import {
  AUTHORIZATION_TOKEN_FILE_VARIABLE,
  CREDENTIALS_FULL_URI_VARIABLE,
  POD_IDENTITY_ANNOTATION,
  POD_TOKEN_DIRECTORY,
  POD_TOKEN_VOLUME,
} from "../src/domain/pod-injection.ts";
import { POD_TOKEN_AUDIENCE } from "../src/domain/pod-identity.ts";
import { eventually, freshNamespace, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const SECRET = "pod-identity-tls";
const CA_CONFIG_MAP = "aws-pod-identity-ca";
const WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

interface Setup {
  namespace: string;
  certificates: ServingCertificates;
  server: PodIdentityServer | undefined;
  webhookName: string;
  /** Moves the certificate manager's clock. */
  clock: { offsetMs: number };
}

function certificateOptions(namespace: string, webhookName: string, clock: { offsetMs: number }) {
  return {
    client: undefined as never,
    namespace,
    secretName: SECRET,
    serviceName: "aws-assume-role-operator-pod-identity",
    extraIpAddresses: ["127.0.0.1"],
    webhookConfigurationName: webhookName,
    caConfigMap: { namespace, name: CA_CONFIG_MAP },
    logger,
    now: () => Date.now() + clock.offsetMs,
    resyncIntervalMs: 3_600_000,
  } satisfies ServingCertificatesOptions;
}

/** Certificates, server and a webhook configuration for `namespace` only; all of it removed when the test ends. */
async function setUp(t: TestContext): Promise<Setup> {
  const w = await world();
  const namespace = await freshNamespace(t);
  const webhookName = `aar-pod-identity-${randomBytes(4).toString("hex")}`;
  const clock = { offsetMs: 0 };
  const certificates = new ServingCertificates({
    ...certificateOptions(namespace, webhookName, clock),
    client: w.client,
  });
  await certificates.start();
  t.after(() => certificates.stop());
  const server = await startPodIdentityServer({
    bindAddress: "127.0.0.1:0",
    certificates,
    logger,
    routes: {
      "POST /mutate": admissionWebhookRoute((ns, sa) =>
        ns === namespace && sa === "app" ? "reader" : undefined,
      ),
    },
  });
  const setup: Setup = { namespace, certificates, server, webhookName, clock };
  t.after(() => setup.server?.close());
  await w.client.create(WEBHOOKS, webhookConfiguration(webhookName, namespace, server.port));
  t.after(() => w.client.delete(`${WEBHOOKS}/${webhookName}`).catch(() => undefined));
  await certificates.sync(); // the configuration exists now: its caBundle gets the CA
  for (const name of ["app", "other"]) {
    await w.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  }
  // The API server picks the configuration up asynchronously: probe with dry-run Pods until one is injected.
  await eventually(
    "the API server to call the webhook",
    async () =>
      (await createPod(namespace, pod("probe", "app"), true)).metadata?.annotations ? true : undefined,
    30_000,
    250,
  );
  return setup;
}

function webhookConfiguration(name: string, namespace: string, port: number): V1MutatingWebhookConfiguration {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name },
    webhooks: [
      {
        name: "pod-identity.aws-assume-role.pincette.net",
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Ignore",
        reinvocationPolicy: "IfNeeded",
        timeoutSeconds: 5,
        clientConfig: { url: `https://127.0.0.1:${port}/mutate` },
        rules: [
          {
            operations: ["CREATE"],
            apiGroups: [""],
            apiVersions: ["v1"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
      },
    ],
  };
}

function pod(name: string, serviceAccountName: string, env: { name: string; value: string }[] = []): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: {
      serviceAccountName,
      automountServiceAccountToken: false,
      containers: [
        { name: "main", image: "example.invalid/app:1", ...(env.length ? { env } : {}) },
        { name: "sidecar", image: "example.invalid/sidecar:1" },
      ],
    },
  };
}

async function createPod(namespace: string, body: V1Pod, dryRun = false): Promise<V1Pod> {
  const w = await world();
  return w.client.create<V1Pod>(`/api/v1/namespaces/${namespace}/pods`, body, {
    query: dryRun ? { dryRun: "All" } : {},
  });
}

function injected(container: {
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string }[];
}) {
  return {
    uri: container.env?.find((e) => e.name === CREDENTIALS_FULL_URI_VARIABLE)?.value,
    tokenFile: container.env?.find((e) => e.name === AUTHORIZATION_TOKEN_FILE_VARIABLE)?.value,
    mounted: container.volumeMounts?.some((m) => m.name === POD_TOKEN_VOLUME) ?? false,
  };
}

async function readSecret(namespace: string): Promise<V1Secret> {
  return (await world()).client.get<V1Secret>(`/api/v1/namespaces/${namespace}/secrets/${SECRET}`);
}

function secretText(secret: V1Secret, key: string): string {
  return Buffer.from(secret.data![key]!, "base64").toString("utf8");
}

/**
 * The serial number of the certificate the server presents. Not verified here: one issued at a moved clock is not
 * valid yet (the test checks its issuer itself).
 */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? "";
      socket.end();
      resolve(serial);
    });
    socket.on("error", reject);
  });
}

test("a Pod of an associated ServiceAccount gets the endpoint; others, and containers with own keys, do not", async (t) => {
  const { namespace } = await setUp(t);

  const app = await createPod(namespace, pod("app", "app"));
  assert.equal(app.metadata?.annotations?.[POD_IDENTITY_ANNOTATION], "reader");
  for (const c of app.spec!.containers) {
    assert.deepEqual(injected(c), {
      uri: "http://169.254.170.23/v1/credentials",
      tokenFile: "/var/run/secrets/pincette.net/pod-identity/token",
      mounted: true,
    });
    const mount = c.volumeMounts!.find((m) => m.name === POD_TOKEN_VOLUME)!;
    assert.equal(mount.mountPath, POD_TOKEN_DIRECTORY);
    assert.equal(mount.readOnly, true);
  }
  const volumes = app.spec!.volumes!.filter((v) => v.name === POD_TOKEN_VOLUME);
  assert.equal(volumes.length, 1);
  assert.deepEqual(volumes[0]!.projected!.sources![0]!.serviceAccountToken, {
    audience: POD_TOKEN_AUDIENCE,
    expirationSeconds: 86400,
    path: "token",
  });

  const other = await createPod(namespace, pod("other", "other"));
  assert.equal(other.metadata?.annotations?.[POD_IDENTITY_ANNOTATION], undefined);
  assert.ok(other.spec!.containers.every((c) => !injected(c).uri && !injected(c).mounted));
  assert.ok(!(other.spec!.volumes ?? []).some((v) => v.name === POD_TOKEN_VOLUME));

  const ownKeys = await createPod(
    namespace,
    pod("own-keys", "app", [{ name: "AWS_ACCESS_KEY_ID", value: "AKIA" }]),
  );
  const [main, sidecar] = ownKeys.spec!.containers;
  assert.deepEqual(injected(main!), { uri: undefined, tokenFile: undefined, mounted: false });
  assert.equal(injected(sidecar!).uri, "http://169.254.170.23/v1/credentials");
  assert.equal(ownKeys.metadata?.annotations?.[POD_IDENTITY_ANNOTATION], "reader");
});

test("a Pod is still created, without injection, while the webhook server is down (failurePolicy Ignore)", async (t) => {
  const setup = await setUp(t);
  await setup.server!.close();
  setup.server = undefined;
  const created = await createPod(setup.namespace, pod("while-down", "app"));
  assert.equal(created.metadata?.name, "while-down");
  assert.equal(created.metadata?.annotations?.[POD_IDENTITY_ANNOTATION], undefined);
  assert.ok(created.spec!.containers.every((c) => !injected(c).uri));
});

test("two certificate managers started at once end up with one Secret and the same CA", async (t) => {
  const w = await world();
  const namespace = await freshNamespace(t);
  const webhookName = `aar-pod-identity-${randomBytes(4).toString("hex")}`;
  const managers = [0, 1].map(
    () =>
      new ServingCertificates({
        ...certificateOptions(namespace, webhookName, { offsetMs: 0 }),
        client: w.client,
      }),
  );
  await Promise.all(managers.map((m) => m.start()));
  t.after(() => managers.forEach((m) => m.stop()));
  const [a, b] = managers.map((m) => m.current()!);
  assert.ok(a && b);
  assert.equal(a.ca, b.ca);
  assert.equal(a.cert, b.cert);
  const secret = await readSecret(namespace);
  assert.equal(secret.type, "kubernetes.io/tls");
  assert.equal(secret.metadata?.labels?.["app.kubernetes.io/managed-by"], "aws-assume-role-operator");
  assert.equal(secretText(secret, SecretKey.ca), a.ca);
  assert.equal(secretText(secret, SecretKey.cert), a.cert);
  const served = new X509Certificate(a.cert);
  assert.ok(served.checkIssued(new X509Certificate(a.ca)));
  assert.match(
    served.subjectAltName ?? "",
    /DNS:aws-assume-role-operator-pod-identity\.t-[^,]+\.svc\.cluster\.local/,
  );
  assert.match(served.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  const configMap = await w.client.get<V1ConfigMap>(
    `/api/v1/namespaces/${namespace}/configmaps/${CA_CONFIG_MAP}`,
  );
  assert.equal(configMap.data?.[CA_CONFIG_MAP_KEY], a.ca);
});

test("re-issues the serving certificate once less than a third of its life is left, and the server serves it", async (t) => {
  const setup = await setUp(t);
  const before = setup.certificates.current()!;
  const beforeSerial = await servedSerial(setup.server!.port);
  assert.equal(beforeSerial, new X509Certificate(before.cert).serialNumber);

  setup.clock.offsetMs = 200 * DAY_MS; // more than a third of the year left
  await setup.certificates.sync();
  assert.equal(setup.certificates.current()!.cert, before.cert);

  setup.clock.offsetMs = 250 * DAY_MS;
  await setup.certificates.sync();
  const after = setup.certificates.current()!;
  assert.notEqual(after.cert, before.cert);
  assert.equal(after.ca, before.ca, "the CA stays");
  assert.equal(secretText(await readSecret(setup.namespace), SecretKey.cert), after.cert);
  assert.ok(new X509Certificate(after.cert).checkIssued(new X509Certificate(after.ca)));
  assert.equal(await servedSerial(setup.server!.port), new X509Certificate(after.cert).serialNumber);
});

test("repairs a caBundle and a CA ConfigMap that drifted", async (t) => {
  const setup = await setUp(t);
  const w = await world();
  const ca = setup.certificates.current()!.ca;
  const path = `${WEBHOOKS}/${setup.webhookName}`;
  const config = await w.client.get<V1MutatingWebhookConfiguration>(path);
  config.webhooks![0]!.clientConfig.caBundle = Buffer.from("not our CA").toString("base64");
  await w.client.replace(path, config);
  const mapPath = `/api/v1/namespaces/${setup.namespace}/configmaps/${CA_CONFIG_MAP}`;
  await w.client.mergePatch(mapPath, { data: { [CA_CONFIG_MAP_KEY]: "edited" } });

  await setup.certificates.sync();
  const repaired = await w.client.get<V1MutatingWebhookConfiguration>(path);
  assert.equal(Buffer.from(repaired.webhooks![0]!.clientConfig.caBundle!, "base64").toString(), ca);
  const map = await w.client.get<V1ConfigMap>(mapPath);
  assert.equal(map.data?.[CA_CONFIG_MAP_KEY], ca);
  await eventually(
    "a Pod injected through the repaired caBundle",
    async () =>
      (await createPod(setup.namespace, pod("probe", "app"), true)).metadata?.annotations ? true : undefined,
    30_000,
    250,
  );
});
