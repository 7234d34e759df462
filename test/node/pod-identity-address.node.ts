// Pod Identity's link-local address in the test world (docs/test-world.md, "Network"): `up --node` puts
// 169.254.170.23/32 on an interface of its own (aarpid0) and starts only when the kernel routes that address `local`,
// so traffic to it never leaves the machine. A Pod on the bridge reaches a host-network listener there, as Pods reach
// the node agent, and gains no other route. The address is the only link-local one anything here sends to.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  consumerImage,
  hasNode,
  NO_NODE,
  nodeWorld,
  podJsonLog,
  restrictedPod,
  runPod,
} from "../support/node.ts";
import { eventually, freshNamespace, ROOT } from "../support/world.ts";

const run = promisify(execFile);
/** The address docs/pod-identity.md gives the node agent. */
const ADDRESS = "169.254.170.23";
const AGENT_PORT = 80;

/** Runs a function of testenv/node.sh (sourced as scripts/testenv does) and resolves with its exit code. */
async function nodeShell(call: string): Promise<number> {
  const script = `source ${JSON.stringify(join(ROOT, "testenv", "node.sh"))}; ${call}`;
  try {
    await run("bash", ["-c", script]);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

/**
 * What the Pod runs: its IPv4 routes (from /proc/net/route, as `destination/prefix`) and one GET to the address,
 * printed as JSON lines; then it stays up so the test reads its log while it runs.
 */
const POD_SCRIPT = `
const fs = require("node:fs");
const ip = (hex) => hex.match(/../g).reverse().map((b) => parseInt(b, 16)).join(".");
const bits = (hex) => parseInt(hex, 16).toString(2).replace(/0/g, "").length;
const routes = fs.readFileSync("/proc/net/route", "utf8").trim().split("\\n").slice(1)
  .map((line) => line.trim().split(/\\s+/)).map((f) => ip(f[1]) + "/" + bits(f[7]));
console.log(JSON.stringify({ routes }));
fetch("http://${ADDRESS}/probe", { signal: AbortSignal.timeout(10000) })
  .then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))
  .catch((e) => console.log(JSON.stringify({ error: String(e && (e.cause || e)) })));
setInterval(() => undefined, 3600000);
`;

describe("Pod Identity's link-local address in the test world", { skip: hasNode() ? false : NO_NODE }, () => {
  test("the world's own interface holds it and the kernel routes it local", async () => {
    const w = (await nodeWorld())!;
    assert.equal(w.env.TESTENV_POD_IDENTITY_ADDRESS, ADDRESS);
    const { stdout: route } = await run("ip", ["route", "get", ADDRESS]);
    assert.match(route, /^local 169\.254\.170\.23 /, route);
    const { stdout: table } = await run("ip", ["route", "show", "table", "local", ADDRESS]);
    assert.match(table, /^local 169\.254\.170\.23 /m, table);
    const { stdout: holders } = await run("ip", ["-o", "addr", "show", "to", `${ADDRESS}/32`]);
    assert.deepEqual(
      holders
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/)[1]),
      ["aarpid0"],
    );
  });

  test("the world's check answers local for it and not for an address this machine does not hold", async () => {
    assert.equal(await nodeShell(`address_is_local ${ADDRESS}`), 0);
    // A documentation address (RFC 5737): a route lookup only, nothing is sent to it.
    assert.equal(await nodeShell("address_is_local 198.51.100.7"), 1);
  });

  test("a Pod on the bridge reaches a host-network listener on it, and has routes to the world's addresses only", async (t) => {
    const w = (await nodeWorld())!;
    const nonce = randomBytes(8).toString("hex");
    const seen: { from: string | undefined; host: string | undefined }[] = [];
    const server = createServer((req, res) => {
      seen.push({ from: req.socket.remoteAddress, host: req.headers.host });
      res.end(nonce);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) =>
        reject(
          new Error(`cannot listen on ${ADDRESS}:${AGENT_PORT} (a node agent running?): ${err.message}`),
        ),
      );
      server.listen(AGENT_PORT, ADDRESS, resolve);
    });
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    assert.equal((server.address() as AddressInfo).address, ADDRESS);

    const [namespace, image] = await Promise.all([freshNamespace(t), consumerImage("js")]);
    const pod = await runPod(
      namespace,
      restrictedPod("reaches-pod-identity-address", {
        name: "client",
        image,
        command: ["node", "-e", POD_SCRIPT],
      }),
    );
    const lines = await eventually(
      "the Pod's fetch result in its log",
      async () => {
        const log = await podJsonLog(namespace, pod.metadata!.name!);
        return log.some((l) => "status" in l || "error" in l) ? log : undefined;
      },
      30_000,
      250,
    );
    const fetched = lines.find((l) => "status" in l || "error" in l)!;
    assert.deepEqual(fetched, { status: 200, body: nonce });
    assert.deepEqual(seen, [{ from: pod.status!.podIP, host: ADDRESS }]);

    // The Pod's own subnet, the node, the Service range and the Pod Identity address: no default route.
    const { routes } = lines.find((l) => "routes" in l) as { routes: string[] };
    assert.deepEqual(
      [...routes].sort(),
      ["10.0.0.0/24", "10.213.0.1/32", "10.213.1.0/24", `${ADDRESS}/32`].sort(),
      `routes: ${routes.join(", ")}; node ${w.nodeIp}`,
    );
  });
});
