// restart: with N fresh Secrets, SIGTERM the operator and start it again → time until it is idle again, STS calls
// and Secret writes during the restart (expected: none). The operator talks to the apiserver through the tap, so
// its own requests are counted apart from everyone else's.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiserverRequests, countOf, diffCounts } from "../apiserver.ts";
import { startApiserverTap, tapCounts } from "../apiserver-tap.ts";
import { createNamespace, createResources, deleteNamespaces, resourceNames } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, proxySeq, timeoutMs } from "../context.ts";
import { OperatorProcess, sleep } from "../operator-process.ts";
import { countsTable, table } from "../report.ts";
import { seconds } from "../stats.ts";
import { ResourceTracker } from "../tracker.ts";

const WRITES = ["POST", "PUT", "PATCH", "DELETE", "APPLY"] as const;

export async function restart(ctx: BenchContext): Promise<void> {
  const { options: o, world: w, proxy, report } = ctx;
  const dir = mkdtempSync(join(tmpdir(), "aar-bench-"));
  const tap = await startApiserverTap(w.kubeConfig, join(dir, "kubeconfig"));
  const namespace = await createNamespace("restart");
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, namespace);
  const start = () =>
    OperatorProcess.start({
      namespaces: [namespace],
      awsEndpoint: proxy.url,
      kubeconfigPath: tap.kubeconfigPath,
      args: operatorArgs(o),
    });
  let second: OperatorProcess | undefined;
  try {
    await tracker.start();
    const first = await start();
    try {
      await first.waitForLog("workers started", 60_000);
      await createResources(namespace, resourceNames(o.n), o.createConcurrency);
      await tracker.waitFor(
        `${o.n} resources Ready`,
        () => tracker.readyCount() >= o.n,
        timeoutMs(o),
        () => `${tracker.readyCount()}/${o.n} Ready`,
      );
      await first.waitForIdle(o.n, timeoutMs(o));
      await sleep(2000);
    } catch (err) {
      await first.stop();
      throw err;
    }

    const seq = proxySeq(proxy);
    const apiBefore = await apiserverRequests(w.kubeConfig);
    const modificationsBefore = tracker.totalModifications();
    const t0 = Date.now();
    const code = await first.stop();
    const exitedAt = Date.now();
    second = await start();
    const spawnedAt = second.startedAt;
    const synced = await second.waitForLog("caches synced", 60_000);
    const started = await second.waitForLog("workers started", 60_000);
    const idleAt = await second.waitForIdle(o.n, timeoutMs(o), 500);
    await sleep(o.restartSettleSeconds * 1000);
    const apiDiff = diffCounts(apiBefore, await apiserverRequests(w.kubeConfig));
    const operatorRequests = tapCounts(tap.requests, t0);
    const records = proxy.records({ sinceSeq: seq });
    const assumeRoleRecords = records.filter((r) => r.action === "AssumeRole");
    const assumeRoles = assumeRoleRecords.length;
    const modifications = tracker.totalModifications() - modificationsBefore;
    const ready = [...tracker.byName.values()].filter((t) => t.ready).length;
    const samples = await second.metrics();
    const reconciles = OperatorProcess.sum(samples, "aws_assume_role_reconcile_duration_seconds_count");

    const at = (time: number) => `${time >= t0 ? "+" : "−"}${seconds(Math.abs(time - t0))} s`;
    const rows: (string | number)[][] = [
      ["SIGTERM → old process exited", `${seconds(exitedAt - t0)} s (exit code ${code})`],
      ["new process spawned → caches synced", `${seconds(synced - spawnedAt)} s`],
      ["new process spawned → workers started", `${seconds(started - spawnedAt)} s`],
      [`new process spawned → idle (≥ ${o.n} reconciles, queue empty)`, `${seconds(idleAt - spawnedAt)} s`],
      ["workers started → idle", `${seconds(idleAt - started)} s`],
      ["SIGTERM → idle", `${seconds(idleAt - t0)} s`],
      ["reconciles by the new process", reconciles],
      [
        "STS AssumeRole calls (proxy record)",
        assumeRoles === 0
          ? 0
          : `${assumeRoles}: ${assumeRoleRecords
              .slice(0, 5)
              .map((r) => `${String(r.params.RoleSessionName)} at SIGTERM ${at(Date.parse(r.time))}`)
              .join(", ")}`,
      ],
      [
        "all AWS calls (proxy record)",
        `${records.length} (${[...new Set(records.map((r) => r.action))].join(", ") || "none"})`,
      ],
      [
        "Secret writes, all clients (apiserver_request_total, POST/PUT/PATCH/DELETE secrets)",
        countOf(apiDiff, "secrets", WRITES),
      ],
      ["Secret writes by the operator (tap)", countOf(operatorRequests, "secrets", WRITES)],
      [
        "status writes by the operator (tap, pincette.net/awsassumeroles/status)",
        countOf(operatorRequests, "pincette.net/awsassumeroles/status", WRITES),
      ],
      ["AWSAssumeRole changes seen by the benchmark's watch", modifications],
      ["Ready=True at the end", `${ready}/${o.n}`],
    ];
    report.emit(
      [
        `### restart: ${o.n} resources with fresh Secrets`,
        "",
        `The operator (\`${operatorArgs(o).join(" ")}\`) issued all ${o.n} Secrets and went idle; then SIGTERM, wait for exit, start it ` +
          `again, wait until the new process has reconciled every resource with its queue empty, and keep counting for ` +
          `${o.restartSettleSeconds} s more. Idle is read from the operator's /metrics (workqueue depth 0, reconcile count ` +
          "unchanged for 0.5 s). Counts cover SIGTERM → the end of that settle time.",
        "",
        table(["measure", "value"], rows, ["l", "r"]),
        "",
        "The operator's requests during the restart (tap):",
        "",
        countsTable(operatorRequests, "_none_"),
        "",
        "<details><summary>apiserver_request_total, all clients, same interval</summary>",
        "",
        countsTable(apiDiff, "_none_"),
        "",
        "</details>",
      ].join("\n"),
    );
  } finally {
    await second?.stop();
    tracker.stop();
    await tap.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespaces([namespace], timeoutMs(o));
  }
}
