// burst: N resources created at once → time until all are Ready, throughput and create→Ready latency; in the same
// run, interleaved (ABBA), the bare-loop limit over the same number of resources in another namespace, and the
// ratio operator/limit.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT, awsEnv } from "../../test/support/world.ts";
import { createNamespace, createResources, deleteNamespaces, resourceNames } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, proxySeq, timeoutMs } from "../context.ts";
import { NODE, OperatorProcess, children, cpuSecondsOf } from "../operator-process.ts";
import { table } from "../report.ts";
import { fixed, histogram, seconds, summarize } from "../stats.ts";
import { barChartSvg, niceTicks } from "../svg.ts";
import { ResourceTracker } from "../tracker.ts";

type Mode = "operator" | "bare loop";

export interface Round {
  mode: Mode;
  n: number;
  /** First create sent → last create returned (ms). */
  createMs: number;
  /** First create sent → last resource seen Ready (ms). */
  totalMs: number;
  latencies: number[];
  cpuSeconds: number;
  assumeRoles: number;
}

/** Creates the resources, waits until all are Ready, and measures; `pid` is the process doing the work. */
async function measure(
  ctx: BenchContext,
  mode: Mode,
  namespace: string,
  tracker: ResourceTracker,
  pid: number,
): Promise<Round> {
  const { options: o, proxy } = ctx;
  const names = resourceNames(o.n);
  const seq = proxySeq(proxy);
  const cpu0 = cpuSecondsOf(pid);
  const t0 = Date.now();
  const createdAt = await createResources(namespace, names, o.createConcurrency);
  const createMs = Date.now() - t0;
  await tracker.waitFor(
    `${o.n} resources Ready (${mode})`,
    () => tracker.readyCount() >= o.n,
    timeoutMs(o),
    () => `${tracker.readyCount()}/${o.n} Ready`,
  );
  const cpuSeconds = cpuSecondsOf(pid) - cpu0;
  const readyAt = names.map((name) => tracker.byName.get(name)!.readyAt!);
  return {
    mode,
    n: o.n,
    createMs,
    totalMs: Math.max(...readyAt) - t0,
    latencies: names.map((name, i) => readyAt[i]! - createdAt.get(name)!),
    cpuSeconds,
    assumeRoles: proxy.records({ action: "AssumeRole", sinceSeq: seq }).length,
  };
}

/** One operator round in a fresh namespace; `args` default to the benchmark's (limiter out of the way). */
export async function operatorRound(ctx: BenchContext, args = operatorArgs(ctx.options)): Promise<Round> {
  const { options: o, world: w } = ctx;
  const namespace = await createNamespace("burst");
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, namespace);
  try {
    await tracker.start();
    const op = await OperatorProcess.start({
      namespaces: [namespace],
      awsEndpoint: ctx.proxy.url,
      args,
    });
    try {
      await op.waitForLog("workers started", 60_000);
      return await measure(ctx, "operator", namespace, tracker, op.pid);
    } finally {
      await op.stop();
    }
  } finally {
    tracker.stop();
    await deleteNamespaces([namespace], timeoutMs(o));
  }
}

