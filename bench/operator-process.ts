// Runs the real operator (src/main.ts under Node 24, info logs) as a child process for the benchmark, with its
// metrics endpoint on a free port, and reads what a benchmark needs from outside: log milestones, Prometheus
// samples, RSS and CPU time from /proc. Nothing in the operator is special-cased.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, awsEnv, world } from "../test/support/world.ts";
import { freePorts } from "../test/support/operator.ts";

export const NODE = join(ROOT, "node_modules", ".bin", "node");
const MAIN = join(ROOT, "src", "main.ts");

let logDir: string | undefined;

/** Also write every operator's output to `<dir>/operator-<first namespace>-<pid>.log` (--keep-logs). */
export function keepLogsIn(dir: string): void {
  mkdirSync(dir, { recursive: true });
  logDir = dir;
}

/** Every child the benchmark started, so that an interrupted run kills them (by pid, one by one). */
export const children = new Set<ChildProcess>();

export interface OperatorProcessOptions {
  namespaces: string[];
  awsEndpoint: string;
  /** A kubeconfig other than the world's (the apiserver tap's). */
  kubeconfigPath?: string;
  args?: string[];
  /** Open the Node inspector on a free loopback port, so the benchmark can ask for a full GC before measuring. */
  inspect?: boolean;
  /** Run this entry point instead of src/main.ts, e.g. the built dist/main.js as the image runs it. */
  main?: string;
  /** Start the process inside this cgroup v1 directory (e.g. /sys/fs/cgroup/memory/<name>), before node starts. */
  cgroup?: string;
  /** Extra environment, e.g. NODE_OPTIONS. */
  env?: Record<string, string>;
  /** Node flags before the entry point, for those NODE_OPTIONS refuses (e.g. --no-opt). */
  nodeArgs?: string[];
}

export class OperatorProcess {
  readonly child: ChildProcess;
  readonly metricsUrl: string;
  readonly startedAt: number;
  readonly exited: Promise<number | null>;
  /** First time (ms) each log message was seen. */
  private readonly firstSeen = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  private tail: string[] = [];
  private partial = "";
  private inspectorUrl: string | undefined;

