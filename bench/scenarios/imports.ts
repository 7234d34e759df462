// imports: what each top-level import of the operator costs in RSS. For every entry a fresh Node process (the same
// Node, `--expose-gc`) imports only that module from the built dist/ (as the image runs it), collects garbage and
// reports its RSS and V8 heap; the difference to a process that imports nothing is the module's cost. Needs no test
// world.
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "../../test/support/world.ts";
import type { BenchOptions } from "../options.ts";
import type { Report } from "../report.ts";
import { table } from "../report.ts";
import { fixed, median, mib } from "../stats.ts";

/** One measured process: the modules it imports (bare specifiers or dist/ paths) and, for main.js, its argv. */
export interface ImportEntry {
  label: string;
  specifiers: string[];
  argv?: string[];
}

const dist = (path: string) => pathToFileURL(join(ROOT, "dist", path)).href;

export const IMPORT_ENTRIES: ImportEntry[] = [
  { label: "nothing (baseline)", specifiers: [] },
  { label: "node:http + node:https (built-ins the transport uses)", specifiers: ["node:http", "node:https"] },
  { label: "@aws-sdk/client-sts", specifiers: ["@aws-sdk/client-sts"] },
  { label: "@aws-sdk/client-ecr", specifiers: ["@aws-sdk/client-ecr"] },
  { label: "@aws-sdk/client-sts + client-ecr", specifiers: ["@aws-sdk/client-sts", "@aws-sdk/client-ecr"] },
  { label: "pino", specifiers: ["pino"] },
  { label: "prom-client", specifiers: ["prom-client"] },
  { label: "yaml", specifiers: ["yaml"] },
  { label: "@peculiar/x509 + reflect-metadata", specifiers: ["reflect-metadata", "@peculiar/x509"] },
  { label: "the own transport (dist/kube/client.js)", specifiers: [dist("kube/client.js")] },
  { label: "kubeconfig (dist/kube/kubeconfig.js, yaml)", specifiers: [dist("kube/kubeconfig.js")] },
  { label: "the AWS adapter (dist/aws/aws.js)", specifiers: [dist("aws/aws.js")] },
  { label: "metrics (dist/ops/metrics.js, prom-client)", specifiers: [dist("ops/metrics.js")] },
  { label: "logging (dist/ops/logging.js, pino)", specifiers: [dist("ops/logging.js")] },
  {
    label: "features/pod-identity (feature + server + certificates)",
    specifiers: [
      dist("features/pod-identity/feature.js"),
      dist("features/pod-identity/server.js"),
      dist("features/pod-identity/certificates.js"),
    ],
  },
  { label: "features/service-accounts", specifiers: [dist("features/service-accounts/feature.js")] },
  { label: "features/rollout-restart", specifiers: [dist("features/rollout-restart/feature.js")] },
  {
    label: "cluster fan-out (credentials/cluster-reconciler.js)",
    specifiers: [dist("credentials/cluster-reconciler.js")],
  },
  { label: "the operator (dist/operator.js)", specifiers: [dist("operator.js")] },
  { label: "everything main.js imports (`main.js --help`)", specifiers: [dist("main.js")], argv: ["--help"] },
];

/** The child: imports its modules, collects garbage until the heap settles, prints RSS and heap as JSON. */
const CHILD = `
const { specifiers, argv } = JSON.parse(process.argv[1]);
if (argv) process.argv = [process.argv[0], "main.js", ...argv];
for (const s of specifiers) await import(s);
await new Promise((r) => setTimeout(r, 100));
for (let i = 0; i < 4; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
const m = process.memoryUsage();
process.stdout.write("\\n" + JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed }) + "\\n");
`;

export interface ImportSample {
  rss: number;
  heapUsed: number;
}

/** RSS and heap after GC of a fresh process that imports `entry` (node flags: `nodeFlags`). */
export function sampleImport(entry: ImportEntry, nodeFlags: string[] = []): Promise<ImportSample> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--expose-gc",
        ...nodeFlags,
        "--input-type=module",
        "-e",
        CHILD,
        JSON.stringify({ specifiers: entry.specifiers, argv: entry.argv }),
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !last.startsWith("{")) {
        reject(new Error(`${entry.label}: exit ${code}: ${err.trim().split("\n").slice(-3).join(" ")}`));
        return;
      }
      resolve(JSON.parse(last) as ImportSample);
    });
  });
}

/** The median of `rounds` fresh processes per entry; the rounds are interleaved so a busy moment hits every entry. */
export async function measureImports(
  entries: ImportEntry[],
  rounds: number,
  nodeFlags: string[] = [],
): Promise<Map<string, ImportSample>> {
  const samples = new Map<string, ImportSample[]>(entries.map((e) => [e.label, []]));
  for (let round = 0; round < rounds; round++) {
    for (const entry of entries) samples.get(entry.label)!.push(await sampleImport(entry, nodeFlags));
  }
  return new Map(
    [...samples].map(([label, s]) => [
      label,
      { rss: median(s.map((x) => x.rss)), heapUsed: median(s.map((x) => x.heapUsed)) },
    ]),
  );
}

export async function imports(ctx: { options: BenchOptions; report: Report }): Promise<void> {
  const { options: o, report } = ctx;
  process.stderr.write("imports: building dist/ (npm run build)\n");
  execFileSync("npm", ["run", "-s", "build"], { cwd: ROOT, stdio: "inherit" });
  const measured = await measureImports(IMPORT_ENTRIES, o.importRounds);
  const base = measured.get(IMPORT_ENTRIES[0]!.label)!;
  const delta = (v: number) => `${v >= 0 ? "+" : ""}${fixed(v / 2 ** 20, 1)}`;
  report.emit(
    [
      `### imports: RSS of each top-level import`,
      "",
      `For every row a fresh \`node --expose-gc\` (${process.version}, NODE_OPTIONS empty) imports only that module — ` +
        "bare packages as installed, the operator's own modules from dist/ as built by `npm run build` — waits 100 ms, " +
        "runs four full GCs and reads `process.memoryUsage()`. Each value is the median of " +
        `${o.importRounds} processes (rounds interleaved). "+" is the difference to the process that imports nothing. ` +
        "A module's row includes what it imports itself, so rows overlap and do not add up.",
      "",
      table(
        ["import", "RSS after GC (MiB)", "+RSS (MiB)", "heap used (MiB)", "+heap (MiB)"],
        IMPORT_ENTRIES.map((e) => {
          const m = measured.get(e.label)!;
          return [
            e.label,
            mib(m.rss),
            delta(m.rss - base.rss),
            mib(m.heapUsed),
            delta(m.heapUsed - base.heapUsed),
          ];
        }),
        ["l", "r", "r", "r", "r"],
      ),
    ].join("\n"),
  );
}
