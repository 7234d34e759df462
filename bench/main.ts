// The operator's benchmarks: `npm run bench -- [--scenario burst,restart,...] [--n 1000] ...` (see --help).
// Each scenario prints its section and appends it to docs/benchmarks.md; charts go to docs/bench/*.svg.
// Scenarios run one after another against the test world, each in its own namespaces (deleted afterwards), each
// with bounded waits; they report numbers and assert nothing.
import { startAwsProxy } from "../testenv/aws-proxy/proxy.ts";
import { resolve } from "node:path";
import { ROOT, world } from "../test/support/world.ts";
import { ensureCrd } from "../test/support/operator.ts";
import { deleteNamespaces, firstLine, liveNamespaces, liveNodes } from "./cluster.ts";
import type { BenchContext } from "./context.ts";
import { children, keepLogsIn } from "./operator-process.ts";
import { parseOptions } from "./options.ts";
import type { Scenario } from "./options.ts";
import { Report } from "./report.ts";
import { burst } from "./scenarios/burst.ts";
import { events } from "./scenarios/events.ts";
import { fanOut } from "./scenarios/fan-out.ts";
import { idle } from "./scenarios/idle.ts";
import { imports } from "./scenarios/imports.ts";
import { memory } from "./scenarios/memory.ts";
import { podIdentity } from "./scenarios/pod-identity.ts";
import { restart } from "./scenarios/restart.ts";
import { gcCost, scale } from "./scenarios/scale.ts";
import { serviceAccounts } from "./scenarios/service-accounts.ts";
import { spread } from "./scenarios/spread.ts";
import { stsLatency } from "./scenarios/sts-latency.ts";

const SCENARIO_RUNNERS: Record<Scenario, (ctx: BenchContext) => Promise<void>> = {
  burst,
  "sts-latency": stsLatency,
  restart,
  idle,
  spread,
  memory,
  "fan-out": fanOut,
  scale,
  "gc-cost": gcCost,
  "service-accounts": serviceAccounts,
  "pod-identity": podIdentity,
  events,
  imports,
};

/** Kills the children this run started (one by one, by pid) and deletes its Node objects and namespaces. */
async function cleanUp(): Promise<void> {
  for (const child of children) child.kill("SIGKILL");
  const w = await world();
  for (const name of liveNodes) await w.core.deleteNode({ name }).catch(() => undefined);
  if (liveNamespaces.size) await deleteNamespaces([...liveNamespaces], 10_000).catch(() => undefined);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message} (see --help)\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(parsed.text);
    return 0;
  }
  const options = parsed.options;
  if (options.keepLogs) keepLogsIn(resolve(ROOT, options.keepLogs));
  let interrupted = false;
  process.on("SIGINT", () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write("\ninterrupted: stopping the operator and deleting the benchmark's namespaces\n");
    void cleanUp().finally(() => process.exit(130));
  });

  const w = await world();
  await ensureCrd();
  const proxy = await startAwsProxy({ upstream: w.motoUrl, maxRecords: 1_000_000 });
  const report = new Report(options);
  const ctx: BenchContext = { options, report, world: w, proxy };
  report.emit(await report.header(argv));
  let failures = 0;
  try {
    for (const scenario of options.scenarios) {
      const started = Date.now();
      process.stderr.write(`\n== ${scenario} ==\n`);
      try {
        await SCENARIO_RUNNERS[scenario](ctx);
      } catch (err) {
        failures++;
        process.stderr.write(`${scenario} failed: ${(err as Error).stack ?? String(err)}\n`);
        report.emit(`### ${scenario}: failed\n\n${firstLine(err)}`);
        await cleanUp();
      } finally {
        proxy.setLifetime({});
        process.stderr.write(`${scenario} took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      }
    }
  } finally {
    await proxy.close();
  }
  return failures ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanUp();
    process.exit(1);
  },
);