  private constructor(child: ChildProcess, metricsUrl: string) {
    this.child = child;
    this.metricsUrl = metricsUrl;
    this.startedAt = Date.now();
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    child.stdout!.on("data", (chunk: Buffer) => this.consume(chunk.toString("utf8")));
    child.stderr!.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      this.inspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(text)?.[1];
      this.keep(text);
    });
    children.add(child);
    void this.exited.then(() => children.delete(child));
  }

  static async start(o: OperatorProcessOptions): Promise<OperatorProcess> {
    const w = await world();
    const [metricsPort] = await freePorts(1);
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      KUBECONFIG: o.kubeconfigPath ?? w.env.KUBECONFIG!,
      ...(await awsEnv(o.awsEndpoint)),
      ...o.env,
    };
    const args = [
      ...(o.inspect ? ["--inspect=127.0.0.1:0"] : []),
      ...(o.nodeArgs ?? []),
      o.main ?? MAIN,
      "--namespaces",
      o.namespaces.join(","),
      "--metrics-bind-address",
      `127.0.0.1:${metricsPort}`,
      "--health-probe-bind-address",
      "0",
      "--log-level",
      "info",
      ...(o.args ?? []),
    ];
    // In a cgroup: a shell joins it and then execs node, so node's first allocation is already counted (same pid).
    const child = o.cgroup
      ? spawn("sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', o.cgroup, NODE, ...args], {
          env,
          stdio: ["ignore", "pipe", "pipe"],
        })
      : spawn(NODE, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    if (logDir) {
      const file = createWriteStream(join(logDir, `operator-${o.namespaces[0]}-${child.pid}.log`));
      child.stdout.pipe(file);
      child.stderr.pipe(file);
    }
    return new OperatorProcess(child, `http://127.0.0.1:${metricsPort}/metrics`);
  }

  get pid(): number {
    return this.child.pid!;
  }

  private keep(text: string): void {
    this.tail.push(...text.split("\n").filter(Boolean));
    if (this.tail.length > 50) this.tail = this.tail.slice(-50);
  }

  private consume(text: string): void {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line) continue;
      this.keep(line);
      try {
        const msg = (JSON.parse(line) as { msg?: string }).msg;
        if (msg === undefined) continue;
        if (!this.firstSeen.has(msg)) this.firstSeen.set(msg, Date.now());
        this.counts.set(msg, (this.counts.get(msg) ?? 0) + 1);
      } catch {
        // not a log line
      }
    }
  }

  /** The last lines it printed, for error messages. */
  lastLines(): string {
    return this.tail.slice(-15).join("\n");
  }

  logCount(msg: string): number {
    return this.counts.get(msg) ?? 0;
  }

  /** Resolves with the time (ms) the message was first logged; rejects on timeout or exit. */
  async waitForLog(msg: string, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = this.firstSeen.get(msg);
      if (seen !== undefined) return seen;
      if (this.child.exitCode !== null) {
        throw new Error(`operator exited (${this.child.exitCode}) before "${msg}":\n${this.lastLines()}`);
      }
      if (Date.now() > deadline) throw new Error(`operator did not log "${msg}" within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Prometheus samples: "name{labels}" → value. */
  async metrics(): Promise<Map<string, number>> {
    const res = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const space = line.lastIndexOf(" ");
      out.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
    return out;
  }

  /** Sum of every sample of a metric (all label sets). */
  static sum(samples: Map<string, number>, name: string): number {
    let total = 0;
    for (const [key, value] of samples) if (key === name || key.startsWith(`${name}{`)) total += value;
    return total;
  }

  /** Resident set size in bytes (VmRSS from /proc). */
  rssBytes(): number {
    return this.statusBytes("VmRSS");
  }

  /** Peak resident set size in bytes since start or since resetPeakRss() (VmHWM from /proc). */
  peakRssBytes(): number {
    return this.statusBytes("VmHWM");
  }

  /** Starts a new peak: VmHWM becomes the current RSS (root only: /proc/<pid>/clear_refs). */
  resetPeakRss(): void {
    writeFileSync(`/proc/${this.pid}/clear_refs`, "5");
  }

  private statusBytes(field: string): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(
      readFileSync(`/proc/${this.pid}/status`, "utf8"),
    );
    return m ? Number(m[1]) * 1024 : NaN;
  }

  /** User + system CPU seconds so far (from /proc/<pid>/stat; clock ticks of 1/100 s). */
  cpuSeconds(): number {
    return cpuSecondsOf(this.pid);
  }

  /**
   * Waits until the operator has nothing to do: work queue empty and no reconcile finished for `quietMs`, after
   * at least `minReconciles` reconciles in total. Returns the time the last reconcile finished (as polled).
   */
  async waitForIdle(minReconciles: number, timeoutMs: number, quietMs = 1000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let lastCount = -1;
    let lastChange = Date.now();
    for (;;) {
      const samples = await this.metrics();
      const depth = OperatorProcess.sum(samples, "workqueue_depth");
      const count = OperatorProcess.sum(samples, "aws_assume_role_reconcile_duration_seconds_count");
      const now = Date.now();
      if (count !== lastCount) {
        lastCount = count;
        lastChange = now;
      }
      if (depth === 0 && count >= minReconciles && now - lastChange >= quietMs) return lastChange;
      if (now > deadline) {
        throw new Error(
          `operator not idle within ${timeoutMs} ms (queue depth ${depth}, ${count}/${minReconciles} reconciles)`,
        );
      }
      await sleep(100);
    }
  }

  /** A full garbage collection through the inspector (needs `inspect: true`), so the heap holds only live objects. */
  async collectGarbage(timeoutMs = 30_000): Promise<void> {
    const url = this.inspectorUrl;
    if (!url) throw new Error("the operator was started without the inspector");
    const ws = new WebSocket(url);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error("inspector: no answer to HeapProfiler.collectGarbage")),
          timeoutMs,
        );
        ws.addEventListener("open", () =>
          ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.collectGarbage" })),
        );
        ws.addEventListener("message", (event) => {
          const reply = JSON.parse(String(event.data)) as { id?: number; error?: { message: string } };
          if (reply.id !== 1) return;
          clearTimeout(timer);
          if (reply.error) reject(new Error(`inspector: ${reply.error.message}`));
          else resolve();
        });
        ws.addEventListener("error", () => {
          clearTimeout(timer);
          reject(new Error(`inspector: cannot connect to ${url}`));
        });
      });
    } finally {
      ws.close();
    }
  }

  /** SIGTERM and wait for exit (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
