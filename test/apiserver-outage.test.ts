// The API server becoming unreachable, without disturbing the shared test world: the operator talks to
// kube-apiserver through a TCP forwarder that the test cuts (every connection dropped, new ones refused) and
// restores. The operator must stay up (with metrics and health endpoints disabled nothing else keeps Node's event
// loop alive), retry its watches with a growing backoff, and pick up what changed once the API server is back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, freshNamespace, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";
import { createResource, secretData, startOperator, waitForReady } from "./support/operator.ts";

/** A TCP forwarder to kube-apiserver that can be cut and restored; its kubeconfig points at it. */
async function cuttableApiServer(t: TestContext) {
  const w = await world();
  const target = new URL(w.env.TESTENV_APISERVER_URL!);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("error", () => undefined);
          s.on("close", () => {
            sockets.delete(s);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();
  const dir = mkdtempSync(join(tmpdir(), "aar-outage-"));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    readFileSync(w.env.KUBECONFIG!, "utf8").replace(target.origin, `https://127.0.0.1:${port}`),
  );
  const cut = async () => {
    const closed = new Promise((resolve) => server!.close(resolve));
    for (const s of sockets) s.destroy();
    await closed;
  };
  t.after(cut);
  return { kubeconfig, cut, restore: listen };
}

test("an unreachable API server: the operator stays up, backs off its watch restarts, and catches up once it is back", async (t) => {
  const ns = await freshNamespace(t);
  const api = await cuttableApiServer(t);
  const op = await startOperator(t, { namespaces: [ns], env: { KUBECONFIG: api.kubeconfig } });
  await createResource(ns, "app", { roleName: "my-role", secretName: "app-aws", secretType: "Map" });
  await waitForReady(ns, "app");

  await api.cut();
  const restarts = () => op.logs().filter((l) => l.msg === "watch failed; restarting");
  // Each informer backs off on its own: four restarts of one are 0.5 + 1 + 2 + 4 s of backoff.
  const delaysOf = () => {
    const byInformer = new Map<string, number[]>();
    for (const l of restarts()) {
      const name = String(l.informer);
      byInformer.set(name, [...(byInformer.get(name) ?? []), Number(l.retryInMs)]);
    }
    return byInformer;
  };
  await eventually(
    "every informer to retry four times (or the operator to exit)",
    () =>
      (delaysOf().size > 0 && [...delaysOf().values()].every((d) => d.length >= 4)) ||
      op.child.exitCode !== null
        ? true
        : undefined,
    30_000,
  );
  assert.equal(op.child.exitCode, null, `the operator is still running (exit code ${op.child.exitCode})`);
  for (const [informer, delays] of delaysOf()) {
    assert.deepEqual(
      delays.slice(0, 4),
      [500, 1000, 2000, 4000],
      `${informer}: the restart backoff grows while the API server is unreachable (${delays.join(", ")})`,
    );
  }

  // While it was away someone deleted the Secret; once back, the relisted caches show it and it is restored.
  const w = await world();
  await w.core.deleteNamespacedSecret({ namespace: ns, name: "app-aws" });
  await api.restore();
  await eventually(
    "the Secret to be restored",
    async () => ((await secretData(ns, "app-aws")) ? true : undefined),
    60_000,
  );
  assert.equal(op.child.exitCode, null, "the operator is still running");
});
