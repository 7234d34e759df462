// Pod Identity when its parts fail, on the node with the chart installed (operator replicas, node agent, webhook) and
// real SDK consumers:
//   - both operator replicas are down for longer than the agent's cache: consumers keep working on the agent's cached
//     answer until a minute before it expires, and recover within seconds of the operator's return; a Pod created
//     meanwhile still starts (the webhook's failurePolicy is Ignore), and once the operator is back it is reported
//     on the Pod (a Warning event) and in the association's status, with the fix;
//   - the node agent's Pod is restarted: consumers holding (production-length) credentials see nothing; a Pod started
//     meanwhile sees at most one failed call before its SDK gets credentials.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import {
  describePods,
  hasNode,
  isReady,
  NO_NODE,
  OPERATOR_NAMESPACE,
  operatorPods,
  RELEASE,
  runPod,
  suiteContext,
} from "../support/node.ts";
import type { NodeWorld } from "../support/node.ts";
import {
  analyse,
  consumerWorld,
  containerLog,
  containerName,
  issuedExpiry,
  sdkPod,
} from "../support/sdk-consumers.ts";
import type { ConsumerWorld } from "../support/sdk-consumers.ts";
import { eventually, freshNamespace, kubectl } from "../support/world.ts";
import {
  AGENT_NAMESPACE,
  agentPods,
  associate,
  getAssociation,
  installWithPodIdentity,
} from "../support/pod-identity.ts";

const ROLE = "node-sdk-role";
const CONSUMERS = [
  { sdk: "js", mode: "client" },
  { sdk: "python", mode: "client" },
  { sdk: "go", mode: "client" },
] as const;
/**
 * Credentials the agent caches (it caches none with less than two minutes left) and every SDK fetches anew on each
 * call (all refresh within five minutes of expiry), so each call goes through the agent.
 */
const LIFETIME_SECONDS = 180;

