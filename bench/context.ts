// What every scenario gets: the options, the report, the test world and the benchmark's private AWS proxy.
import type { AwsProxy } from "../testenv/aws-proxy/proxy.ts";
import type { World } from "../test/support/world.ts";
import type { BenchOptions } from "./options.ts";
import type { Report } from "./report.ts";

export interface BenchContext {
  options: BenchOptions;
  report: Report;
  world: World;
  proxy: AwsProxy;
}

/** The proxy's latest record sequence number (records after it are new). */
export function proxySeq(proxy: AwsProxy): number {
  return proxy.records().at(-1)?.seq ?? 0;
}

/** Operator flags shared by the scenarios that keep the STS limiter out of the way. */
export function operatorArgs(o: BenchOptions, stsRate = o.stsRate, stsBurst = o.stsBurst): string[] {
  return [
    "--max-concurrent-reconciles",
    String(o.maxConcurrentReconciles),
    "--sts-rate",
    String(stsRate),
    "--sts-burst",
    String(stsBurst),
  ];
}

export const timeoutMs = (o: BenchOptions) => o.timeoutSeconds * 1000;
