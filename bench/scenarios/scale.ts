// scale: memory against the number of resources, as the image runs the operator (`node dist/main.js`, built
// first) inside a cgroup v1 memory cgroup with the chart's limit. Resources are added in steps (0, 1,000, 10,000,
// 50,000 by default) to one namespace; after each step is Ready and idle: RSS and V8 heap after a full GC, the
// step's peak RSS (VmHWM, reset after each step), CPU and GC time per 1,000 resources issued, and the cgroup's
// failcnt and OOM kills. The curve goes to a chart.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../test/support/world.ts";
import { createNamespace, createResources, deleteNamespaces, resourceNames } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, timeoutMs } from "../context.ts";
import { OperatorProcess, sleep } from "../operator-process.ts";
import { table } from "../report.ts";
import { fixed, mib, seconds } from "../stats.ts";
import { lineChartSvg } from "../svg.ts";
import { ResourceTracker } from "../tracker.ts";

const CGROUP_ROOT = "/sys/fs/cgroup/memory";
const MiB = 1024 * 1024;

interface Step {
  resources: number;
  issueMs: number;
  rssAfterGc: number;
  heapAfterGc: number;
  peakRss: number;
  cpuSeconds: number;
  gcSeconds: number;
  added: number;
}

/** `work`, or an error as soon as the operator exits first (naming the cgroup's OOM kills and how far it got). */
async function whileAlive<T>(
  op: OperatorProcess,
  cgroup: string,
  work: Promise<T>,
  progress: () => string,
): Promise<T> {
  const died = op.exited.then((code): never => {
    throw new Error(
      `the operator exited (${op.child.signalCode ?? `code ${code}`}) at ${progress()}; ` +
        `cgroup OOM kills: ${cgroupStat(cgroup).oomKills}`,
    );
  });
  died.catch(() => undefined); // the operator's normal stop at the end is not an error
  return Promise.race([work, died]);
}

function cgroupStat(dir: string): { failcnt: number; oomKills: number; maxUsage: number } {
  const oom = readFileSync(join(dir, "memory.oom_control"), "utf8");
  return {
    failcnt: Number(readFileSync(join(dir, "memory.failcnt"), "utf8")),
    oomKills: Number(/^oom_kill (\d+)/m.exec(oom)?.[1] ?? NaN),
    maxUsage: Number(readFileSync(join(dir, "memory.max_usage_in_bytes"), "utf8")),
  };
}

interface RunConfig {
  sizes: number[];
  limitMib: number;
  env: Record<string, string>;
  nodeArgs?: string[];
}

interface RunResult {
  steps: Step[];
  stat: ReturnType<typeof cgroupStat>;
  exitedBefore: boolean;
  oomNote: string;
  /** Why the run ended early, if it did (the steps so far are still reported). */
  error?: unknown;
  /** Deletes the run's namespace (waits until it is gone: minutes for 100,000 objects) and its cgroup. */
  cleanUp: () => Promise<void>;
}

let built = false;

/** `K=V,K=V` (the --scale-env format) as an environment. */
export function parseEnvList(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(",")
      .filter((kv) => kv.includes("="))
      .map((kv) => [kv.slice(0, kv.indexOf("=")).trim(), kv.slice(kv.indexOf("=") + 1).trim()]),
  );
}

/**
 * One operator in a fresh memory cgroup, taken through `sizes` in one fresh namespace: per step, the time to
 * issue, RSS and heap after a full GC, peak RSS, CPU and GC seconds. The namespace and cgroup are removed after.
 */
