// The bare-loop limit of the burst benchmark, run as its own process like the operator: the same work per resource
// with the same clients and the same concurrency, but no engine (no informers, queue, cache, events or plan).
// A plain watch feeds an array; `concurrency` loops each take a resource, call STS AssumeRole (the SDK through
// the same AWS proxy), create its Secret and patch its status to Ready=True, until `count` resources are done.
//
//   node bench/bare-loop.ts --namespace <ns> --concurrency 16 --count 1000 --timeout-ms 600000
// Prints JSON lines: {"event":"ready"} once watching, {"event":"done",...} when all are done; then waits for SIGTERM
// (so the benchmark can read its CPU time) and exits 0 if nothing failed.
import { parseArgs } from "node:util";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { KubeClient } from "../src/kube/client.ts";
import { loadConnection } from "../src/kube/kubeconfig.ts";
import { ListWatch } from "../src/kube/list-watch.ts";
import type { V1Secret } from "@kubernetes/client-node";
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from "../src/api/schema.ts";
import type { AWSAssumeRole } from "../src/api/schema.ts";
import { Reason, readyCondition, setCondition } from "../src/domain/conditions.ts";
import { parseCallerArn, roleSessionName } from "../src/domain/naming.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SecretAnnotation } from "../src/domain/plan.ts";
import { renderSecret } from "../src/domain/render.ts";
import { roleArnOf } from "../src/domain/session.ts";
import { AWSAssumeRoleClient } from "../src/kube/resources.ts";
import { SecretClient } from "../src/kube/secrets.ts";

const { values } = parseArgs({
  options: {
    namespace: { type: "string" },
    concurrency: { type: "string", default: "16" },
    count: { type: "string" },
    "timeout-ms": { type: "string", default: "600000" },
  },
});
const namespace = values.namespace!;
const concurrency = Number(values.concurrency);
const count = Number(values.count);
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

// A backstop: the process never outlives the benchmark's own bound, even if nobody sends SIGTERM.
setTimeout(() => {
  say({ event: "timeout" });
  process.exit(1);
}, Number(values["timeout-ms"]));

const client = new KubeClient(loadConnection()); // the operator's transport: one connection pool
const secrets = new SecretClient(client);
const status = new AWSAssumeRoleClient(client);
const sts = new STSClient({ maxAttempts: 1 });
const identity = parseCallerArn((await sts.send(new GetCallerIdentityCommand({}))).Arn ?? "");

const pending: AWSAssumeRole[] = [];
const seen = new Set<string>();
/** Loops waiting for work, woken one per new resource. */
const waiters: (() => void)[] = [];
let processed = 0;
let failed = 0;

async function handle(r: AWSAssumeRole): Promise<void> {
  const name = r.metadata.name!;
  const roleArn = roleArnOf(r.spec, identity);
  const durationSeconds = r.spec.durationSeconds ?? 900;
  const out = await sts.send(
    new AssumeRoleCommand({
      RoleArn: roleArn,
      RoleSessionName: roleSessionName(namespace, name),
      DurationSeconds: durationSeconds,
    }),
  );
  const c = out.Credentials!;
  const issuedAt = new Date();
  const expiration = new Date(c.Expiration!);
  const rendered = renderSecret({
    secretType: r.spec.secretType,
    credentials: {
      accessKeyId: c.AccessKeyId!,
      secretAccessKey: c.SecretAccessKey!,
      sessionToken: c.SessionToken!,
      expirationTime: expiration,
    },
  });
  const body: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: r.spec.secretName,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations: {
        [SecretAnnotation.roleArn]: roleArn,
        [SecretAnnotation.expirationTime]: expiration.toISOString(),
        [SecretAnnotation.lastRefreshTime]: issuedAt.toISOString(),
        [SecretAnnotation.ownerUid]: r.metadata.uid!,
      },
      ownerReferences: [
        { apiVersion: API_VERSION, kind: KIND, name, uid: r.metadata.uid!, controller: true },
      ],
    },
    type: rendered.type,
    data: Object.fromEntries(
      Object.entries(rendered.stringData).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]),
    ),
  };
  await secrets.create(body);
  const next = new Date(issuedAt.getTime() + ((expiration.getTime() - issuedAt.getTime()) * 2) / 3);
  await status.patchStatus(namespace, name, {
    observedGeneration: r.metadata.generation,
    roleArn,
    secretName: r.spec.secretName,
    expirationTime: expiration.toISOString(),
    lastRefreshTime: issuedAt.toISOString(),
    nextRefreshTime: next.toISOString(),
    effectiveDurationSeconds: durationSeconds,
    conditions: setCondition(
      undefined,
      readyCondition("True", Reason.CredentialsReady, "Credentials are in the Secret", r.metadata.generation),
      issuedAt,
    ),
  });
}

async function worker(): Promise<void> {
  while (processed + failed < count) {
    const r = pending.shift();
    if (!r) {
      await new Promise<void>((resolve) => waiters.push(resolve));
      continue;
    }
    let attempt = 0;
    for (;;) {
      try {
        await handle(r);
        processed++;
        break;
      } catch (err) {
        if (++attempt >= 5) {
          failed++;
          say({ event: "failed", name: r.metadata.name, err: (err as Error).message });
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }
  // The last resource is done: release the loops still waiting for work.
  for (const w of waiters.splice(0)) w();
}

const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`;
const add = (r: AWSAssumeRole) => {
  if (seen.has(r.metadata.name!)) return;
  seen.add(r.metadata.name!);
  pending.push(r);
  waiters.shift()?.();
};
const watch = new ListWatch<AWSAssumeRole>({ client, path, transform: (obj) => obj as AWSAssumeRole });
watch.on("add", add);
watch.on("error", () => {
  if (processed + failed < count) setTimeout(() => void watch.start(), 500);
});
await watch.start();
say({ event: "ready" });
await Promise.all(Array.from({ length: concurrency }, () => worker()));
say({ event: "done", processed, failed });
// Stay until the benchmark has read this process's CPU time and sends SIGTERM.
process.on("SIGTERM", () => process.exit(failed > 0 ? 1 : 0));
