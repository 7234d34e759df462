// memory: the operator's RSS (/proc/<pid>/status VmRSS) and V8 heap (prom-client's nodejs_heap_size_used_bytes)
// with many resources, then again after adding many unrelated Secrets in other namespaces that the operator also
// watches → the ratio (expected ≈ 1: its Secret informer is label-filtered, so unrelated Secrets are never cached).
import {
  createNamespace,
  createResources,
  createUnrelatedSecrets,
  deleteNamespaces,
  resourceNames,
} from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, timeoutMs } from "../context.ts";
import { OperatorProcess, sleep } from "../operator-process.ts";
import { table } from "../report.ts";
import { fixed, median, mib, seconds } from "../stats.ts";
import { ResourceTracker } from "../tracker.ts";

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
}

export interface Measurement {
  /** As running: the median of samples one second apart (the heap moves with every GC). */
  running: Sample;
  /** Right after a full GC requested through the inspector: live objects only. */
  afterGc: Sample;
}

async function sampleOnce(op: OperatorProcess): Promise<Sample> {
  const m = await op.metrics();
  return {
    rss: op.rssBytes(),
    heapUsed: OperatorProcess.sum(m, "nodejs_heap_size_used_bytes"),
    heapTotal: OperatorProcess.sum(m, "nodejs_heap_size_total_bytes"),
  };
}

export async function measure(op: OperatorProcess, count = 5): Promise<Measurement> {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    samples.push(await sampleOnce(op));
    if (i < count - 1) await sleep(1000);
  }
  const running = {
    rss: median(samples.map((s) => s.rss)),
    heapUsed: median(samples.map((s) => s.heapUsed)),
    heapTotal: median(samples.map((s) => s.heapTotal)),
  };
  await op.collectGarbage();
  // prom-client reads the heap when scraped, so this sample sees the collected heap.
  return { running, afterGc: await sampleOnce(op) };
}

export async function memory(ctx: BenchContext): Promise<void> {
  const { options: o, world: w, proxy, report } = ctx;
  const n = o.memoryResources;
  const main = await createNamespace("memory");
  const unrelated: string[] = [];
  for (let i = 0; i < o.unrelatedNamespaces; i++) unrelated.push(await createNamespace("memory-unrelated"));
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, main);
  let op: OperatorProcess | undefined;
  try {
    await tracker.start();
    op = await OperatorProcess.start({
      namespaces: [main, ...unrelated],
      awsEndpoint: proxy.url,
      args: operatorArgs(o),
      inspect: true,
    });
    await op.waitForLog("workers started", 60_000);
    await sleep(o.memorySettleSeconds * 1000);
    const empty = await measure(op, 3);

    let t = Date.now();
    await createResources(main, resourceNames(n), o.createConcurrency);
    await tracker.waitFor(
      `${n} resources Ready`,
      () => tracker.readyCount() >= n,
      timeoutMs(o),
      () => `${tracker.readyCount()}/${n} Ready`,
    );
    await op.waitForIdle(n, timeoutMs(o));
    const issueMs = Date.now() - t;
    await sleep(o.memorySettleSeconds * 1000);
    const before = await measure(op);

    t = Date.now();
    await createUnrelatedSecrets(
      unrelated,
      o.unrelatedSecrets,
      o.unrelatedSecretBytes,
      o.createConcurrency,
      (done) => process.stderr.write(`  … ${done}/${o.unrelatedSecrets} unrelated Secrets\n`),
    );
    const secretsMs = Date.now() - t;
    await sleep(o.memorySettleSeconds * 1000);
    const after = await measure(op);
    const resourcesGauge = OperatorProcess.sum(await op.metrics(), "aws_assume_role_resources");

    const row = (label: string, m: Measurement) => [
      label,
      mib(m.running.rss),
      mib(m.running.heapUsed),
      mib(m.running.heapTotal),
      mib(m.afterGc.rss),
      mib(m.afterGc.heapUsed),
    ];
    const ratio = (f: (m: Measurement) => number) => fixed(f(after) / f(before), 3);
    report.emit(
      [
        `### memory: ${n} resources, then ${o.unrelatedSecrets} unrelated Secrets`,
        "",
        `One operator (\`${operatorArgs(o).join(" ")}\`, with the Node inspector open on loopback) watching ` +
          `${1 + o.unrelatedNamespaces} namespaces: one with the ${n} resources (issued in ${seconds(issueMs, 0)} s), and ` +
          `${o.unrelatedNamespaces} that receive ${o.unrelatedSecrets} unlabelled Opaque Secrets of ` +
          `${o.unrelatedSecretBytes} bytes each (created in ${seconds(secretsMs, 0)} s). Measured ${o.memorySettleSeconds} s ` +
          "after each phase: RSS from /proc/<pid>/status (VmRSS), heap from the operator's /metrics " +
          '(nodejs_heap_size_used_bytes); "running" is the median of samples one second apart, "after GC" is read ' +
          "right after a full garbage collection requested through the inspector (HeapProfiler.collectGarbage). The " +
          `operator's resource gauge read ${resourcesGauge} at the end.`,
        "",
        table(
          ["phase", "RSS (MiB)", "heap used (MiB)", "heap total (MiB)", "RSS after GC", "heap used after GC"],
          [
            row("no resources", empty),
            row(`${n} resources Ready`, before),
            row(`+ ${o.unrelatedSecrets} unrelated Secrets`, after),
          ],
          ["l", "r", "r", "r", "r", "r"],
        ),
        "",
        `**After / before the unrelated Secrets, after GC: RSS ${ratio((m) => m.afterGc.rss)}, heap used ` +
          `${ratio((m) => m.afterGc.heapUsed)}.** (The running values are not comparable across phases: the full GC ` +
          "of one measurement also shrinks the process for the next.) Growth per resource after GC: live heap " +
          `${fixed((before.afterGc.heapUsed - empty.afterGc.heapUsed) / n / 1024, 1)} KiB, RSS ` +
          `${fixed((before.afterGc.rss - empty.afterGc.rss) / n / 1024, 1)} KiB.`,
      ].join("\n"),
    );
  } finally {
    await op?.stop();
    tracker.stop();
    process.stderr.write("memory: deleting namespaces (waits until they are gone)\n");
    const cleanup = await deleteNamespaces([main, ...unrelated], timeoutMs(o));
    if (!cleanup.gone)
      process.stderr.write(`memory: namespaces still terminating after ${seconds(cleanup.ms, 0)} s\n`);
  }
}