async function runSteps(ctx: BenchContext, cfg: RunConfig): Promise<RunResult> {
  const { options: o, world: w, proxy } = ctx;
  const { sizes } = cfg;
  if (!existsSync(CGROUP_ROOT))
    throw new Error(`${CGROUP_ROOT} is missing: the scale scenario needs cgroup v1 (root)`);
  if (!built) {
    process.stderr.write("scale: building dist/ (npm run build)\n");
    execFileSync("npm", ["run", "-s", "build"], { cwd: ROOT, stdio: "inherit" });
    built = true;
  }
  const cgroup = join(CGROUP_ROOT, `aar-bench-${process.pid}-${Date.now()}`);
  mkdirSync(cgroup, { recursive: true });
  writeFileSync(join(cgroup, "memory.limit_in_bytes"), String(cfg.limitMib * MiB));
  const namespace = await createNamespace("scale");
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, namespace);
  const names = resourceNames(Math.max(...sizes, 1));
  let op: OperatorProcess | undefined;
  const steps: Step[] = [];
  let oomNote = "";
  let error: unknown;
  try {
    await tracker.start();
    op = await OperatorProcess.start({
      namespaces: [namespace],
      awsEndpoint: proxy.url,
      args: operatorArgs(o),
      inspect: true,
      main: join(ROOT, "dist", "main.js"),
      cgroup,
      env: cfg.env,
      ...(cfg.nodeArgs ? { nodeArgs: cfg.nodeArgs } : {}),
    });
    await op.waitForLog("workers started", 60_000);
    let have = 0;
    for (const size of sizes) {
      process.stderr.write(`scale: ${size} resources\n`);
      const cpu0 = op.cpuSeconds();
      const gc0 = OperatorProcess.sum(await op.metrics(), "nodejs_gc_duration_seconds_sum");
      const t = Date.now();
      if (size > have) {
        await createResources(namespace, names.slice(have, size), o.createConcurrency);
        // An operator killed by the cgroup's OOM killer ends the run at once, not at the step's timeout.
        await whileAlive(
          op,
          cgroup,
          tracker.waitFor(
            `${size} resources Ready`,
            () => tracker.readyCount() >= size,
            timeoutMs(o),
            () => `${tracker.readyCount()}/${size} Ready`,
          ),
          () => `${tracker.readyCount()}/${size} Ready`,
        );
        await whileAlive(
          op,
          cgroup,
          op.waitForIdle(size, timeoutMs(o)),
          () => `${tracker.readyCount()}/${size} Ready`,
        );
      }
      const issueMs = Date.now() - t;
      const cpuSeconds = op.cpuSeconds() - cpu0;
      const gcSeconds = OperatorProcess.sum(await op.metrics(), "nodejs_gc_duration_seconds_sum") - gc0;
      await sleep(o.memorySettleSeconds * 1000);
      const peakRss = op.peakRssBytes();
      await op.collectGarbage();
      const samples = await op.metrics();
      steps.push({
        resources: size,
        issueMs,
        rssAfterGc: op.rssBytes(),
        heapAfterGc: OperatorProcess.sum(samples, "nodejs_heap_size_used_bytes"),
        peakRss,
        cpuSeconds,
        gcSeconds,
        added: size - have,
      });
      op.resetPeakRss();
      have = size;
    }
  } catch (err) {
    if (op && op.child.exitCode !== null)
      oomNote = ` The operator exited (${op.child.exitCode ?? op.child.signalCode}).`;
    error = err;
  }
  const exitedBefore = op ? op.child.exitCode !== null || op.child.signalCode !== null : false;
  await op?.stop();
  const stat = cgroupStat(cgroup);
  tracker.stop();
  const cleanUp = async () => {
    process.stderr.write("scale: deleting the namespace (waits until it is gone)\n");
    await deleteNamespaces([namespace], timeoutMs(o));
    try {
      rmdirSync(cgroup);
    } catch (err) {
      process.stderr.write(`scale: could not remove ${cgroup}: ${(err as Error).message}\n`);
    }
  };
  return { steps, stat, exitedBefore, oomNote, cleanUp, ...(error !== undefined ? { error } : {}) };
}

