// The flag matrix: every combination of --namespace-permissions, --cluster-assume-roles, --service-accounts and
// --rollout-restart, one operator process each, run one after another on the same install so that each step turns
// exactly one flag on or off (a Gray code walk; a last step turns the remaining flag off again). At every step:
// the original operator's three examples become Ready with the exact Secrets in a fresh namespace; no Secret is
// deleted or rewritten that the flags do not call for; and each feature's own effect is what the README says.
// It holds the cluster-operator lock: its operators see every ClusterAWSAssumeRole in the world.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import type { V1Secret } from "@kubernetes/client-node";
import { roleSessionName } from "../src/domain/naming.ts";
import { RESTARTED_AT_ANNOTATION } from "../src/domain/rollout-restart.ts";
import type { AwsProxy } from "../testenv/aws-proxy/proxy.ts";
import { clusterOperatorLock } from "./support/cluster-lock.ts";
import {
  createClusterResource as createClusterObject,
  ensureCrd,
  getResource,
  readSecret,
  startOperator,
  waitForReady,
} from "./support/operator.ts";
import type { RunningOperator } from "./support/operator.ts";
import {
  ROOT,
  eventually,
  freshNamespace,
  kubectl,
  privateProxy,
  staysTheSame,
  world,
} from "./support/world.ts";
import type { TestContext } from "./support/world.ts";

const PERMITTED_ROLES = "aws-assume-role.pincette.net/permitted-roles";
const EXAMPLES = ["map.yaml", "file.yaml", "ecr.yaml"];
/** The examples' resource and Secret names (examples/*.yaml). */
const EXAMPLE_SECRETS = {
  "aws-assume-my-role": "assume-my-secrets-manager-role",
  "aws-assume-my-role-file": "assume-my-secrets-manager-role-file",
  "assume-my-ecr-role": "assume-my-repo-ecr-role",
} as const;
const ROLES = "my-secrets-manager-role,my-repo-ecr-role,flag-matrix-*";

interface Flags {
  clusterAssumeRoles: boolean;
  namespacePermissions: boolean;
  serviceAccounts: boolean;
  rolloutRestart: boolean;
}

/** Bit 0 (the flag of the reported data loss) toggles most often. */
function flagsOf(bits: number): Flags {
  return {
    clusterAssumeRoles: (bits & 1) !== 0,
    namespacePermissions: (bits & 2) !== 0,
    serviceAccounts: (bits & 4) !== 0,
    rolloutRestart: (bits & 8) !== 0,
  };
}

function args(f: Flags): string[] {
  return [
    ...(f.clusterAssumeRoles ? ["--cluster-assume-roles"] : []),
    ...(f.namespacePermissions ? ["--namespace-permissions"] : []),
    ...(f.serviceAccounts ? ["--service-accounts"] : []),
    ...(f.rolloutRestart ? ["--rollout-restart"] : []),
  ];
}

function flagList(f: Flags): string {
  const on = args(f).join(" ");
  return on || "(no feature flag)";
}

/** The 16 combinations, each one flag away from the one before, and back to none (so every flag goes off again). */
function walk(): number[] {
  const steps = Array.from({ length: 16 }, (_, i) => i ^ (i >> 1));
  return [...steps, 0];
}

function example(name: string, namespace: string): string {
  return readFileSync(join(ROOT, "examples", name), "utf8").replace(
    "namespace: default",
    `namespace: ${namespace}`,
  );
}

async function annotate(namespace: string, value: string): Promise<void> {
  await kubectl(["annotate", "--overwrite", "namespace", namespace, `${PERMITTED_ROLES}=${value}`]);
}

/** uid and resourceVersion: a Secret deleted and recreated, or rewritten, shows here. */
function identity(s: V1Secret | undefined): string | undefined {
  return s ? `${s.metadata?.uid}@${s.metadata?.resourceVersion}` : undefined;
}

async function identities(
  namespace: string,
  names: readonly string[],
): Promise<Map<string, string | undefined>> {
  const entries = await Promise.all(
    names.map(async (n) => [n, identity(await readSecret(namespace, n))] as const),
  );
  return new Map(entries);
}