describe("Pod Identity when its parts fail", { skip: hasNode() ? false : NO_NODE }, () => {
  const suite = suiteContext("pod identity faults", after);
  let w: NodeWorld;
  let proxy: AwsProxy;
  let ns: string;
  let images: ConsumerWorld["images"];

  const consumerPod = (name: string, serviceAccount = "app") => {
    const p = sdkPod(name, images, w, proxy.url, CONSUMERS, { env: [] });
    p.spec!.serviceAccountName = serviceAccount;
    return p;
  };

  const logsOf = (pod: string) => Promise.all(CONSUMERS.map((c) => containerLog(ns, pod, containerName(c))));

  before(async () => {
    ({ w, proxy, images } = await consumerWorld(suite, LIFETIME_SECONDS));
    await installWithPodIdentity(suite, w, proxy.url);
    ns = await freshNamespace(suite, { "pod-security.kubernetes.io/enforce": "restricted" });
    await associate(ns, "app", { roleName: ROLE, durationSeconds: 900 });
    await runPod(ns, consumerPod("steady"));
    await eventually("every consumer's first successful call", async () =>
      (await logsOf("steady")).every((l) => analyse(l).ok > 0) ? true : undefined,
    );
  });

  test("both operator replicas down: consumers work on the agent's cache, recover on return; a Pod created meanwhile is reported", async (t) => {
    const replicas = (await operatorPods(w)).length;
    const downAt = Date.now();
    await kubectl(["scale", "deployment", RELEASE, "-n", OPERATOR_NAMESPACE, "--replicas=0"]);
    // Terminating Pods still answer the webhook and the agents: wait until none is left at all.
    await eventually(
      "no operator Pod",
      async () => {
        const pods = await w.core.listNamespacedPod({
          namespace: OPERATOR_NAMESPACE,
          labelSelector: "app.kubernetes.io/name=aws-assume-role",
        });
        return pods.items.length === 0 ? true : undefined;
      },
      60_000,
    );
    // The webhook is down too: a Pod of the associated ServiceAccount still starts, without the variables.
    const missed = await runPod(ns, consumerPod("missed"));
    assert.ok(
      !missed.spec!.containers[0]!.env?.some((e) => e.name === "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
      "created while the webhook was down: not injected",
    );
    // Down until every consumer has failed: the agent's cached answer has run out.
    const failedSince = await eventually(
      "every consumer failing once the agent's cached answer ran out",
      async () => {
        const logs = await logsOf("steady");
        const firsts = logs.map((l) =>
          analyse(l).calls.find((c) => Date.parse(c.time) > downAt && c.result !== "ok"),
        );
        return firsts.every(Boolean) ? firsts.map((f) => Date.parse(f!.time)) : undefined;
      },
      (LIFETIME_SECONDS + 60) * 1000,
      1_000,
    ).catch(async (err: unknown) => {
      const logs = await logsOf("steady");
      const agentPod = (await agentPods(w))[0]?.metadata?.name ?? "";
      const agent = await kubectl(["logs", "-n", AGENT_NAMESPACE, agentPod, "--tail=20"]).catch(String);
      const pods = await kubectl(["get", "pods", "-A", "-o", "wide"]);
      throw new Error(
        `${String(err)}\nlast calls: ${JSON.stringify(logs.map((l) => l.slice(-2)))}\nagent: ${agent}\n${pods}\n` +
          `AssumeRoles: ${JSON.stringify(proxy.records({ action: "AssumeRole" }).map((r) => [r.time, r.issued?.expiration]))}`,
      );
    });
    const workedFor = failedSince.map((f) => Math.round((f - downAt) / 1000));
    t.diagnostic(`consumers kept working for ${workedFor.join(", ")} s with both replicas down`);
    // The agent stands in with its cached answer until a minute before it expires: each consumer worked at least
    // that long on the key it held when the operator went down.
    const expiry = issuedExpiry(proxy);
    const steadyLogs = await logsOf("steady");
    for (const [i, f] of failedSince.entries()) {
      const held = analyse(steadyLogs[i]!)
        .calls.filter((c) => Date.parse(c.time) < downAt && c.result === "ok")
        .at(-1)?.key;
      const heldExpiry = held ? expiry.get(held) : undefined;
      assert.ok(heldExpiry, `${containerName(CONSUMERS[i]!)}: signed with an issued key before the outage`);
      assert.ok(
        f >= heldExpiry - 65_000,
        `${containerName(CONSUMERS[i]!)} failed ${workedFor[i]} s after the operator went down, ` +
          `${Math.round((heldExpiry - f) / 1000)} s before its credentials expired`,
      );
    }

    await kubectl(["scale", "deployment", RELEASE, "-n", OPERATOR_NAMESPACE, `--replicas=${replicas}`]);
    const upAt = await eventually(
      "an operator Pod Ready",
      async () => ((await operatorPods(w)).some(isReady) ? Date.now() : undefined),
      120_000,
    );
    const recovered = await eventually(
      "every consumer successful again",
      async () => {
        const logs = await logsOf("steady");
        const firsts = logs.map((l) =>
          analyse(l).calls.find((c) => Date.parse(c.time) > upAt && c.result === "ok"),
        );
        return firsts.every(Boolean) ? firsts.map((f) => Date.parse(f!.time) - upAt) : undefined;
      },
      60_000,
      1_000,
    );
    t.diagnostic(
      `recovered ${recovered.map((ms) => (ms / 1000).toFixed(1)).join(", ")} s after an operator Pod was Ready`,
    );

    const reported = await eventually(
      "the missed Pod in the association's status",
      async () => {
        const pods = (await getAssociation(ns, "app")).status?.pods;
        return pods?.missedNames?.includes("missed") ? pods : undefined;
      },
      60_000,
    );
    assert.equal(reported.missed, 1);
    const events = JSON.parse(
      await kubectl([
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        "involvedObject.name=missed",
        "-o",
        "json",
      ]),
    ) as { items: { type: string; reason: string; message: string }[] };
    const warning = events.items.find((e) => e.reason === "PodIdentityNotInjected");
    assert.equal(warning?.type, "Warning");
    assert.match(warning!.message, /restart it/);
  });
  test("the agent's Pod restarted: consumers holding credentials see nothing, a Pod started meanwhile at most one failed call", async () => {
    // Credentials as long-lived as in production, so that the SDKs hold them and need the agent only when they
    // start (every SDK here fetches again only within five or fifteen minutes of expiry).
    proxy.setLifetime({ stsSeconds: 1200, rejectExpired: true });
    await associate(ns, "long", { roleName: ROLE, durationSeconds: 3600 });
    await runPod(ns, consumerPod("long-lived", "long"));
    await eventually("every long-lived consumer's first successful call", async () =>
      (await logsOf("long-lived")).every((l) => analyse(l).ok > 0) ? true : undefined,
    );
    const old = (await agentPods(w))[0]!;
    const restartedAt = Date.now();
    await kubectl(["delete", "pod", "-n", AGENT_NAMESPACE, old.metadata!.name!, "--wait=false"]);
    const fresh = consumerPod("during-restart", "long");
    await w.core.createNamespacedPod({ namespace: ns, body: fresh });
    await eventually(
      "a new agent Pod Ready",
      async () => {
        const pods = await agentPods(w);
        return pods.some((p) => p.metadata!.uid !== old.metadata!.uid && isReady(p)) ? true : undefined;
      },
      120_000,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await describePods(AGENT_NAMESPACE)}`);
    });
    const readyAt = Date.now();
    const logs = await eventually(
      "the Pod started during the restart making successful calls",
      async () => {
        const all = await logsOf("during-restart").catch(() => undefined);
        return all?.every((l) => analyse(l).ok > 0) ? all : undefined;
      },
      120_000,
    );
    for (const [i, c] of CONSUMERS.entries()) {
      const a = analyse(logs[i]!);
      assert.ok(
        a.expired + a.errors <= 1,
        `${containerName(c)} (new Pod): ${a.expired + a.errors} failed calls`,
      );
    }
    // The consumers that held credentials: every call from the restart until a while after it succeeded.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const steady = await logsOf("long-lived");
    for (const [i, c] of CONSUMERS.entries()) {
      const around = analyse(steady[i]!).calls.filter((l) => Date.parse(l.time) >= restartedAt);
      assert.ok(
        around.length > 0,
        `${containerName(c)}: calls since the restart; last lines: ${JSON.stringify(steady[i]!.slice(-3))}`,
      );
      assert.deepEqual(
        around.filter((l) => l.result !== "ok").map((l) => `${l.time} ${l.error ?? l.result}`),
        [],
        `${containerName(c)}: no failed call around the agent's restart (Ready again after ${readyAt - restartedAt} ms)`,
      );
    }
  });
});
