// spread: N resources created at once with credentials that live only --spread-lifetime seconds (the AWS proxy
// rewrites their Expiration) → when each one refreshes relative to its creation (histogram: the schedule the
// operator reported with the first issue, and the refresh its status reported next), and the busiest second of STS
// calls (proxy record timestamps) against the configured rate limit.
import { createNamespace, createResources, deleteNamespaces, resourceNames } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, proxySeq, timeoutMs } from "../context.ts";
import { OperatorProcess } from "../operator-process.ts";
import { table } from "../report.ts";
import { fixed, histogram, peakInWindow, perSecond, seconds, summarize } from "../stats.ts";
import type { Summary } from "../stats.ts";
import { barChartSvg } from "../svg.ts";
import { ResourceTracker } from "../tracker.ts";
import { roleSessionName } from "../../src/domain/naming.ts";

const RATIO = 0.6667;
const JITTER = 0.05;

export async function spread(ctx: BenchContext): Promise<void> {
  const { options: o, world: w, proxy, report } = ctx;
  const lifetime = o.spreadLifetime;
  const rate = o.spreadStsRate;
  const burstSize = o.spreadStsBurst;
  const namespace = await createNamespace("spread");
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, namespace);
  let op: OperatorProcess | undefined;
  proxy.setLifetime({ stsSeconds: lifetime });
  try {
    await tracker.start();
    op = await OperatorProcess.start({
      namespaces: [namespace],
      awsEndpoint: proxy.url,
      args: operatorArgs(o, rate, burstSize),
    });
    await op.waitForLog("workers started", 60_000);
    const names = resourceNames(o.n);
    const seq = proxySeq(proxy);
    const t0 = Date.now();
    const createdAt = await createResources(namespace, names, o.createConcurrency);
    // Long enough for every first issue and first refresh through the limiter, bounded by --timeout-seconds.
    const expectedMs = (lifetime * (RATIO + JITTER) + (2 * o.n) / rate) * 1000 + 60_000;
    await tracker.waitFor(
      `every resource refreshed once`,
      () => tracker.issuedAtLeast(2) >= o.n,
      Math.min(timeoutMs(o), Math.max(expectedMs * 2, 120_000)),
      () => `${tracker.issuedAtLeast(1)} issued, ${tracker.issuedAtLeast(2)}/${o.n} refreshed`,
    );
    const end = Date.now();

    // Issue times come from the status the operator wrote (lastRefreshTime, and the nextRefreshTime scheduled with
    // it): an AssumeRole whose result never reached the Secret (a failed write, retried) is not an issue.
    const records = proxy.records({ action: "AssumeRole", sinceSeq: seq });
    const bySession = new Map<string, number[]>();
    for (const r of records) {
      const session = String(r.params.RoleSessionName ?? "");
      const list = bySession.get(session) ?? [];
      list.push(Date.parse(r.time));
      bySession.set(session, list);
    }
    const firstIssue: number[] = [];
    const scheduled: number[] = [];
    const actual: number[] = [];
    const late: number[] = [];
    const refreshTimes: number[] = [];
    let retries = 0;
    for (const name of names) {
      const created = createdAt.get(name)!;
      const issues = tracker.byName.get(name)?.issues ?? [];
      const calls = bySession.get(roleSessionName(namespace, name)) ?? [];
      const [first, second] = issues;
      if (!first) continue;
      firstIssue.push(first.lastRefreshTime - created);
      scheduled.push(first.nextRefreshTime - created);
      if (second) {
        actual.push(second.lastRefreshTime - created);
        late.push(second.lastRefreshTime - first.nextRefreshTime);
      }
      refreshTimes.push(...calls.filter((t) => t > first.lastRefreshTime));
      retries += Math.max(0, calls.filter((t) => t <= end).length - issues.length);
    }
    const failed = records.filter((r) => r.status !== 200).length;
    const allTimes = records.map((r) => Date.parse(r.time));
    const peakAll = peakInWindow(allTimes);
    const peakRefresh = peakInWindow(refreshTimes);
    const wave = refreshTimes.length ? Math.max(...refreshTimes) - Math.min(...refreshTimes) : NaN;

    const row = (label: string, s: Summary) => [
      label,
      seconds(s.min, 1),
      seconds(s.p50, 1),
      seconds(s.p95, 1),
      seconds(s.max, 1),
      seconds(s.max - s.min, 1),
    ];
    const offsets = table(
      ["seconds after create", "min", "p50", "p95", "max", "spread (max−min)"],
      [
        row("first issue (status.lastRefreshTime)", summarize(firstIssue)),
        row("refresh scheduled (status.nextRefreshTime)", summarize(scheduled)),
        row("refresh done (next status.lastRefreshTime)", summarize(actual)),
        row("refresh done − scheduled", summarize(late)),
      ],
      ["l", "r", "r", "r", "r", "r"],
    );
    const sts = table(
      ["STS AssumeRole", "value"],
      [
        ["calls in the scenario", records.length],
        ["failed calls / calls that did not become an issue (retried)", `${failed} / ${retries}`],
        ["configured limit", `${rate}/s, burst ${burstSize} (at most ${rate + burstSize} in any one second)`],
        ["busiest second, all calls", `${peakAll.peak} (at +${seconds(peakAll.at - t0, 1)} s)`],
        ["busiest second, refreshes only", `${peakRefresh.peak} (at +${seconds(peakRefresh.at - t0, 1)} s)`],
        [
          "refresh wave: first → last refresh",
          `${seconds(wave, 1)} s, mean ${fixed((refreshTimes.length / wave) * 1000)}/s`,
        ],
        [
          "demand if refreshes were not rate limited",
          `${o.n} in a ±${fixed(lifetime * JITTER, 1)} s window (≈ ${fixed(o.n / (2 * lifetime * JITTER))}/s)`,
        ],
      ],
      ["l", "r"],
    );

    const target = lifetime * RATIO;
    // The window around the refreshes, in whole seconds after create.
    const finite = [...actual, ...scheduled].filter(Number.isFinite);
    const minX = Math.max(
      0,
      Math.floor(Math.min(...finite, target * 1000 * (1 - JITTER / RATIO)) / 1000) - 2,
    );
    const maxX = Math.ceil(Math.max(...finite) / 1000) + 2;
    const edges = Array.from({ length: maxX - minX + 1 }, (_, i) => minX + i);
    const bins = (values: number[]) =>
      histogram(
        values.map((ms) => ms / 1000),
        1,
        minX,
        maxX - 1,
      ).map((b) => b.count);
    const refreshChart = report.chart(
      "spread-refresh",
      barChartSvg({
        title: `refresh times of ${o.n} resources created at once (lifetime ${lifetime} s, STS limit ${rate}/s)`,
        xLabel:
          "seconds after create (1 s bins; the markers count from create, the schedule from each issue)",
        yLabel: "resources",
        edges,
        series: [
          { name: "scheduled (status.nextRefreshTime)", color: "#9ecae1", values: bins(scheduled) },
          { name: "refreshed (next status.lastRefreshTime)", color: "#08519c", values: bins(actual) },
        ],
        vLines: [
          { x: target, label: "2/3 of the lifetime", color: "#d62728" },
          { x: target - lifetime * JITTER, label: "−5 %", color: "#888" },
          { x: target + lifetime * JITTER, label: "+5 %", color: "#888" },
        ],
      }),
      "histogram of refresh times after creation",
    );
    const perSec = perSecond(allTimes, t0);
    const stsChart = report.chart(
      "spread-sts-per-second",
      barChartSvg({
        title: `STS AssumeRole calls per second (${o.n} resources, lifetime ${lifetime} s)`,
        xLabel: "seconds after the first create",
        yLabel: "calls per second",
        edges: Array.from({ length: perSec.length + 1 }, (_, i) => i),
        series: [{ name: "AssumeRole calls", color: "#31a354", values: perSec }],
        hLines: [{ y: rate, label: `--sts-rate ${rate}`, color: "#d62728" }],
      }),
      "STS calls per second",
    );

    report.emit(
      [
        `### spread: ${o.n} resources created at once, ${lifetime} s credentials`,
        "",
        `The AWS proxy hands out credentials that expire ${lifetime} s after issue; the operator runs with its default ` +
          `refresh ratio (2/3) and jitter (±5 % of the lifetime) and \`${operatorArgs(o, rate, burstSize).join(" ")}\`. ` +
          `Times are from each create call's return; the scenario ends when every resource has refreshed once ` +
          `(${seconds(end - t0, 0)} s after the first create).`,
        "",
        offsets,
        "",
        sts,
        "",
        refreshChart,
        "",
        stsChart,
      ].join("\n"),
    );
  } finally {
    proxy.setLifetime({});
    await op?.stop();
    tracker.stop();
    await deleteNamespaces([namespace], timeoutMs(o));
  }
}
