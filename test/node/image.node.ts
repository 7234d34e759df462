// The container image built from the repository's Dockerfile (scripts/image build): run with podman as a user
// would run it, it starts as uid 65532 on a read-only root file system, serves /healthz, /readyz and /metrics, and
// stops by itself on SIGTERM as PID 1 (exit code 0, not killed after the grace period). What the image holds (no
// shell, labels, SBOM) is checked without a node by test/release.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePorts } from "../support/operator.ts";
import { NO_NODE, nodeWorld, operatorImage } from "../support/node.ts";
import { eventually, freshNamespace } from "../support/world.ts";

const run = promisify(execFile);
const PODMAN = ["--runtime", "runc", "--cgroup-manager=cgroupfs"];
const podman = async (...args: string[]): Promise<string> =>
  (await run("podman", [...PODMAN, ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;

test("the image runs as uid 65532 on a read-only root file system, serves its probes and metrics, and stops cleanly on SIGTERM as PID 1", async (t) => {
  const w = await nodeWorld();
  if (!w) return t.skip(NO_NODE);
  const ref = await operatorImage();
  const ns = await freshNamespace(t);
  const [metricsPort, healthPort] = await freePorts(2);
  const name = `aar-image-test-${randomBytes(3).toString("hex")}`;
  t.after(() => podman("rm", "--force", "--ignore", name).catch(() => undefined));
  // The container's user (65532) reads a copy of the world's admin kubeconfig (the original is root's, mode 600).
  const dir = mkdtempSync(join(tmpdir(), "aar-image-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "kubeconfig");
  copyFileSync(w.env.KUBECONFIG!, kubeconfig);
  chmodSync(kubeconfig, 0o644);
  // Host network, listening on loopback only; the test world's kubeconfig (API server on the node's address).
  await podman(
    "run",
    "--detach",
    "--name",
    name,
    "--read-only",
    "--network=host",
    // Root here lacks CAP_SYS_RESOURCE: podman's default rlimits could not be set (docs/test-world.md).
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
    "--volume",
    `${kubeconfig}:/kubeconfig:ro`,
    "--env",
    "KUBECONFIG=/kubeconfig",
    "--env",
    `AWS_ENDPOINT_URL=${w.env.AWS_ENDPOINT_URL}`,
    "--env",
    `AWS_REGION=${w.env.AWS_REGION}`,
    "--env",
    `AWS_ACCESS_KEY_ID=${w.env.AWS_ACCESS_KEY_ID}`,
    "--env",
    `AWS_SECRET_ACCESS_KEY=${w.env.AWS_SECRET_ACCESS_KEY}`,
    ref,
    // Flags only, as the chart passes them: the image's entrypoint is the operator.
    `--namespaces=${ns}`,
    `--metrics-bind-address=127.0.0.1:${metricsPort}`,
    `--health-probe-bind-address=127.0.0.1:${healthPort}`,
  );
  const health = `http://127.0.0.1:${healthPort}`;
  await eventually(
    "/readyz answering 200",
    async () => ((await fetch(`${health}/readyz`)).ok ? true : undefined),
    60_000,
    250,
  ).catch(async (err: unknown) => {
    throw new Error(`${String(err)}\n${await podman("logs", name)}`);
  });
  assert.equal((await fetch(`${health}/healthz`)).status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /^aws_assume_role_/m, "the operator's metrics are served");

  // The image has no shell and no coreutils: node is the only program to exec.
  const readFile = (path: string) =>
    podman(
      "exec",
      name,
      "node",
      "-e",
      `process.stdout.write(require("fs").readFileSync(${JSON.stringify(path)}))`,
    );
  const status = await readFile("/proc/1/status");
  assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m, "PID 1 runs as uid 65532");
  const cmdline = (await readFile("/proc/1/cmdline")).split("\0");
  assert.deepEqual(
    cmdline.slice(0, 2),
    ["node", "dist/main.js"],
    "node is PID 1 (no shell or init in between)",
  );
  await assert.rejects(
    podman("exec", name, "node", "-e", `require("fs").writeFileSync("/app/written", "")`),
    /EROFS/,
    "the root file system is read-only",
  );
  await assert.rejects(podman("exec", name, "/bin/sh", "-c", "true"), /\/bin\/sh/, "the image has no shell");

  // podman stop sends SIGTERM, then SIGKILL after the timeout: exit code 0 means the process stopped by itself.
  await podman("stop", "--time", "30", name);
  assert.equal((await podman("inspect", "--format", "{{.State.ExitCode}}", name)).trim(), "0");
  const logs = await podman("logs", name);
  assert.match(logs, /"msg":"shutting down"/);
  assert.match(logs, /"msg":"stopped"/);
});