/** The three examples in `namespace` are Ready, and each Secret holds exactly what AWS issued for it. */
async function checkExamples(namespace: string, proxy: AwsProxy): Promise<void> {
  for (const name of Object.keys(EXAMPLE_SECRETS)) await waitForReady(namespace, name);
  const issuedFor = (name: string) => {
    const call = proxy
      .records({ action: "AssumeRole" })
      .find((r) => r.params.RoleSessionName === roleSessionName(namespace, name));
    assert.ok(call?.issued, `an AssumeRole for ${namespace}/${name}`);
    return call.issued;
  };
  const decode = (s: V1Secret | undefined, key: string) =>
    Buffer.from(s?.data?.[key] ?? "", "base64").toString("utf8");

  const map = await readSecret(namespace, EXAMPLE_SECRETS["aws-assume-my-role"]);
  const mapIssued = issuedFor("aws-assume-my-role");
  assert.equal(map?.type, "Opaque");
  assert.deepEqual(Object.keys(map?.data ?? {}).sort(), [
    "awsAccessKeyId",
    "awsSecretAccessKey",
    "awsSessionToken",
  ]);
  assert.equal(decode(map, "awsAccessKeyId"), mapIssued.accessKeyId);
  assert.equal(decode(map, "awsSecretAccessKey"), mapIssued.secretAccessKey);
  assert.equal(decode(map, "awsSessionToken"), mapIssued.sessionToken);
  assert.equal(map?.metadata?.labels?.["app.kubernetes.io/managed-by"], "aws-assume-role-operator");

  const file = await readSecret(namespace, EXAMPLE_SECRETS["aws-assume-my-role-file"]);
  const fileIssued = issuedFor("aws-assume-my-role-file");
  assert.deepEqual(Object.keys(file?.data ?? {}), ["credentials"]);
  assert.equal(
    decode(file, "credentials"),
    `[default]\naws_access_key_id=${fileIssued.accessKeyId}\naws_secret_access_key=${fileIssued.secretAccessKey}\n` +
      `aws_session_token=${fileIssued.sessionToken}\n`,
  );

  const ecr = await readSecret(namespace, EXAMPLE_SECRETS["assume-my-ecr-role"]);
  assert.equal(ecr?.type, "kubernetes.io/dockerconfigjson");
  const session = roleSessionName(namespace, "assume-my-ecr-role");
  const token = proxy
    .records({ service: "ecr", action: "GetAuthorizationToken" })
    .find((r) => r.callerSession === session)?.issued?.authorizationToken;
  assert.ok(token, `an ECR token for ${namespace}`);
  const registry = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo";
  const password = Buffer.from(token, "base64").toString("utf8").replace(/^AWS:/, "");
  assert.equal(
    decode(ecr, ".dockerconfigjson"),
    JSON.stringify({ auths: { [registry]: { username: "AWS", password, auth: token } } }),
  );
}

/** Sum of a metric's samples in a Prometheus text exposition. */
function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

/** Each queue the flags run must be on /metrics (workqueue_adds_total{name}), and none they do not. */
const EXPECTED_QUEUES: [string, (f: Flags) => boolean][] = [
  ["awsassumerole", () => true],
  ["clusterawsassumerole", (f) => f.clusterAssumeRoles],
  ["clusterawsassumerole-disabled", (f) => !f.clusterAssumeRoles],
  ["awspodidentityassociation-disabled", () => true],
  ["service-accounts", (f) => f.serviceAccounts],
  ["rollout-restart", (f) => f.rolloutRestart],
];

