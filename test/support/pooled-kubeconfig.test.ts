import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { HttpMethod, RequestContext } from "@kubernetes/client-node";
import { PooledKubeConfig } from "./pooled-kubeconfig.ts";

// A throwaway CA: the dispatcher is built from TLS settings only; nothing connects in these tests.
const CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ3Vlc3NlZA==\n-----END CERTIFICATE-----\n";

function load(kc: PooledKubeConfig, caFile: string, context = "a"): void {
  kc.loadFromOptions({
    clusters: [
      { name: "a", server: "https://127.0.0.1:6443", caFile, skipTLSVerify: false },
      { name: "b", server: "https://127.0.0.2:6443", caFile, skipTLSVerify: false },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [
      { name: "a", cluster: "a", user: "u" },
      { name: "b", cluster: "b", user: "u" },
    ],
    currentContext: context,
  });
}

async function dispatcherOf(kc: PooledKubeConfig): Promise<unknown> {
  const ctx = new RequestContext("https://127.0.0.1:6443/api", HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx.getDispatcher();
}

describe("PooledKubeConfig", () => {
  let dir: string;
  let caFile: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "aar-kubeconfig-"));
    caFile = join(dir, "ca.crt");
    writeFileSync(caFile, CA);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("hands every request the same connection pool", async () => {
    const kc = new PooledKubeConfig();
    load(kc, caFile);
    const first = await dispatcherOf(kc);
    assert.ok(first, "a TLS cluster gets a dispatcher");
    for (let i = 0; i < 5; i++) assert.equal(await dispatcherOf(kc), first);
  });

  it("a plain KubeConfig would build a new pool per request (why this class exists)", async () => {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "a", server: "https://127.0.0.1:6443", caFile, skipTLSVerify: false }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "a", cluster: "a", user: "u" }],
      currentContext: "a",
    });
    const ctx1 = new RequestContext("https://127.0.0.1:6443/api", HttpMethod.GET);
    const ctx2 = new RequestContext("https://127.0.0.1:6443/api", HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx1);
    await kc.applySecurityAuthentication(ctx2);
    assert.notEqual(ctx1.getDispatcher(), ctx2.getDispatcher());
  });

  it("a rewritten CA file gets a new pool", async () => {
    const kc = new PooledKubeConfig();
    load(kc, caFile);
    const before = await dispatcherOf(kc);
    writeFileSync(caFile, CA + CA);
    utimesSync(caFile, new Date(), new Date(Date.now() + 5_000));
    const after = await dispatcherOf(kc);
    assert.notEqual(after, before);
    assert.equal(await dispatcherOf(kc), after);
  });

  it("another current context gets a new pool", async () => {
    const kc = new PooledKubeConfig();
    load(kc, caFile);
    const a = await dispatcherOf(kc);
    kc.setCurrentContext("b");
    const b = await dispatcherOf(kc);
    assert.notEqual(b, a);
  });

  it("still applies the user's credentials to every request", async () => {
    const kc = new PooledKubeConfig();
    load(kc, caFile);
    await dispatcherOf(kc);
    const ctx = new RequestContext("https://127.0.0.1:6443/api", HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    assert.equal(ctx.getHeaders()["Authorization"], "Bearer t");
  });
});
