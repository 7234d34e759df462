// Where the operator's connection comes from: kubeconfig files (merged as kubectl merges them, paths relative to
// their file), the Pod's service account, and exec plugins handed to client-node. Files are real temporary files;
// nothing connects.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { bearerFromFile, fromKubeconfigFiles, inCluster, loadConnection } from "./kubeconfig.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "aar-kubeconfig-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const config = (o: { current?: string; clusters?: string; users?: string; contexts?: string }) =>
  [
    "apiVersion: v1",
    "kind: Config",
    o.current ? `current-context: ${o.current}` : "",
    `clusters:${o.clusters ?? " []"}`,
    `users:${o.users ?? " []"}`,
    `contexts:${o.contexts ?? " []"}`,
  ].join("\n");

/** One cluster at https://h:1, one context, and this user (a YAML flow mapping). */
const withUser = (user: string) =>
  config({
    current: "c",
    clusters: `
  - name: k
    cluster: { server: "https://h:1" }`,
    users: `
  - name: u
    user: ${user}`,
    contexts: `
  - name: c
    context: { cluster: k, user: u }`,
  });

describe("fromKubeconfigFiles", () => {
  it("reads the current context's server, CA data, token and TLS settings", async () => {
    const file = write(
      "a",
      config({
        current: "c",
        clusters: `
  - name: k
    cluster:
      server: https://10.0.0.1:6443
      certificate-authority-data: ${Buffer.from("CA").toString("base64")}
      tls-server-name: api.internal`,
        users: `
  - name: u
    user: { token: abc }`,
        contexts: `
  - name: c
    context: { cluster: k, user: u }`,
      }),
    );
    const c = fromKubeconfigFiles([file]);
    assert.equal(c.server, "https://10.0.0.1:6443");
    assert.deepEqual(c.ca, { data: Buffer.from("CA") });
    assert.equal(c.tlsServerName, "api.internal");
    assert.equal(c.insecureSkipTlsVerify, undefined);
    assert.equal(await c.authorization?.(), "Bearer abc");
  });

  it("resolves certificate files relative to the kubeconfig's directory", () => {
    mkdirSync(join(dir, "sub"));
    const file = write(
      "sub/config",
      config({
        current: "c",
        clusters: `
  - name: k
    cluster: { server: "https://h:1", certificate-authority: ca.crt, insecure-skip-tls-verify: true }`,
        users: `
  - name: u
    user: { client-certificate: /abs/cert.pem, client-key: keys/key.pem }`,
        contexts: `
  - name: c
    context: { cluster: k, user: u }`,
      }),
    );
    const c = fromKubeconfigFiles([file]);
    assert.deepEqual(c.ca, { file: join(dir, "sub", "ca.crt") });
    assert.deepEqual(c.cert, { file: "/abs/cert.pem" });
    assert.deepEqual(c.key, { file: join(dir, "sub", "keys", "key.pem") });
    assert.equal(c.insecureSkipTlsVerify, true);
    assert.equal(c.authorization, undefined);
  });

  it("merges files: the first to name an entry or a current context wins", async () => {
    const first = write(
      "first",
      config({
        clusters: `
  - name: k
    cluster: { server: "https://first:1" }`,
        users: `
  - name: u
    user: { username: me, password: pw }`,
      }),
    );
    const second = write(
      "second",
      config({
        current: "c",
        clusters: `
  - name: k
    cluster: { server: "https://second:1" }`,
        users: `
  - name: u
    user: { token: second }`,
        contexts: `
  - name: c
    context: { cluster: k, user: u }`,
      }),
    );
    const c = fromKubeconfigFiles([first, second]);
    assert.equal(c.server, "https://first:1");
    assert.equal(await c.authorization?.(), `Basic ${Buffer.from("me:pw").toString("base64")}`);
  });

  it("names what is missing: no current context, an undefined context, a proxy-url; a YAML error quotes no secret", () => {
    const none = write("none", config({}));
    assert.throws(() => fromKubeconfigFiles([none]), /no current-context/);
    const undef = write("undef", config({ current: "nope" }));
    assert.throws(() => fromKubeconfigFiles([undef]), /context nope is not defined/);
    const proxied = write(
      "proxied",
      config({
        current: "c",
        clusters: `
  - name: k
    cluster: { server: "https://h:1", proxy-url: "http://proxy:3128" }`,
        contexts: `
  - name: c
    context: { cluster: k }`,
      }),
    );
    assert.throws(() => fromKubeconfigFiles([proxied]), /proxy-url/);
    const broken = write("broken", "users:\n  - name: u\n    user: { token: s3cr3t-token\n");
    assert.throws(
      () => fromKubeconfigFiles([broken]),
      (err: Error) => /not valid YAML/.test(err.message) && !err.message.includes("s3cr3t"),
    );
  });

  it("runs an exec plugin through client-node and sends its token", async () => {
    const plugin = write(
      "plugin.sh",
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const file = write(
      "exec",
      withUser(
        `{ exec: { apiVersion: client.authentication.k8s.io/v1, command: "${plugin}", interactiveMode: Never } }`,
      ),
    );
    const c = fromKubeconfigFiles([file]);
    assert.equal(await c.authorization?.(), "Bearer from-exec");
  });

  it("refuses an exec or auth-provider user when client-node is not installed, naming the package to add", () => {
    // A package name that resolves nowhere stands for client-node left out (npm ci --omit=dev, the image).
    const missing = "@kubernetes/client-node-not-installed";
    for (const user of [
      `{ exec: { apiVersion: client.authentication.k8s.io/v1, command: aws, interactiveMode: Never } }`,
      `{ auth-provider: { name: oidc } }`,
    ]) {
      const file = write("needs-client-node", withUser(user));
      assert.throws(
        () => loadConnection({ env: { KUBECONFIG: file }, clientNode: missing }),
        (err: Error) =>
          err.message.includes(
            `user u: ${user.includes("exec") ? "exec" : "auth-provider"} needs the package ${missing}`,
          ) && err.message.includes(`npm install ${missing}`),
      );
    }
    // Users that need nothing beyond the operator still load without it.
    const token = write("token-user", withUser(`{ token: t }`));
    assert.equal(loadConnection({ env: { KUBECONFIG: token }, clientNode: missing }).server, "https://h:1");
  });
});

describe("loadConnection", () => {
  it("takes KUBECONFIG first, then ~/.kube/config, then the Pod's service account", () => {
    const file = write(
      "k",
      config({
        current: "c",
        clusters: `
  - name: k
    cluster: { server: "https://from-env:1" }`,
        contexts: `
  - name: c
    context: { cluster: k }`,
      }),
    );
    const pod = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    assert.equal(loadConnection({ env: { KUBECONFIG: file, ...pod } }).server, "https://from-env:1");
    mkdirSync(join(dir, "home", ".kube"), { recursive: true });
    writeFileSync(join(dir, "home", ".kube", "config"), config({ current: "c", contexts: "", clusters: "" }));
    assert.throws(() => loadConnection({ env: pod, home: join(dir, "home") }), /context c is not defined/);
    assert.equal(loadConnection({ env: pod, home: join(dir, "nohome") }).server, "https://10.96.0.1:443");
    assert.throws(
      () => loadConnection({ env: {}, home: join(dir, "nohome") }),
      /no Kubernetes configuration/,
    );
    assert.throws(() => loadConnection({ env: { KUBECONFIG: join(dir, "missing") } }), /names no file/);
  });

  it("in a Pod: brackets an IPv6 service host, and reads the CA and token from the service account", async () => {
    writeFileSync(join(dir, "token"), "pod-token\n");
    const c = inCluster("fd00::1", "443", dir);
    assert.equal(c.server, "https://[fd00::1]:443");
    assert.deepEqual(c.ca, { file: join(dir, "ca.crt") });
    assert.equal(await c.authorization?.(), "Bearer pod-token");
  });
});

describe("bearerFromFile", () => {
  it("reads a rotated token again once the reload period passed, and keeps the last one if the file vanished", async () => {
    const path = write("token", "one");
    const header = bearerFromFile(path, 50);
    assert.equal(await header(), "Bearer one");
    writeFileSync(path, "two");
    assert.equal(await header(), "Bearer one", "within the period the cached token is used");
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(await header(), "Bearer two");
    rmSync(path);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(await header(), "Bearer two");
    assert.throws(() => bearerFromFile(join(dir, "never"))(), /token file/);
  });

  it("reads the file again at once when asked for a fresh token (after a 401)", async () => {
    const path = write("token", "old");
    const header = bearerFromFile(path); // the default period: a minute
    assert.equal(await header(), "Bearer old");
    writeFileSync(path, "new");
    assert.equal(await header(), "Bearer old");
    assert.equal(await header({ fresh: true }), "Bearer new");
  });
});

describe("impersonation", () => {
  it("takes as, as-uid, as-groups and as-user-extra beside the user's own credentials", async () => {
    const file = write(
      "as",
      withUser(`{ token: t, as: jane, as-uid: "7", as-groups: [a, b], as-user-extra: { scopes: [view] } }`),
    );
    const c = fromKubeconfigFiles([file]);
    assert.deepEqual(c.impersonate, {
      user: "jane",
      uid: "7",
      groups: ["a", "b"],
      extra: { scopes: ["view"] },
    });
    assert.equal(await c.authorization?.(), "Bearer t");
  });

  it("is absent when the user asks for none, or leaves the settings empty", () => {
    for (const user of [
      "{ token: t }",
      "{ token: t, as: , as-groups: , as-user-extra: }",
      '{ as: "", as-groups: [] }',
    ])
      assert.equal(fromKubeconfigFiles([write("plain", withUser(user))]).impersonate, undefined, user);
  });

  it("refuses groups, a uid or extras without a user to impersonate, and malformed values", () => {
    for (const [user, message] of [
      ["{ as-groups: [a] }", /need as \(the user\)/],
      ["{ as-uid: x }", /need as \(the user\)/],
      ["{ as: jane, as-groups: a }", /as-groups must be a list of strings/],
      ["{ as: jane, as-user-extra: { scopes: view } }", /as-user-extra must be a map of lists of strings/],
      ["{ as: [jane] }", /as must be a string/],
      ["{ as: jane, as-user-extra: [view] }", /as-user-extra must be a map of lists of strings/],
    ] as const)
      assert.throws(() => fromKubeconfigFiles([write("bad", withUser(user))]), message, user);
  });
});