async function queueNames(operator: RunningOperator): Promise<Set<string>> {
  const text = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
  return new Set([...text.matchAll(/^workqueue_adds_total\{name="([^"]+)"\}/gm)].map((m) => m[1]!));
}

/** The operator has reconciled at least `count` times and its queue is empty. */
async function quiescent(operator: RunningOperator, count: number): Promise<void> {
  await eventually(`the operator to reconcile ${count} resources and empty its queue`, async () => {
    const text = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
    const done = metric(text, "aws_assume_role_reconcile_duration_seconds_count");
    return done >= count && metric(text, "workqueue_depth") === 0 ? true : undefined;
  });
}

async function createClusterResource(
  t: TestContext,
  name: string,
  label: Record<string, string>,
): Promise<void> {
  await createClusterObject(t, name, {
    roleName: "flag-matrix-cluster",
    secretName: "flag-matrix-cluster",
    secretType: "Map",
    namespaceSelector: { matchLabels: label },
  });
}

test("every combination of the four feature flags serves the examples and deletes or rewrites no Secret it should not", async (t) => {
  await clusterOperatorLock(t);
  await ensureCrd();
  const w = await world();
  const apps = w.kubeConfig.makeApiClient(k8s.AppsV1Api);
  const proxy = await privateProxy(t);
  const label = { "flag-matrix": randomBytes(3).toString("hex") };
  // kept: annotated, holds the examples, a resource of each feature, their consumers and a cluster copy.
  const kept = await freshNamespace(t, label);
  await annotate(kept, ROLES);
  // plain: no permitted-roles annotation; --namespace-permissions (and only it) takes its credentials away.
  const plain = await freshNamespace(t);
  for (const ns of [kept, plain])
    for (const e of EXAMPLES) await kubectl(["apply", "-f", "-"], example(e, ns));

  // rolloutRestart's consumer predates every credential set; serviceAccounts' ServiceAccount exists.
  await apps.createNamespacedDeployment({
    namespace: kept,
    body: {
      metadata: { name: "consumer" },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: "consumer" } },
        template: {
          metadata: { labels: { app: "consumer" } },
          spec: {
            containers: [
              {
                name: "app",
                image: "registry.invalid/consumer:1",
                envFrom: [{ secretRef: { name: "flag-matrix-env" } }],
              },
            ],
          },
        },
      },
    },
  });
  await w.core.createNamespacedServiceAccount({ namespace: kept, body: { metadata: { name: "puller" } } });
  await kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "pincette.net/v1",
          kind: "AWSAssumeRole",
          metadata: { name: "flag-matrix-env", namespace: kept },
          spec: {
            roleName: "flag-matrix-env",
            secretName: "flag-matrix-env",
            secretType: "Map",
            rolloutRestart: { consumers: "Env" },
          },
        },
        {
          apiVersion: "pincette.net/v1",
          kind: "AWSAssumeRole",
          metadata: { name: "flag-matrix-pull", namespace: kept },
          spec: {
            roleName: "flag-matrix-pull",
            secretName: "flag-matrix-pull",
            secretType: "EcrDockerConfigJson",
            ecrRepositoryUrl: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/app",
            serviceAccounts: ["puller"],
          },
        },
      ],
    }),
  );
  await createClusterResource(t, `flag-matrix-${label["flag-matrix"]}`, label);
  const keptSecrets = [...Object.values(EXAMPLE_SECRETS), "flag-matrix-env", "flag-matrix-pull"];
  const plainSecrets = Object.values(EXAMPLE_SECRETS);

  let keptBefore: Map<string, string | undefined> | undefined;
  let plainBefore: Map<string, string | undefined> | undefined;
  let clusterCopy: string | undefined;
  let restartedAt: string | undefined;
  let wiredOnce = false;
  let previous: Flags | undefined;
  for (const [step, bits] of walk().entries()) {
    const flags = flagsOf(bits);
    const at = `step ${step + 1} (${flagList(flags)})`;
    const fresh = await freshNamespace({ name: `flag-matrix-${step}`, after: (fn) => t.after(fn) });
    await annotate(fresh, ROLES);
    const operator = await startOperator(t, {
      namespaces: [kept, plain, fresh],
      awsEndpoint: proxy.url,
      args: args(flags),
      endpoints: true,
    });
    for (const e of EXAMPLES) await kubectl(["apply", "-f", "-"], example(e, fresh));

    // 1. The examples become Ready with the exact Secrets.
    await checkExamples(fresh, proxy);
    for (const name of Object.keys(EXAMPLE_SECRETS)) await waitForReady(kept, name);
    if (flags.namespacePermissions) {
      for (const name of Object.keys(EXAMPLE_SECRETS))
        await waitForReady(plain, name, "False", "RoleNotPermitted");
    } else {
      for (const name of Object.keys(EXAMPLE_SECRETS)) await waitForReady(plain, name);
    }
    // Every resource it watches (3 + 3 + 5, and the cluster resource) reconciled once at least, nothing queued.
    await quiescent(operator, 11 + (flags.clusterAssumeRoles ? 1 : 0));
    const queues = await queueNames(operator);
    assert.deepEqual(
      EXPECTED_QUEUES.filter(([name, on]) => on(flags) !== queues.has(name)).map(([name]) => name),
      [],
      `${at}: the work queues on /metrics are the ones these flags run (${[...queues].join(", ")})`,
    );

    // 2. and 3. No Secret deleted or rewritten that this step's flag change does not call for.
    const keptNow = await identities(kept, keptSecrets);
    for (const [name, id] of keptNow) assert.ok(id, `${at}: ${kept}/${name} exists`);
    if (keptBefore)
      assert.deepEqual(keptNow, keptBefore, `${at}: the annotated namespace's Secrets are untouched`);
    keptBefore = keptNow;
    const plainNow = await identities(plain, plainSecrets);
    if (flags.namespacePermissions) {
      // Documented: a namespace may assume only what its annotation permits; the Secrets go.
      for (const [name, id] of plainNow) assert.equal(id, undefined, `${at}: ${plain}/${name} is deleted`);
    } else {
      for (const [name, id] of plainNow)
        assert.ok(id, `${at}: ${plain}/${name} exists (the reported data loss)`);
      if (plainBefore && previous && !previous.namespacePermissions) {
        assert.deepEqual(plainNow, plainBefore, `${at}: the unannotated namespace's Secrets are untouched`);
      }
    }
    plainBefore = plainNow;

    // Each feature's own effect, and nothing more.
    const copy = identity(await readSecret(kept, "flag-matrix-cluster"));
    if (flags.clusterAssumeRoles && !clusterCopy) {
      clusterCopy = await eventually(`${at}: the ClusterAWSAssumeRole's copy`, async () =>
        identity(await readSecret(kept, "flag-matrix-cluster")),
      );
    } else {
      // Turned off, the copy stays as it was (it is no longer refreshed); turned on again, it is kept, not rewritten.
      assert.equal(copy, clusterCopy, `${at}: the cluster copy is untouched`);
    }
    const sa = await w.core.readNamespacedServiceAccount({ namespace: kept, name: "puller" });
    const wired = sa.imagePullSecrets?.some((s) => s.name === "flag-matrix-pull") === true;
    if (flags.serviceAccounts) {
      await eventually(`${at}: puller lists flag-matrix-pull`, async () =>
        (
          await w.core.readNamespacedServiceAccount({ namespace: kept, name: "puller" })
        ).imagePullSecrets?.some((s) => s.name === "flag-matrix-pull")
          ? true
          : undefined,
      );
      wiredOnce = true;
    } else {
      // Turned off, the entry it added stays (documented); never added without the flag.
      assert.equal(wired, wiredOnce, `${at}: puller's imagePullSecrets are left as they were`);
    }
    const consumer = await apps.readNamespacedDeployment({ namespace: kept, name: "consumer" });
    const restarted = consumer.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
    if (flags.rolloutRestart && !restartedAt) {
      // Documented: a consumer that predates its Secret's credential set is restarted once when the flag comes on.
      restartedAt = await eventually(`${at}: consumer restarted once`, async () => {
        const d = await apps.readNamespacedDeployment({ namespace: kept, name: "consumer" });
        return d.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
      });
    } else {
      assert.equal(
        restarted,
        restartedAt,
        `${at}: the consumer is restarted at most once per credential set`,
      );
    }

    await staysTheSame(1500, async () => {
      const k = await identities(kept, keptSecrets);
      if (JSON.stringify([...k]) !== JSON.stringify([...keptNow])) return `${at}: a kept Secret changed`;
      const p = await identities(plain, plainSecrets);
      if (JSON.stringify([...p]) !== JSON.stringify([...plainNow])) return `${at}: a plain Secret changed`;
      return undefined;
    });
    assert.equal(await operator.stop(), 0, `${at}: the operator exits cleanly`);
    previous = flags;
  }
  // The resources themselves survived every step.
  for (const name of Object.keys(EXAMPLE_SECRETS)) assert.ok(await getResource(kept, name));
  // No operator runs any more to take out the wiring's finalizer: let the namespace go when the test ends.
  await kubectl([
    "patch",
    "awsassumerole",
    "flag-matrix-pull",
    "-n",
    kept,
    "--type=merge",
    "-p",
    '{"metadata":{"finalizers":null}}',
  ]);
});