export async function scale(ctx: BenchContext): Promise<void> {
  const { options: o, report } = ctx;
  const sizes = o.scaleSizes;
  const { steps, stat, exitedBefore, oomNote, error, cleanUp } = await runSteps(ctx, {
    sizes,
    limitMib: o.scaleMemoryLimitMib,
    env: parseEnvList(o.scaleEnv),
    nodeArgs: o.scaleNodeArgs.split(" ").filter(Boolean),
  });
  const cgroup = join(CGROUP_ROOT, "aar-bench-<pid>");
  if (steps.length) {
    const rows = steps.map((s) => [
      s.resources,
      s.added ? seconds(s.issueMs, 0) : "–",
      mib(s.rssAfterGc),
      mib(s.heapAfterGc),
      mib(s.peakRss),
      s.added ? fixed((s.cpuSeconds / s.added) * 1000, 2) : "–",
      s.added ? fixed((s.gcSeconds / s.added) * 1000, 2) : "–",
      s.added && s.cpuSeconds > s.gcSeconds ? fixed(s.cpuSeconds / (s.cpuSeconds - s.gcSeconds), 2) : "–",
    ]);
    const chart = report.chart(
      "scale-memory",
      lineChartSvg({
        title: `operator memory by number of resources (node dist/main.js in a ${o.scaleMemoryLimitMib} MiB cgroup)`,
        xLabel: "AWSAssumeRole resources (each with its Secret)",
        yLabel: "MiB",
        series: [
          {
            name: "peak RSS",
            color: "#d62728",
            points: steps.map((s) => ({ x: s.resources, y: s.peakRss / MiB })),
          },
          {
            name: "RSS after GC",
            color: "#1f77b4",
            points: steps.map((s) => ({ x: s.resources, y: s.rssAfterGc / MiB })),
          },
          {
            name: "heap used after GC",
            color: "#2ca02c",
            points: steps.map((s) => ({ x: s.resources, y: s.heapAfterGc / MiB })),
          },
        ],
        hLines: [
          {
            y: o.scaleMemoryLimitMib,
            label: `cgroup limit ${o.scaleMemoryLimitMib} MiB`,
            color: "#7f7f7f",
          },
        ],
      }),
      "memory by number of resources",
    );
    report.emit(
      [
        `### scale: memory at ${sizes.join(", ")} resources in a ${o.scaleMemoryLimitMib} MiB memory cgroup`,
        "",
        `The operator as the image starts it: \`node ${o.scaleNodeArgs ? `${o.scaleNodeArgs} ` : ""}dist/main.js ${operatorArgs(o).join(" ")}\` (built by \`npm run build\`; ` +
          `environment ${o.scaleEnv ? `\`${o.scaleEnv}\`` : "as the image's (no NODE_OPTIONS)"}, inspector open on loopback), started inside the ` +
          `cgroup v1 memory cgroup \`${cgroup}\` with memory.limit_in_bytes = ${o.scaleMemoryLimitMib} MiB. Resources ` +
          "are added in steps to one namespace (Map Secrets); after each step is Ready and the queue idle, and " +
          `${o.memorySettleSeconds} s more: peak RSS of the step (VmHWM, reset with /proc/<pid>/clear_refs after each step), then RSS ` +
          "(VmRSS) and heap used (nodejs_heap_size_used_bytes) right after a full GC through the inspector. CPU = the " +
          "process's user + system time during the step; GC = the growth of nodejs_gc_duration_seconds_sum; " +
          '"CPU / CPU without GC" is what garbage collection costs on top of the work.',
        "",
        table(
          [
            "resources",
            "step issued in (s)",
            "RSS after GC (MiB)",
            "heap used after GC (MiB)",
            "peak RSS in step (MiB)",
            "CPU s per 1,000 added",
            "GC s per 1,000 added",
            "CPU / CPU without GC",
          ],
          rows,
          ["r", "r", "r", "r", "r", "r", "r", "r"],
        ),
        "",
        `cgroup at the end: memory.failcnt ${stat.failcnt}, OOM kills ${stat.oomKills}, memory.max_usage_in_bytes ` +
          `${mib(stat.maxUsage)} MiB (includes page cache).${exitedBefore ? " **The operator had exited before the end.**" : ""}${oomNote}`,
        "",
        chart,
      ].join("\n"),
    );
  }
  // Reported first: deleting a namespace of 50,000 resources and their Secrets takes minutes.
  await cleanUp();
  if (error !== undefined) throw error;
}

