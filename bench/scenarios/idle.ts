// idle: N resources, none due, for a fixed window → the Kubernetes API requests issued during the window, by verb
// and resource (expected: watches only; no writes, no polling reads) and STS calls (expected: none).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiserverRequests, diffCounts } from "../apiserver.ts";
import { startApiserverTap, tapCounts } from "../apiserver-tap.ts";
import { createNamespace, createResources, deleteNamespaces, resourceNames } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, proxySeq, timeoutMs } from "../context.ts";
import { OperatorProcess, sleep } from "../operator-process.ts";
import { countsTable, table } from "../report.ts";
import { ResourceTracker } from "../tracker.ts";

export async function idle(ctx: BenchContext): Promise<void> {
  const { options: o, world: w, proxy, report } = ctx;
  const dir = mkdtempSync(join(tmpdir(), "aar-bench-"));
  const tap = await startApiserverTap(w.kubeConfig, join(dir, "kubeconfig"));
  const namespace = await createNamespace("idle");
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, namespace);
  let op: OperatorProcess | undefined;
  try {
    await tracker.start();
    op = await OperatorProcess.start({
      namespaces: [namespace],
      awsEndpoint: proxy.url,
      kubeconfigPath: tap.kubeconfigPath,
      args: operatorArgs(o),
    });
    await op.waitForLog("workers started", 60_000);
    await createResources(namespace, resourceNames(o.n), o.createConcurrency);
    await tracker.waitFor(
      `${o.n} resources Ready`,
      () => tracker.readyCount() >= o.n,
      timeoutMs(o),
      () => `${tracker.readyCount()}/${o.n} Ready`,
    );
    await op.waitForIdle(o.n, timeoutMs(o));
    await sleep(5000);

    const nextRefresh = Math.min(
      ...[...tracker.byName.values()].map((t) => t.issues.at(-1)?.nextRefreshTime ?? Infinity),
    );
    const seq = proxySeq(proxy);
    const apiBefore = await apiserverRequests(w.kubeConfig);
    const t0 = Date.now();
    const watchesBefore = tap.openWatches();
    const samplesBefore = await op.metrics();
    await sleep(o.idleSeconds * 1000);
    const t1 = Date.now();
    const apiDiff = diffCounts(apiBefore, await apiserverRequests(w.kubeConfig));
    const operatorRequests = tapCounts(tap.requests, t0, t1);
    const samplesAfter = await op.metrics();
    const reconciles =
      OperatorProcess.sum(samplesAfter, "aws_assume_role_reconcile_duration_seconds_count") -
      OperatorProcess.sum(samplesBefore, "aws_assume_role_reconcile_duration_seconds_count");
    const aws = proxy.records({ sinceSeq: seq });
    let writes = 0;
    let reads = 0;
    let watches = 0;
    for (const [key, n] of operatorRequests) {
      const verb = key.split(" ")[0]!;
      if (verb === "WATCH") watches += n;
      else if (verb === "GET" || verb === "LIST") reads += n;
      else writes += n;
    }

    report.emit(
      [
        `### idle: ${o.n} resources, none due, ${o.idleSeconds} s window`,
        "",
        `All ${o.n} resources Ready, the operator idle for 5 s, the earliest scheduled refresh ` +
          `${Math.round((nextRefresh - t0) / 1000)} s after the window opened. Operator: \`${operatorArgs(o).join(" ")}\`.`,
        "",
        table(
          ["measure", "value"],
          [
            ["writes by the operator (tap)", writes],
            ["GET/LIST by the operator (tap)", reads],
            ["watch requests opened by the operator (tap)", watches],
            ["watches held open at the start / end", `${watchesBefore} / ${tap.openWatches()}`],
            ["reconciles", reconciles],
            ["AWS calls (proxy record)", aws.length],
          ],
          ["l", "r"],
        ),
        "",
        ...(watches > 0 && reads === 0
          ? [
              "The watch requests are re-opened watches, not polling: client-node's Watch gives up on a connection " +
                "that delivered nothing for 30 s and its ListWatch opens a new watch from the last resourceVersion " +
                "(no list). Expect about one per watched kind every 30 s while nothing changes.",
              "",
            ]
          : []),
        "The operator's requests in the window (tap):",
        "",
        countsTable(operatorRequests, "_none_"),
        "",
        "<details><summary>apiserver_request_total in the window, all clients (kube-controller-manager's background " +
          "work and anything else running included; watches are counted when they end)</summary>",
        "",
        countsTable(apiDiff, "_none_"),
        "",
        "</details>",
      ].join("\n"),
    );
  } finally {
    await op?.stop();
    tracker.stop();
    await tap.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespaces([namespace], timeoutMs(o));
  }
}
