// service-accounts: the operator's RSS and heap after GC with --service-accounts and one resource wiring its pull
// secret into one ServiceAccount, then again after adding many unrelated ServiceAccounts in the namespaces it
// watches → the ratio (expected ≈ 1: only the listed names are watched, by field selector, and the ServiceAccounts
// carrying the operator's record, by label; never all ServiceAccounts).
import { randomBytes } from "node:crypto";
import { world } from "../../test/support/world.ts";
import { createNamespace, deleteNamespaces, pool, withRetry } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, timeoutMs } from "../context.ts";
import { OperatorProcess, sleep } from "../operator-process.ts";
import { table } from "../report.ts";
import { fixed, mib, seconds } from "../stats.ts";
import { measure } from "./memory.ts";
import type { Measurement } from "./memory.ts";

const ECR_URL = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";

export async function serviceAccounts(ctx: BenchContext): Promise<void> {
  const { options: o, proxy, report } = ctx;
  const w = await world();
  const n = o.unrelatedServiceAccounts;
  const main = await createNamespace("sa");
  const unrelated: string[] = [];
  for (let i = 0; i < o.unrelatedNamespaces; i++) unrelated.push(await createNamespace("sa-unrelated"));
  let op: OperatorProcess | undefined;
  try {
    await w.core.createNamespacedServiceAccount({ namespace: main, body: { metadata: { name: "builder" } } });
    const args = [...operatorArgs(o), "--service-accounts"];
    op = await OperatorProcess.start({
      namespaces: [main, ...unrelated],
      awsEndpoint: proxy.url,
      args,
      inspect: true,
    });
    await op.waitForLog("workers started", 60_000);
    await w.custom.createNamespacedCustomObject({
      group: "pincette.net",
      version: "v1",
      plural: "awsassumeroles",
      namespace: main,
      body: {
        apiVersion: "pincette.net/v1",
        kind: "AWSAssumeRole",
        metadata: { name: "pull" },
        spec: {
          roleName: "bench-role",
          secretName: "pull",
          secretType: "EcrDockerConfigJson",
          ecrRepositoryUrl: ECR_URL,
          serviceAccounts: ["builder"],
        },
      },
    });
    const deadline = Date.now() + timeoutMs(o);
    for (;;) {
      const sa = await w.core.readNamespacedServiceAccount({ namespace: main, name: "builder" });
      if (sa.imagePullSecrets?.some((r) => r.name === "pull")) break;
      if (Date.now() > deadline) throw new Error("builder never got the pull secret");
      await sleep(200);
    }
    await sleep(o.memorySettleSeconds * 1000);
    const before = await measure(op);

    const t = Date.now();
    const all = [main, ...unrelated];
    const suffix = randomBytes(2).toString("hex");
    await pool(
      Array.from({ length: n }, (_, i) => i),
      o.createConcurrency,
      async (i) => {
        const namespace = all[i % all.length]!;
        await withRetry(`create ServiceAccount ${namespace}/unrelated-${i}`, () =>
          w.core.createNamespacedServiceAccount({
            namespace,
            body: { metadata: { name: `unrelated-${suffix}-${i}`, labels: { app: "unrelated" } } },
          }),
        );
      },
    );
    const createMs = Date.now() - t;
    await sleep(o.memorySettleSeconds * 1000);
    const after = await measure(op);
    const cached = OperatorProcess.sum(await op.metrics(), "aws_assume_role_cached_service_accounts");

    const row = (label: string, m: Measurement) => [label, mib(m.afterGc.rss), mib(m.afterGc.heapUsed)];
    const ratio = (f: (m: Measurement) => number) => fixed(f(after) / f(before), 3);
    report.emit(
      [
        `### service-accounts: one wired ServiceAccount, then ${n} unrelated ServiceAccounts`,
        "",
        `One operator (\`${args.join(" ")}\`, Node inspector open on loopback) watching ${all.length} namespaces; ` +
          "one AWSAssumeRole (EcrDockerConfigJson) lists the ServiceAccount `builder`. Then " +
          `${n} unrelated ServiceAccounts are created round-robin in all ${all.length} namespaces, the resource's own ` +
          `included (in ${seconds(createMs, 0)} s). Measured ${o.memorySettleSeconds} s after each phase, right after ` +
          "a full GC requested through the inspector: RSS from /proc/<pid>/status, heap from /metrics. The gauge " +
          `aws_assume_role_cached_service_accounts read ${cached} at the end.`,
        "",
        table(
          ["phase", "RSS after GC (MiB)", "heap used after GC (MiB)"],
          [row("1 resource, builder wired", before), row(`+ ${n} unrelated ServiceAccounts`, after)],
          ["l", "r", "r"],
        ),
        "",
        `**After / before, after GC: RSS ${ratio((m) => m.afterGc.rss)}, heap used ` +
          `${ratio((m) => m.afterGc.heapUsed)}; ServiceAccounts cached: ${cached}.**`,
      ].join("\n"),
    );
  } finally {
    // Deleted while the operator runs: its finalizer takes the entry out first (stopped, it would hold the resource
    // and so the namespace).
    await w.custom
      .deleteNamespacedCustomObject({
        group: "pincette.net",
        version: "v1",
        plural: "awsassumeroles",
        namespace: main,
        name: "pull",
      })
      .catch(() => undefined);
    for (let i = 0; i < 100; i++) {
      const gone = await w.custom
        .getNamespacedCustomObject({
          group: "pincette.net",
          version: "v1",
          plural: "awsassumeroles",
          namespace: main,
          name: "pull",
        })
        .then(
          () => false,
          () => true,
        );
      if (gone) break;
      await sleep(200);
    }
    await op?.stop();
    process.stderr.write("service-accounts: deleting namespaces (waits until they are gone)\n");
    const cleanup = await deleteNamespaces([main, ...unrelated], timeoutMs(o));
    if (!cleanup.gone)
      process.stderr.write(
        `service-accounts: namespaces still terminating after ${seconds(cleanup.ms, 0)} s\n`,
      );
  }
}
