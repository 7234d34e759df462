// The transport against a server on loopback: watches beyond the request pool's size leave writes their sockets,
// a 401 reads the token file again and retries once, and impersonation reaches the server as headers.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { MAX_REQUEST_SOCKETS } from "./agents.ts";
import type { Agents } from "./agents.ts";
import { KubeApiError, KubeClient } from "./client.ts";
import { json, ok, startFakeApiServer } from "./api-server.fakes.ts";
import type { FakeApiServer } from "./api-server.fakes.ts";
import { bearerFromFile, fromKubeconfigFiles } from "./kubeconfig.ts";

let server: FakeApiServer;
let dir: string;
beforeEach(async () => {
  server = await startFakeApiServer();
  dir = mkdtempSync(join(tmpdir(), "aar-client-"));
});
afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("watches and requests", () => {
  it(
    "a write is answered while more watches are open than the request pool has sockets",
    { timeout: 20_000 },
    async () => {
      // A watch answers its headers and then stays open, as the API server's do.
      server.answer = (req, res) => {
        if (req.url.includes("watch=true"))
          res.writeHead(200, { "Content-Type": "application/json" }).flushHeaders();
        else json(res, 200, {});
      };
      const client = new KubeClient({ server: server.url }, 5_000);
      const stop = new AbortController();
      const watches = MAX_REQUEST_SOCKETS + 44;
      try {
        const opened = await Promise.all(
          Array.from({ length: watches }, (_, i) =>
            client.stream(`/api/v1/namespaces/n${i}/secrets`, { watch: "true" }, stop.signal),
          ),
        );
        assert.equal(opened.length, watches, "every watch opened within its deadline");
        await client.create("/api/v1/namespaces/n0/configmaps", { metadata: { name: "c" } });
        const open = server.requests.filter((r) => r.url.includes("watch=true"));
        assert.equal(new Set(open.map((r) => r.socket)).size, watches, "one connection per watch");
        const write = server.requests.find((r) => r.method === "POST")!;
        assert.ok(
          !open.some((r) => r.socket === write.socket),
          "the write did not share a watch's connection",
        );
      } finally {
        stop.abort();
        client.close();
      }
    },
  );
});

describe("401 Unauthorized", () => {
  /** Accepts only `Bearer <token>`; anything else is 401, after `before401` ran (the kubelet rotating the file). */
  function acceptOnly(token: string, before401: () => void = () => {}) {
    server.answer = (req, res, raw) => {
      if (req.headers.authorization?.[0] === `Bearer ${token}`) return ok(req, res, raw);
      before401();
      json(res, 401, { kind: "Status", status: "Failure", reason: "Unauthorized", code: 401 });
    };
  }
  const tokens = () => server.requests.map((r) => r.headers.authorization?.[0]);

  it("reads the token file again at once and sends the request once more with the new token", async () => {
    const file = join(dir, "token");
    writeFileSync(file, "old\n");
    const client = new KubeClient({ server: server.url, authorization: bearerFromFile(file) });
    await client.get("/api/v1/namespaces/default"); // the old token is read and cached
    acceptOnly("new", () => writeFileSync(file, "new\n"));
    await client.replace("/api/v1/namespaces/n/secrets/s", { metadata: { name: "s" } });
    assert.deepEqual(tokens(), ["Bearer old", "Bearer old", "Bearer new"]);
    client.close();
  });

  it("also for a watch", async () => {
    const file = join(dir, "token");
    writeFileSync(file, "old");
    const client = new KubeClient({ server: server.url, authorization: bearerFromFile(file) });
    acceptOnly("new", () => writeFileSync(file, "new"));
    const response = await client.stream("/api/v1/secrets", { watch: "true" }, new AbortController().signal);
    assert.equal(response.statusCode, 200);
    response.destroy();
    assert.deepEqual(tokens(), ["Bearer old", "Bearer new"]);
    client.close();
  });

  it("is the answer when the token file still holds the same token", async () => {
    const file = join(dir, "token");
    writeFileSync(file, "revoked");
    const client = new KubeClient({ server: server.url, authorization: bearerFromFile(file) });
    acceptOnly("other");
    const err = await client.get("/api/v1/namespaces/default").catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError && err.statusCode === 401, String(err));
    assert.deepEqual(tokens(), ["Bearer revoked"], "no second try with the same token");
    client.close();
  });

  it("is tried once more at most", async () => {
    let n = 0;
    const rotating = () => Promise.resolve(`Bearer t${n++}`);
    const client = new KubeClient({ server: server.url, authorization: rotating });
    acceptOnly("never");
    const err = await client.get("/api/v1/namespaces/default").catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError && err.statusCode === 401, String(err));
    assert.deepEqual(tokens(), ["Bearer t0", "Bearer t1"]);
    client.close();
  });
});

describe("impersonation", () => {
  it("sends a kubeconfig's as, as-uid, as-groups and as-user-extra as Impersonate-* headers", async () => {
    const file = join(dir, "config");
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
current-context: c
clusters: [{ name: k, cluster: { server: "${server.url}" } }]
contexts: [{ name: c, context: { cluster: k, user: u } }]
users:
  - name: u
    user:
      token: admin
      as: jane
      as-uid: "1234"
      as-groups: [developers, "system:authenticated"]
      as-user-extra: { scopes: [view, edit], "acme.com/team (a)": [blue] }
`,
    );
    const client = new KubeClient(fromKubeconfigFiles([file]));
    await client.get("/api/v1/namespaces/default");
    const { headers } = server.requests[0]!;
    assert.deepEqual(headers.authorization, ["Bearer admin"]);
    assert.deepEqual(headers["impersonate-user"], ["jane"]);
    assert.deepEqual(headers["impersonate-uid"], ["1234"]);
    assert.deepEqual(headers["impersonate-group"], ["developers", "system:authenticated"]);
    assert.deepEqual(headers["impersonate-extra-scopes"], ["view", "edit"]);
    assert.deepEqual(headers["impersonate-extra-acme.com%2fteam%20%28a%29"], ["blue"]);
    client.close();
  });
});

describe("deadlines", () => {
  it("a request waiting for a free socket fails at its deadline", { timeout: 20_000 }, async () => {
    server.answer = () => {}; // every request hangs, holding its socket
    const client = new KubeClient({ server: server.url }, 30_000);
    const stop = new AbortController();
    const hanging = Array.from({ length: MAX_REQUEST_SOCKETS }, () =>
      client.get("/hang", { signal: stop.signal }).catch(() => "ended"),
    );
    await poll(() => server.requests.length === MAX_REQUEST_SOCKETS);
    const queued = new AbortController();
    const waiting = client.get("/queued", { signal: queued.signal }).catch((e: unknown) => e);
    const pool = (client as unknown as { agents: Agents }).agents.get("request");
    await poll(() => Object.values(pool.requests).flat().length === 1); // queued in the agent for a socket
    queued.abort(new Error("reconcile deadline"));
    assert.match(String(await waiting), /reconcile deadline/);
    stop.abort();
    assert.equal((await Promise.all(hanging)).length, MAX_REQUEST_SOCKETS);
    assert.ok(!server.requests.some((r) => r.url === "/queued"), "it never got a socket");
    client.close();
  });
});

async function poll(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}
