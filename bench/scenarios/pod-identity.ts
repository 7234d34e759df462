// pod-identity: credentials at the node through the agent and the credential authority, against the real API server
// (TokenRequest, TokenReview, Pod get) and the benchmark's AWS proxy, side by side with the Secret it replaces.
// Needs the node world (`scripts/testenv up --node`): the agent listens on the link-local address it puts on an
// interface, and the Secret-reading Pod runs on its node.
//
// The authority's Pods are plain Pod objects bound to a Node object the scenario creates (no kubelet: they never run,
// but their tokens are real bound tokens). The operator (`src/main.ts --pod-identity`) and the compiled agent
// (`dist/agent/main.js`, built first, with the DaemonSet's V8 flags) run as child processes on this machine; the
// benchmark asks the agent as the SDKs do.
import { execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import type { Agent } from "node:http";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { spawn } from "node:child_process";
import type { V1Pod } from "@kubernetes/client-node";
import { FLAGS } from "../../src/flags.ts";
import { AGENT_TOKEN_AUDIENCE, POD_TOKEN_AUDIENCE } from "../../src/domain/pod-identity.ts";
import { SecretKey } from "../../src/features/pod-identity/certificates.ts";
import { consumerImage, restrictedPod } from "../../test/support/node.ts";
import { ROOT, kubectl, world } from "../../test/support/world.ts";
import { AGENT_NODE_FLAGS, BARE_CHILD, SETTLE_MS, rss, spawnChild } from "../agent-rss.ts";
import { apiserverRequests, diffCounts } from "../apiserver.ts";
import { createNamespace, deleteNamespaces, liveNodes, pool, retry, withRetry } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { proxySeq, timeoutMs } from "../context.ts";
import { children, cpuSecondsOf, NODE, OperatorProcess, sleep } from "../operator-process.ts";
import { table } from "../report.ts";
import { summarize } from "../stats.ts";
import {
  READER_KEY,
  READER_MOUNT,
  READER_SCRIPT,
  credentialsFile,
  latencyRow,
  ms,
  parseReaderLog,
  perThousand,
  ratio,
  requestsPerFetch,
} from "./pod-identity-figures.ts";

const run = promisify(execFile);
const SERVICE = "bench-pod-identity";
const AGENT_SA = "agent";
const APP_SA = "app";
const ROLE = "bench-role";
const TLS_SECRET = FLAGS.find((f) => f.flag === "pod-identity-tls-secret")!.default;
/** Token lifetime: longer than the run, so no token expires while it is measured. */
const TOKEN_SECONDS = 7200;

/** A Node object of the scenario's own: no kubelet, nobody else's Pods (unschedulable, tainted, no os label). */
function benchNode(name: string) {
  return {
    metadata: { name, labels: { "aar-bench": "pod-identity" } },
    spec: { unschedulable: true, taints: [{ key: "aar-bench/no-kubelet", effect: "NoSchedule" }] },
  };
}

/** A Pod that never runs, bound to the scenario's Node; tolerating the taints a Node without kubelet gets. */
function parkedPod(name: string, serviceAccount: string, nodeName: string): V1Pod {
  return {
    metadata: { name },
    spec: {
      serviceAccountName: serviceAccount,
      nodeName,
      automountServiceAccountToken: false,
      containers: [{ name: "app", image: "never-pulled" }],
      tolerations: [
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
      ],
    },
  };
}

/** A free TCP port on `host` (the kernel's pick). */
function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Fetched {
  ms: number;
  status: number;
  accessKeyId: string | undefined;
}

/** GET /v1/credentials as an SDK asks: a new connection, `Authorization: <token>`, Host the address. */
function fetchCredentials(host: string, port: number, token: string, agent?: Agent): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path: "/v1/credentials", headers: { authorization: token }, agent: agent ?? false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          const elapsed = performance.now() - started;
          let accessKeyId: string | undefined;
          try {
            accessKeyId = (JSON.parse(text) as { AccessKeyId?: string }).AccessKeyId;
          } catch {
            // not JSON
          }
          resolve({ ms: elapsed, status: res.statusCode ?? 0, accessKeyId });
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error("no answer from the agent within 30 s")));
    req.on("error", reject);
    req.end();
  });
}

/** Fetches once per token, one after another; fails on any answer other than 200 with credentials. */
async function fetchAll(host: string, port: number, tokens: readonly string[]): Promise<number[]> {
  const times: number[] = [];
  for (const token of tokens) {
    const answer = await fetchCredentials(host, port, token);
    if (answer.status !== 200 || !answer.accessKeyId)
      throw new Error(`the agent answered ${answer.status} (fetch ${times.length + 1} of ${tokens.length})`);
    times.push(answer.ms);
  }
  return times;
}

