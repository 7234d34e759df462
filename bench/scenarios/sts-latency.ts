// sts-latency: a burst of N resources against the operator with its default flags (default --sts-rate/--sts-burst
// and worker pool) while the AWS proxy delays every AssumeRole by --sts-latency-ms: whether the client-side STS
// limit or the latency, rather than the API server, sets the pace.
import { FLAGS } from "../../src/config.ts";
import type { BenchContext } from "../context.ts";
import { table } from "../report.ts";
import { fixed, peakInWindow, seconds, summarize } from "../stats.ts";
import { operatorRound } from "./burst.ts";

const DEFAULT = (flag: string) => FLAGS.find((f) => f.flag === flag)?.default ?? "?";

export async function stsLatency(ctx: BenchContext): Promise<void> {
  const { options: o, proxy, report } = ctx;
  const since = proxy.records().at(-1)?.seq ?? 0;
  proxy.setFaults([{ service: "sts", action: "AssumeRole", kind: "latency", latencyMs: o.stsLatencyMs }]);
  let round;
  try {
    round = await operatorRound(ctx, []);
  } finally {
    proxy.setFaults([]);
  }
  const assumeRoles = proxy.records({ action: "AssumeRole", sinceSeq: since });
  const peak = peakInWindow(assumeRoles.map((r) => Date.parse(r.time)));
  const s = summarize(round.latencies);
  report.emit(
    [
      `### sts-latency: ${o.n} resources at once, default flags, ${o.stsLatencyMs} ms added to every AssumeRole`,
      "",
      `The operator with no flags but the namespace, metrics and log level (so --sts-rate ${DEFAULT("sts-rate")}, ` +
        `--sts-burst ${DEFAULT("sts-burst")}, --max-concurrent-reconciles ${DEFAULT("max-concurrent-reconciles")}); the benchmark's AWS proxy ` +
        `holds every AssumeRole ${o.stsLatencyMs} ms before forwarding it (its latency fault). Same measurement as burst.`,
      "",
      table(
        [
          "N",
          "all Ready (s)",
          "Ready/s",
          "p50 (s)",
          "p95 (s)",
          "p99 (s)",
          "CPU (s)",
          "AssumeRole",
          "peak AssumeRole in 1 s",
        ],
        [
          [
            round.n,
            seconds(round.totalMs),
            fixed((round.n / round.totalMs) * 1000),
            seconds(s.p50),
            seconds(s.p95),
            seconds(s.p99),
            fixed(round.cpuSeconds),
            round.assumeRoles,
            peak.peak,
          ],
        ],
        ["r", "r", "r", "r", "r", "r", "r", "r", "r"],
      ),
    ].join("\n"),
  );
}