async function bareLoopRound(ctx: BenchContext): Promise<Round> {
  const { options: o, world: w } = ctx;
  const namespace = await createNamespace("burst-loop");
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, namespace);
  try {
    await tracker.start();
    const child = spawn(
      NODE,
      [
        join(ROOT, "bench", "bare-loop.ts"),
        "--namespace",
        namespace,
        "--concurrency",
        String(o.maxConcurrentReconciles),
        "--count",
        String(o.n),
        "--timeout-ms",
        String(timeoutMs(o)),
      ],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "/tmp",
          KUBECONFIG: w.env.KUBECONFIG!,
          ...(await awsEnv(ctx.proxy.url)),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.add(child);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    void exited.then(() => children.delete(child));
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
    try {
      const startDeadline = Date.now() + 60_000;
      while (!output.includes('"event":"ready"')) {
        if (child.exitCode !== null || Date.now() > startDeadline)
          throw new Error(`bare loop did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const round = await measure(ctx, "bare loop", namespace, tracker, child.pid!);
      const doneDeadline = Date.now() + 30_000;
      while (!output.includes('"event":"done"') && Date.now() < doneDeadline)
        await new Promise((r) => setTimeout(r, 20));
      child.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 10_000))]);
      if (code !== 0) throw new Error(`bare loop ended with ${String(code)}:\n${output.slice(-2000)}`);
      return round;
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  } finally {
    tracker.stop();
    await deleteNamespaces([namespace], timeoutMs(o));
  }
}

export async function burst(ctx: BenchContext): Promise<void> {
  const { options: o, report } = ctx;
  const order: Mode[] = [];
  for (let r = 0; r < o.burstRounds; r++)
    order.push(
      ...(r % 2 === 0 ? (["operator", "bare loop"] as const) : (["bare loop", "operator"] as const)),
    );
  const rounds: Round[] = [];
  for (const [i, mode] of order.entries()) {
    process.stderr.write(`burst: round ${i + 1}/${order.length} (${mode}, ${o.n} resources)\n`);
    rounds.push(mode === "operator" ? await operatorRound(ctx) : await bareLoopRound(ctx));
  }

  const perRound = table(
    [
      "round",
      "mode",
      "N",
      "creates done (s)",
      "all Ready (s)",
      "Ready/s",
      "p50 (s)",
      "p95 (s)",
      "p99 (s)",
      "max (s)",
      "CPU (s)",
      "AssumeRole",
    ],
    rounds.map((r, i) => {
      const s = summarize(r.latencies);
      return [
        i + 1,
        r.mode,
        r.n,
        seconds(r.createMs),
        seconds(r.totalMs),
        fixed((r.n / r.totalMs) * 1000),
        seconds(s.p50),
        seconds(s.p95),
        seconds(s.p99),
        seconds(s.max),
        fixed(r.cpuSeconds),
        r.assumeRoles,
      ];
    }),
    ["r", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
  );
  const byMode = (mode: Mode) => {
    const rs = rounds.filter((r) => r.mode === mode);
    const n = rs.reduce((a, r) => a + r.n, 0);
    const ms = rs.reduce((a, r) => a + r.totalMs, 0);
    return {
      throughput: (n / ms) * 1000,
      latency: summarize(rs.flatMap((r) => r.latencies)),
      cpuPer1000: (rs.reduce((a, r) => a + r.cpuSeconds, 0) / n) * 1000,
    };
  };
  const op = byMode("operator");
  const loop = byMode("bare loop");
  const ratio = op.throughput / loop.throughput;
  const summary = table(
    ["mode", "Ready/s", "p50 (s)", "p95 (s)", "p99 (s)", "CPU s per 1000"],
    [
      [
        "operator",
        fixed(op.throughput),
        seconds(op.latency.p50),
        seconds(op.latency.p95),
        seconds(op.latency.p99),
        fixed(op.cpuPer1000),
      ],
      [
        "bare loop",
        fixed(loop.throughput),
        seconds(loop.latency.p50),
        seconds(loop.latency.p95),
        seconds(loop.latency.p99),
        fixed(loop.cpuPer1000),
      ],
    ],
    ["l", "r", "r", "r", "r", "r"],
  );

  const all = rounds.flatMap((r) => r.latencies).map((ms) => ms / 1000);
  const ticks = niceTicks(0, Math.max(...all), 40);
  const width = (ticks[1] ?? 1) - (ticks[0] ?? 0) || 0.1;
  const end = Math.max(...all);
  const binsOf = (mode: Mode) =>
    histogram(
      rounds
        .filter((r) => r.mode === mode)
        .flatMap((r) => r.latencies)
        .map((ms) => ms / 1000),
      width,
      0,
      end,
    );
  const opBins = binsOf("operator");
  const loopBins = binsOf("bare loop");
  const edges = [...opBins.map((b) => b.from), opBins.at(-1)?.to ?? width];
  const chart = report.chart(
    "burst-latency",
    barChartSvg({
      title: `create → Ready latency, ${o.n} resources created at once (${o.burstRounds} round${o.burstRounds > 1 ? "s" : ""} each)`,
      xLabel: "seconds from create to Ready",
      yLabel: "resources",
      edges,
      series: [
        { name: "operator", color: "#1f77b4", values: opBins.map((b) => b.count) },
        { name: "bare loop", color: "#ff7f0e", values: loopBins.map((b) => b.count) },
      ],
    }),
    "create→Ready latency histogram",
  );

  report.emit(
    [
      `### burst: ${o.n} resources created at once`,
      "",
      `Each round uses a fresh namespace and a fresh process. Operator: \`--max-concurrent-reconciles ${o.maxConcurrentReconciles} --sts-rate ${o.stsRate} --sts-burst ${o.stsBurst}\` ` +
        `(the rate limit set high so that it does not dominate). Bare loop (\`bench/bare-loop.ts\`): ${o.maxConcurrentReconciles} loops, ` +
        `per resource STS AssumeRole (AWS SDK, same proxy), create Secret and merge-patch status (client-node, the operator's adapters), ` +
        "fed by a plain watch; no informers, queue, cache, plan or events. Creates by a pool of " +
        `${o.createConcurrency} concurrent requests; latency = create call returned → first Ready=True seen by the benchmark's watch; ` +
        "\"all Ready\" from the first create sent; CPU = the operator's or the loop's process.",
      "",
      perRound,
      "",
      summary,
      "",
      `**Operator / bare-loop limit (throughput): ${fixed(ratio, 2)}** (${fixed(op.throughput)} vs ${fixed(loop.throughput)} resources per second).`,
      "",
      chart,
    ].join("\n"),
  );
}