/** The agent (compiled, with the DaemonSet's V8 flags) as a child process; resolves once it logged "started". */
async function startNodeAgent(args: string[]): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(
    NODE,
    [...AGENT_NODE_FLAGS.split(" "), join(ROOT, "dist", "agent", "main.js"), ...args],
    {
      env: { PATH: process.env.PATH ?? "" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.add(child);
  child.once("exit", () => children.delete(child));
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
  const deadline = Date.now() + 30_000;
  while (!/"msg":"started"/.test(output)) {
    if (child.exitCode !== null) throw new Error(`the agent exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`the agent did not start within 30 s:\n${output}`);
    await sleep(50);
  }
  return { child, log: () => output };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function podIdentity(ctx: BenchContext): Promise<void> {
  const { options: o, proxy, report } = ctx;
  const w = await world();
  const linkLocal = w.env.TESTENV_POD_IDENTITY_ADDRESS;
  const realNode = w.env.TESTENV_NODE_NAME;
  if (!linkLocal || !realNode) {
    report.emit(
      "### pod-identity: skipped\n\nThe test world runs without a node: the agent needs the link-local address that " +
        "`scripts/testenv up --node` puts on an interface, and the Secret-reading Pod needs the node.",
    );
    return;
  }
  const n = o.podIdentityPods;
  const loadBefore = loadavg()[0]!;
  const cpuFetches = o.podIdentityCpuFetches;
  process.stderr.write("pod-identity: building dist/ (the agent runs compiled, as the image runs it)\n");
  await run(NODE, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
    cwd: ROOT,
  });
  const image = o.podIdentityImage || (await consumerImage("js"));

  const ns = await createNamespace("pi");
  const nodeName = `${ns}-node`;
  const dir = mkdtempSync(join(tmpdir(), "bench-pi-"));
  const seq = proxySeq(proxy);
  let op: OperatorProcess | undefined;
  let agent: { child: ChildProcess; log: () => string } | undefined;
  let bare: ChildProcess | undefined;
  try {
    liveNodes.add(nodeName);
    await withRetry(`create Node ${nodeName}`, () => w.core.createNode({ body: benchNode(nodeName) }));
    for (const sa of [AGENT_SA, APP_SA])
      await w.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
    await w.custom.createNamespacedCustomObject({
      group: "pincette.net",
      version: "v1",
      plural: "awspodidentityassociations",
      namespace: ns,
      body: {
        apiVersion: "pincette.net/v1",
        kind: "AWSPodIdentityAssociation",
        metadata: { name: "reader" },
        spec: { serviceAccount: APP_SA, roleName: ROLE },
      },
    });

    // Pods: the agent's, one to prime the association's credentials, N for the cold and warm passes.
    process.stderr.write(`pod-identity: creating ${n + 2} Pods bound to ${nodeName} and their tokens\n`);
    const podNames = ["agent-0", "app-prime", ...Array.from({ length: n }, (_, i) => `app-${i}`)];
    const uids = new Map<string, string>();
    await pool(podNames, o.createConcurrency, async (name) => {
      const sa = name === "agent-0" ? AGENT_SA : APP_SA;
      const created = await retry(`create Pod ${ns}/${name}`, () =>
        w.core.createNamespacedPod({ namespace: ns, body: parkedPod(name, sa, nodeName) }),
      );
      uids.set(name, created.metadata!.uid!);
    });
    const tokenFor = (pod: string, sa: string, audience: string) =>
      retry(`TokenRequest for ${pod}`, () =>
        w.core.createNamespacedServiceAccountToken({
          name: sa,
          namespace: ns,
          body: {
            spec: {
              audiences: [audience],
              expirationSeconds: TOKEN_SECONDS,
              boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod, uid: uids.get(pod)! },
            },
          },
        }),
      ).then((r) => r.status!.token!);
    const agentToken = await tokenFor("agent-0", AGENT_SA, AGENT_TOKEN_AUDIENCE);
    const primeToken = await tokenFor("app-prime", APP_SA, POD_TOKEN_AUDIENCE);
    // N tokens of N Pods; then cpuFetches more, fresh tokens of the same Pods (the agent caches by token).
    const podTokens: string[] = new Array<string>(n);
    const cpuTokens: string[] = new Array<string>(cpuFetches);
    const tokenStarted = Date.now();
    await pool(
      Array.from({ length: n + cpuFetches }, (_, i) => i),
      o.createConcurrency,
      async (i) => {
        const token = await tokenFor(`app-${i % n}`, APP_SA, POD_TOKEN_AUDIENCE);
        if (i < n) podTokens[i] = token;
        else cpuTokens[i - n] = token;
      },
    );
    const tokenMs = Date.now() - tokenStarted;
    const agentTokenFile = join(dir, "agent-token");
    writeFileSync(agentTokenFile, agentToken);

    // The operator: the authority and webhook server on loopback; its certificate Secret and CA in `ns`.
    const authorityPort = await freePortOn("127.0.0.1");
    op = await OperatorProcess.start({
      namespaces: [ns],
      awsEndpoint: proxy.url,
      env: { POD_NAMESPACE: ns },
      args: [
        "--pod-identity",
        "--pod-identity-bind-address",
        `127.0.0.1:${authorityPort}`,
        "--pod-identity-agent",
        `${ns}/${AGENT_SA}`,
        "--pod-identity-service",
        SERVICE,
        "--pod-identity-webhook",
        `${ns}-unused`,
      ],
    });
    await op.waitForLog("pod identity server listening", 60_000);
    const secret = await w.core.readNamespacedSecret({ namespace: ns, name: TLS_SECRET });
    const caFile = join(dir, "ca.crt");
    writeFileSync(caFile, Buffer.from(secret.data![SecretKey.ca]!, "base64"));

    // The agent on the link-local address, and a bare node:http server with the same flags beside it.
    const agentPort = await freePortOn(linkLocal);
    agent = await startNodeAgent([
      "--listen",
      `${linkLocal}:${agentPort}`,
      "--authority-url",
      `https://${SERVICE}.${ns}.svc:${authorityPort}`,
      "--authority-address",
      "127.0.0.1",
      "--authority-ca-file",
      caFile,
      "--token-file",
      agentTokenFile,
      "--node-name",
      nodeName,
    ]);
    const flags = AGENT_NODE_FLAGS.split(" ");
    const bareServer = await spawnChild(BARE_CHILD, [], flags);
    bare = bareServer.child;
    children.add(bare);
    await sleep(SETTLE_MS);
    const agentPid = agent.child.pid!;
    const rssAtStart = rss(agentPid);
    const bareAtStart = rss(bare.pid!);

    // Prime: the association's one AssumeRole, the authority's agent review and TLS connection, the agent's pool.
    const primeDeadline = Date.now() + timeoutMs(o);
    let prime = await fetchCredentials(linkLocal, agentPort, primeToken);
    while (prime.status !== 200) {
      if (Date.now() > primeDeadline)
        throw new Error(`the agent never answered 200 (last ${prime.status}):\n${agent.log()}`);
      await sleep(250);
      prime = await fetchCredentials(linkLocal, agentPort, primeToken);
    }

    process.stderr.write(`pod-identity: ${n} cold and ${n} warm fetches, then ${cpuFetches} cold\n`);
    const answersBefore = await op.metrics();
    const cold = await fetchAll(linkLocal, agentPort, podTokens);
    const answersAfter = await op.metrics();
    const warm = await fetchAll(linkLocal, agentPort, podTokens);
    await sleep(SETTLE_MS);
    const rssAfterN = rss(agentPid);

    const requestsBefore = await apiserverRequests(w.kubeConfig);
    const opCpuBefore = op.cpuSeconds();
    const agentCpuBefore = cpuSecondsOf(agentPid);
    const cpuStarted = performance.now();
    const coldMore = await fetchAll(linkLocal, agentPort, cpuTokens);
    const cpuWallMs = performance.now() - cpuStarted;
    const opCpu = op.cpuSeconds() - opCpuBefore;
    const agentCpu = cpuSecondsOf(agentPid) - agentCpuBefore;
    const requests = diffCounts(requestsBefore, await apiserverRequests(w.kubeConfig));
    await sleep(SETTLE_MS);
    const rssAfterAll = rss(agentPid);
    const opRssMib = op.rssBytes() / 2 ** 20;

    // The bare server, asked as often by the same client, measured the same way.
    const bareTimes: number[] = [];
    for (let i = 0; i < n + cpuFetches; i++) {
      const answer = await fetchCredentials("127.0.0.1", bareServer.port, "x");
      if (answer.status !== 200) throw new Error(`the bare server answered ${answer.status}`);
      bareTimes.push(answer.ms);
    }
    await sleep(SETTLE_MS);
    const bareAfter = rss(bare.pid!);

    // The alternative: the same credentials in a Secret, read through the API server and mounted in a Pod.
    const issued = proxy.records({ action: "AssumeRole" }).find((r) => r.seq > seq)?.issued;
    const file = credentialsFile(
      issued?.accessKeyId ?? "ASIA0000000000000000",
      issued?.secretAccessKey ?? randomBytes(30).toString("base64"),
      issued?.sessionToken ?? randomBytes(750).toString("base64"),
    );
    await w.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "credentials" }, stringData: { [READER_KEY]: file } },
    });
    const secretGets: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await w.core.readNamespacedSecret({ namespace: ns, name: "credentials" });
      secretGets.push(performance.now() - started);
    }
    process.stderr.write(`pod-identity: a Pod on ${realNode} reads the mounted Secret ${n} times\n`);
    const readerStarted = Date.now();
    await w.core.createNamespacedPod({
      namespace: ns,
      body: restrictedPod(
        "secret-reader",
        {
          name: "reader",
          image,
          command: ["node", "-e", READER_SCRIPT],
          env: [{ name: "READS", value: String(n) }],
          volumeMounts: [{ name: "credentials", mountPath: READER_MOUNT, readOnly: true }],
        },
        { nodeName: realNode, volumes: [{ name: "credentials", secret: { secretName: "credentials" } }] },
      ),
    });
    let reader;
    for (;;) {
      const p = await w.core.readNamespacedPod({ namespace: ns, name: "secret-reader" });
      if (p.status?.phase === "Succeeded") {
        reader = parseReaderLog(await kubectl(["logs", "-n", ns, "secret-reader"]));
        break;
      }
      if (p.status?.phase === "Failed") {
        throw new Error(
          `the Secret-reading Pod failed:\n${await kubectl(["logs", "-n", ns, "secret-reader"])}`,
        );
      }
      if (Date.now() - readerStarted > 180_000)
        throw new Error("the Secret-reading Pod did not finish in 180 s");
      await sleep(250);
    }
    if (!reader || reader.keys !== 3) throw new Error("the Secret-reading Pod printed no whole result");

    const assumeRoles = proxy.records({ action: "AssumeRole" }).filter((r) => r.seq > seq).length;
    const answerSamples = (m: Map<string, number>, suffix: string) =>
      OperatorProcess.sum(m, `aws_assume_role_pod_identity_answers_seconds_${suffix}`);
    const authorityCount = answerSamples(answersAfter, "count") - answerSamples(answersBefore, "count");
    const authorityMeanMs =
      ((answerSamples(answersAfter, "sum") - answerSamples(answersBefore, "sum")) * 1000) / authorityCount;
    const perFetch = requestsPerFetch(requests, cpuFetches);
    const coldS = summarize(cold);
    const warmS = summarize(warm);
    const getS = summarize(secretGets);
    const mib = (v: number) => v.toFixed(1);

    report.emit(
      [
        `### pod-identity: ${n} Pods on one node, ${cpuFetches} more cold fetches`,
        "",
        `The operator (\`src/main.ts --pod-identity\`, the authority on 127.0.0.1) and the compiled agent ` +
          `(\`node ${AGENT_NODE_FLAGS} dist/agent/main.js\`, listening on ${linkLocal}, connecting to the authority ` +
          "by `--authority-address 127.0.0.1` with the certificate checked against the Service name) run as child " +
          `processes; the benchmark asks the agent as the SDKs do (a new connection per request, \`Authorization: <token>\`), ` +
          `one request at a time. ${n + 2} Pods bound to a Node object without kubelet (their tokens are real bound ` +
          `tokens from the TokenRequest API, ${n + cpuFetches + 2} made in ${(tokenMs / 1000).toFixed(1)} s); one ` +
          "association (`roleName`) for their ServiceAccount, primed with one fetch before measuring, so its " +
          "credentials come from the authority's cache. Cold: each token for the first time (agent → authority → " +
          "TokenReview of the Pod token + Pod GET, the agent's review cached for a minute). Warm: the same tokens " +
          "again, answered from the agent's cache.",
        "",
        table(
          ["path", "fetches", "p50 (ms)", "p99 (ms)", "max (ms)"],
          [
            latencyRow("agent, cold (authority asked)", cold),
            latencyRow("agent, warm (agent's cache)", warm),
            latencyRow(`agent, cold, ${cpuFetches} fresh tokens (the CPU pass)`, coldMore),
            latencyRow("bare node:http server on 127.0.0.1, same client (the HTTP floor)", bareTimes),
            latencyRow(
              "Secret GET through the API server, from the host (client-node, keep-alive)",
              secretGets,
            ),
            [
              `mounted Secret file in a Pod on ${realNode}: read + parse, after the first`,
              String(reader.rest.count),
              ms(reader.rest.p50),
              ms(reader.rest.p99),
              ms(reader.rest.max),
            ],
            [`the same, first read`, "1", ms(reader.firstMs), "", ""],
          ],
          ["l", "r", "r", "r", "r"],
        ),
        "",
        `Of a cold fetch, the authority's own answer took ${ms(authorityMeanMs)} ms on average ` +
          `(aws_assume_role_pod_identity_answers_seconds, ${authorityCount} answers). Cold p50 / warm p50 ` +
          `${ratio(coldS.p50, warmS.p50)}; cold p50 / Secret GET p50 ${ratio(coldS.p50, getS.p50)}; warm p50 / mounted ` +
          `file p50 ${ratio(warmS.p50, reader.rest.p50)}. The mounted file is a local read of what the kubelet last ` +
          "wrote: something else (the operator's AWSAssumeRole) must keep the Secret fresh and the kubelet must sync " +
          "it into the Pod, and the credentials sit in etcd; the agent answers with credentials the authority holds " +
          "for the association, checked against the live Pod on every cold fetch.",
        "",
        table(
          ["per 1,000 cold fetches", "value"],
          [
            [
              "authority (operator process) CPU, user + system",
              `${perThousand(opCpu, cpuFetches).toFixed(2)} s`,
            ],
            ["agent process CPU, user + system", `${perThousand(agentCpu, cpuFetches).toFixed(2)} s`],
            ["wall time, one at a time", `${perThousand(cpuWallMs / 1000, cpuFetches).toFixed(1)} s`],
            [
              "TokenReviews (apiserver_request_total, all clients)",
              (perFetch.tokenReviews * 1000).toFixed(0),
            ],
            ["Pod GETs (apiserver_request_total, all clients)", (perFetch.podGets * 1000).toFixed(0)],
          ],
          ["l", "r"],
        ),
        "",
        `AssumeRole calls at the proxy over the whole scenario (${2 + 2 * n + cpuFetches} fetches, one association): ` +
          `**${assumeRoles}**. Operator RSS at the end: ${mib(opRssMib)} MiB (\`src/main.ts\` under Node's type ` +
          `stripping, no heap flags, caching the namespace's ${n + 3} Pods). Load average (1 min) ${loadBefore.toFixed(1)} ` +
          `at the start, ${loadavg()[0]!.toFixed(1)} at the end (other work on the machine shows here).`,
        "",
        table(
          ["process (V8 flags of the DaemonSet)", "RSS (MiB)", "anonymous", "file-backed"],
          [
            ["bare node:http server, after start", bareAtStart],
            [`bare node:http server, after ${n + cpuFetches} requests`, bareAfter],
            ["agent, after start", rssAtStart],
            [`agent, ${n} Pod tokens cached`, rssAfterN],
            [`agent, ${n + cpuFetches + 1} Pod tokens cached`, rssAfterAll],
          ].map(([label, m]) => {
            const r = m as ReturnType<typeof rss>;
            return [label as string, mib(r.total), mib(r.anon), mib(r.file)];
          }),
          ["l", "r", "r", "r"],
        ),
        "",
        `**Agent / bare server RSS: ${ratio(rssAtStart.total, bareAtStart.total)} after start, ` +
          `${ratio(rssAfterN.total, bareAtStart.total)} with ${n} Pods (+${mib(rssAfterN.total - bareAtStart.total)} MiB per node).**`,
      ].join("\n"),
    );
  } finally {
    if (agent) await stopChild(agent.child);
    if (bare) await stopChild(bare);
    await op?.stop();
    rmSync(dir, { recursive: true, force: true });
    // Pods bound to a Node without kubelet are only gone when deleted without grace.
    await w.core
      .deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 })
      .catch(() => undefined);
    await w.core.deleteNode({ name: nodeName }).catch(() => undefined);
    liveNodes.delete(nodeName);
    const cleanup = await deleteNamespaces([ns], timeoutMs(o));
    if (!cleanup.gone) process.stderr.write(`pod-identity: namespace ${ns} still terminating\n`);
  }
}
