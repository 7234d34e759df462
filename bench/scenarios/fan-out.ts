// fan-out: one ClusterAWSAssumeRole (EcrDockerConfigJson) selecting N namespaces → AWS calls for the first issue
// and for one refresh (expected: one AssumeRole and one GetAuthorizationToken each), time until every namespace
// holds the first Secret and then the refreshed one, and the operator's RSS. Credentials last --spread-lifetime
// seconds (the proxy shortens them), so the refresh comes at about two thirds of that.
import { randomBytes } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { CLUSTER_PLURAL } from "../../src/api/cluster-schema.ts";
import { GROUP, VERSION } from "../../src/api/schema.ts";
import { clusterRoleSessionName } from "../../src/domain/naming.ts";
import { SecretAnnotation } from "../../src/domain/plan.ts";
import { BENCH_LABEL, deleteNamespaces, liveNamespaces, pool, withRetry } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, proxySeq, timeoutMs } from "../context.ts";
import { OperatorProcess, sleep } from "../operator-process.ts";
import { table } from "../report.ts";
import { seconds } from "../stats.ts";

const SECRET = "bench-pull";
const REGISTRY = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";

/** Last refresh time of every copy the resource owns, by namespace. */
async function copies(ctx: BenchContext, uid: string): Promise<Map<string, string>> {
  const list = await ctx.world.core.listSecretForAllNamespaces({
    labelSelector: "app.kubernetes.io/managed-by=aws-assume-role-operator",
  });
  const out = new Map<string, string>();
  for (const s of list.items as V1Secret[]) {
    if (!s.metadata?.ownerReferences?.some((r) => r.uid === uid)) continue;
    out.set(s.metadata.namespace!, s.metadata.annotations?.[SecretAnnotation.lastRefreshTime] ?? "");
  }
  return out;
}

async function until(what: string, limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${limitMs} ms`);
    await sleep(250);
  }
}

export async function fanOut(ctx: BenchContext): Promise<void> {
  const { options: o, world: w, proxy, report } = ctx;
  const n = o.n;
  const id = randomBytes(3).toString("hex");
  const selector = { "caar-bench": id };
  const names = Array.from({ length: n }, (_, i) => `bench-fanout-${id}-${i}`);
  const name = `bench-fanout-${id}`;
  let op: OperatorProcess | undefined;
  proxy.setLifetime({ stsSeconds: o.spreadLifetime });
  try {
    await pool(names, o.createConcurrency, async (ns) => {
      await withRetry(`create namespace ${ns}`, () =>
        w.core.createNamespace({
          body: { metadata: { name: ns, labels: { [BENCH_LABEL]: "fan-out", ...selector } } },
        }),
      );
      liveNamespaces.add(ns);
    });
    // All namespaces: a Secret informer per namespace would mean N watches.
    op = await OperatorProcess.start({
      namespaces: [],
      awsEndpoint: proxy.url,
      args: [...operatorArgs(o), "--cluster-assume-roles"],
    });
    await op.waitForLog("workers started", 60_000);
    const rssBefore = op.rssBytes();
    const seq = proxySeq(proxy);
    const t0 = Date.now();
    const created = (await w.custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: CLUSTER_PLURAL,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ClusterAWSAssumeRole",
        metadata: { name },
        spec: {
          roleName: "ecr-pull",
          secretName: SECRET,
          secretType: "EcrDockerConfigJson",
          ecrRepositoryUrl: REGISTRY,
          namespaceSelector: { matchLabels: selector },
        },
      },
    })) as { metadata: { uid: string } };
    const uid = created.metadata.uid;
    let first = new Map<string, string>();
    const allFirst = await until(`${n} first copies`, timeoutMs(o), async () => {
      first = await copies(ctx, uid);
      return first.size >= n;
    });
    const session = clusterRoleSessionName(name);
    const issues = () =>
      proxy
        .records({ sinceSeq: seq })
        .filter((r) => r.action === "AssumeRole" && r.params.RoleSessionName === session);
    const firstCalls = proxy.records({ sinceSeq: seq });
    const firstAssume = firstCalls.filter((r) => r.action === "AssumeRole").length;
    const firstEcr = firstCalls.filter((r) => r.action === "GetAuthorizationToken").length;
    const rssFirst = op.rssBytes();

    // The refresh: a second AssumeRole, then every copy rewritten with its refresh time.
    await until(
      "the refresh's AssumeRole",
      o.spreadLifetime * 2000 + timeoutMs(o),
      async () => issues().length >= 2,
    );
    const refreshRecord = issues()[1]!;
    const refreshSeq = refreshRecord.seq - 1;
    const refreshAt = Date.parse(refreshRecord.time);
    const firstTime = [...first.values()][0];
    const allRefreshed = await until(`${n} refreshed copies`, timeoutMs(o), async () => {
      const now = await copies(ctx, uid);
      return now.size >= n && [...now.values()].every((t) => t !== firstTime);
    });
    const refreshCalls = proxy
      .records({ sinceSeq: refreshSeq })
      .filter((r) => Date.parse(r.time) <= allRefreshed);
    const refreshAssume = refreshCalls.filter((r) => r.action === "AssumeRole").length;
    const refreshEcr = refreshCalls.filter((r) => r.action === "GetAuthorizationToken").length;
    await sleep(2000);
    const samples = await op.metrics();
    const rssAfter = op.rssBytes();
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

    report.emit(
      [
        `### fan-out: one ClusterAWSAssumeRole, ${n} namespaces`,
        "",
        `EcrDockerConfigJson, credentials shortened to ${o.spreadLifetime} s by the proxy; the operator watches all namespaces.`,
        "",
        table(
          ["measure", "value"],
          [
            [
              "AWS calls for the first issue (AssumeRole / GetAuthorizationToken)",
              `${firstAssume} / ${firstEcr}`,
            ],
            ["created → every namespace holds the Secret", `${seconds(allFirst - t0)} s`],
            [
              "AWS calls for one refresh (AssumeRole / GetAuthorizationToken)",
              `${refreshAssume} / ${refreshEcr}`,
            ],
            [
              "refresh's AssumeRole → every namespace holds the new Secret",
              `${seconds(allRefreshed - refreshAt)} s`,
            ],
            [
              "operator RSS: before the resource / after the first issue / after the refresh",
              `${mib(rssBefore)} / ${mib(rssFirst)} / ${mib(rssAfter)}`,
            ],
            [
              "aws_assume_role_cluster_namespaces{state=ready} after the refresh",
              String(samples.get(`aws_assume_role_cluster_namespaces{name="${name}",state="ready"}`) ?? "—"),
            ],
          ],
          ["l", "r"],
        ),
      ].join("\n"),
    );
  } finally {
    await w.custom
      .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: CLUSTER_PLURAL, name })
      .catch(() => undefined);
    await op?.stop();
    await deleteNamespaces(names, 120_000);
  }
}
