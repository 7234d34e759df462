// The benchmark report: markdown sections printed to the terminal as they complete and appended to
// docs/benchmarks.md, with the environment (machine, versions, exact command) of the run.
import { execFile } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { ROOT, world } from "../test/support/world.ts";
import { apiserverVersion } from "./apiserver.ts";
import type { BenchOptions } from "./options.ts";

const run = promisify(execFile);

export function table(headers: string[], rows: (string | number)[][], align?: ("l" | "r")[]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (align?.[i] === "r" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (align?.[i] === "r" ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(headers), rule, ...cells.slice(1).map(line)].join("\n");
}

/** Request counts as a table, or a sentence when there are none. */
export function countsTable(counts: Map<string, number>, empty: string): string {
  if (counts.size === 0) return empty;
  return table(
    ["verb", "resource", "requests"],
    [...counts].map(([key, n]) => {
      const [verb, ...rest] = key.split(" ");
      return [verb!, rest.join(" "), n];
    }),
    ["l", "l", "r"],
  );
}

const INTRO = `# Benchmarks

Measured with \`npm run bench\` (\`bench/main.ts\`) against the test world (\`scripts/testenv\`: etcd, kube-apiserver
and kube-controller-manager on loopback, moto behind the project's AWS proxy). The benchmark starts its own AWS proxy
in front of the world's moto and runs the real operator (\`src/main.ts\`, Node 24, info logs) as a child process,
scoped to the benchmark's namespaces. Benchmarks report; they assert nothing. Runs are appended below, newest last.

| scenario | what it measures |
| -------- | ---------------- |
| burst    | N resources created at once → all Ready: throughput and create→Ready latency, against the bare-loop limit (the same AWS and Kubernetes calls per resource with the same clients and concurrency, no engine), rounds interleaved |
| restart  | SIGTERM and start again with N fresh Secrets: time until idle, STS calls and Secret writes during the restart |
| idle     | N resources, none due, for a fixed window: Kubernetes API requests by verb and resource |
| spread   | N resources created at once with shortened credential lifetimes: when they refresh, and the busiest second of STS calls against the configured rate limit |
| memory   | operator RSS and V8 heap with many resources, then again after adding many unrelated Secrets |

Request counts come from two places: the apiserver's \`apiserver_request_total\` (every client together, including
kube-controller-manager's background work and anything else running at the time; a watch is counted when it ends)
and a counting pass-through (\`bench/apiserver-tap.ts\`) that the operator's kubeconfig points at in restart and idle,
which sees exactly the operator's own requests (a watch is counted when it starts).
`;

export class Report {
  private readonly options: BenchOptions;
  private readonly docsPath: string;
  readonly chartsDir: string;
  readonly runId: string;

  constructor(options: BenchOptions) {
    this.options = options;
    this.docsPath = resolve(ROOT, options.docs);
    this.chartsDir = resolve(ROOT, options.chartsDir);
    this.runId = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
  }

  /** Prints a section and appends it to the docs file. */
  emit(markdown: string): void {
    process.stdout.write(`\n${markdown.trimEnd()}\n`);
    if (!this.options.write) return;
    mkdirSync(dirname(this.docsPath), { recursive: true });
    if (!existsSync(this.docsPath) || readFileSync(this.docsPath, "utf8").trim() === "") {
      writeFileSync(this.docsPath, INTRO);
    }
    appendFileSync(this.docsPath, `\n${markdown.trimEnd()}\n`);
  }

  /** Writes an SVG chart; returns the markdown that embeds it (or a note when not writing). */
  chart(name: string, svg: string, alt: string): string {
    if (!this.options.write) return `_(chart ${name} not written: --no-docs)_`;
    mkdirSync(this.chartsDir, { recursive: true });
    const file = join(this.chartsDir, `${this.runId}-${name}.svg`);
    writeFileSync(file, svg);
    return `![${alt}](${relative(dirname(this.docsPath), file)})`;
  }

  /** The run's heading: date, machine, versions, exact command, and whether sizes were reduced. */
  async header(argv: string[]): Promise<string> {
    const w = await world();
    const [apiserver, moto, etcd, git] = await Promise.all([
      apiserverVersion(w.kubeConfig),
      // The world's own checkout holds moto's venv (AAR_TESTENV_DIR: another checkout's .testenv).
      run(
        join(
          process.env.AAR_TESTENV_DIR ? dirname(process.env.AAR_TESTENV_DIR) : ROOT,
          "testenv",
          ".venv",
          "bin",
          "python",
        ),
        ["-c", "import moto; print(moto.__version__)"],
      ).then(
        (r) => r.stdout.trim(),
        () => "unknown",
      ),
      fetch(`${w.env.TESTENV_ETCD_URL}/version`)
        .then((r) => r.json() as Promise<{ etcdserver?: string }>)
        .then((v) => v.etcdserver ?? "unknown")
        .catch(() => "unknown"),
      run("git", ["-C", ROOT, "describe", "--always", "--dirty"]).then(
        (r) => r.stdout.trim(),
        () => "unknown",
      ),
    ]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const cpu = cpus();
    const reduced = this.options.reduced.length
      ? ` — reduced run (${this.options.reduced.join(", ")}; defaults: \`npm run bench\`)`
      : "";
    const note = this.options.note ? ` — ${this.options.note}` : "";
    const command = ["npm run bench", ...(argv.length ? ["--", ...argv] : [])].join(" ");
    return [
      `## Run ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}${reduced}${note}`,
      "",
      `- Command: \`${command}\``,
      `- Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? "unknown CPU"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}`,
      `- Versions: operator ${pkg.version} (${git}), Node ${process.version}, kube-apiserver ${apiserver}, etcd ${etcd}, moto ${moto}`,
      `- Operator: --max-concurrent-reconciles ${this.options.maxConcurrentReconciles}; --sts-rate ${this.options.stsRate} --sts-burst ${this.options.stsBurst} ` +
        `except in spread (--sts-rate ${this.options.spreadStsRate} --sts-burst ${this.options.spreadStsBurst}); objects created by a pool of ${this.options.createConcurrency} concurrent requests`,
    ].join("\n");
  }
}