/** The reference of gc-cost: memory so ample that V8 rarely has to collect (a 4 GiB cgroup, large heap spaces). */
export const GC_REFERENCE = {
  limitMib: 4096,
  env: { NODE_OPTIONS: "--max-old-space-size=3072 --max-semi-space-size=64" },
};

/**
 * gc-cost: what the chart's memory settings cost in CPU. The same step (0 → --gc-cost-resources) twice: once as
 * scale runs it (the chart's cgroup limit and --scale-env), once with ample memory (GC_REFERENCE); CPU seconds per
 * 1,000 resources of both, and their ratio. Unlike "GC s" (pause wall time, inflated when the machine is busy),
 * this is process CPU, helper threads included, so it measures all that collecting costs.
 */
export async function gcCost(ctx: BenchContext): Promise<void> {
  const { options: o, report } = ctx;
  const sizes = [0, o.gcCostResources];
  const chartEnv = parseEnvList(o.scaleEnv);
  const runs: { name: string; limitMib: number; env: Record<string, string>; result?: RunResult }[] = [
    { name: "chart settings", limitMib: o.scaleMemoryLimitMib, env: chartEnv },
    { name: "ample memory (reference)", ...GC_REFERENCE },
  ];
  for (const run of runs) {
    process.stderr.write(`gc-cost: ${run.name}\n`);
    run.result = await runSteps(ctx, { sizes, limitMib: run.limitMib, env: run.env });
    await run.result.cleanUp();
    if (run.result.error !== undefined) throw run.result.error;
  }
  const last = (r: RunResult) => r.steps[r.steps.length - 1]!;
  const perThousand = (s: Step) => (s.cpuSeconds / s.added) * 1000;
  const [chart, reference] = runs.map((r) => last(r.result!));
  const envText = (env: Record<string, string>) =>
    Object.entries(env)
      .map(([k, v]) => `\`${k}=${v}\``)
      .join(", ") || "none";
  report.emit(
    [
      `### gc-cost: CPU of ${o.gcCostResources} resources under the chart's memory settings and with ample memory`,
      "",
      `The scale step 0 → ${o.gcCostResources} twice, each with a fresh operator (\`node dist/main.js ${operatorArgs(o).join(" ")}\`) ` +
        "in its own memory cgroup and namespace. CPU = the process's user + system time (all threads, GC helpers " +
        "included) from the creation of the resources until all are Ready and the queue is idle.",
      "",
      table(
        [
          "run",
          "cgroup limit (MiB)",
          "environment",
          "CPU s per 1,000",
          "GC pause s per 1,000",
          "RSS after GC (MiB)",
          "heap after GC (MiB)",
          "peak RSS (MiB)",
        ],
        runs.map((r) => {
          const s = last(r.result!);
          return [
            r.name,
            r.limitMib,
            envText(r.env),
            fixed(perThousand(s), 2),
            fixed((s.gcSeconds / s.added) * 1000, 2),
            mib(s.rssAfterGc),
            mib(s.heapAfterGc),
            mib(s.peakRss),
          ];
        }),
        ["l", "r", "l", "r", "r", "r", "r", "r"],
      ),
      "",
      `**CPU under the chart's settings / CPU with ample memory: ${fixed(perThousand(chart!) / perThousand(reference!), 2)}** ` +
        "(what garbage collection under the limit costs on top of the work; target ≤ 1.3).",
    ].join("\n"),
  );
}
