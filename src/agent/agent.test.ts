// The agent as it runs, bound to 127.0.0.1 (permitted here by option; production permits the link-local addresses
// only), talking HTTPS to a stand-in authority with a throwaway CA.
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { isAddressOfThisNode } from "./addresses.ts";
import { startAgent } from "./agent.ts";
import type { RunningAgent } from "./agent.ts";
import { AUTHORITY_NAME, credentialsBody, makeTestPki, startFakeAuthority } from "./authority.fakes.ts";
import type { FakeAuthority, TestPki } from "./authority.fakes.ts";
import { silentLog } from "./logging.ts";
import { boundAddress } from "./server.ts";

const HOUR = 3_600_000;

interface Reply {
  status: number;
  json: Record<string, unknown>;
  text: string;
}

function get(port: number, path: string, headers: Record<string, string>, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || "{}"), text }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the node agent", () => {
  let pki: TestPki;
  let dir: string;
  let authority: FakeAuthority;
  let agent: RunningAgent | undefined;
  let clock: number;

  before(() => {
    pki = makeTestPki();
  });
  after(() => pki.remove());
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "agent-"));
    writeFileSync(join(dir, "ca.crt"), pki.ca);
    writeFileSync(join(dir, "token"), "agent-token-1");
    authority = await startFakeAuthority(pki);
    clock = Date.now();
    authority.reply = () => ({ status: 200, body: credentialsBody(new Date(clock + HOUR)) });
  });
  afterEach(async () => {
    await agent?.close(0);
    agent = undefined;
    await authority.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(overrides: { authorityName?: string; authorityPort?: number } = {}): Promise<number> {
    agent = await startAgent(
      {
        listen: [{ host: "127.0.0.1", port: 0 }],
        authorityUrl: new URL(
          `https://${overrides.authorityName ?? AUTHORITY_NAME}:${overrides.authorityPort ?? authority.port}`,
        ),
        authorityAddress: "127.0.0.1",
        authorityCaFile: join(dir, "ca.crt"),
        tokenFile: join(dir, "token"),
        cacheMaxEntries: 100,
      },
      {
        permittedAddresses: ["127.0.0.1"],
        log: silentLog,
        fileCheckMs: 0,
        authorityTimeoutMs: 1000,
        now: () => clock,
      },
    );
    return boundAddress(agent.servers[0]!).port;
  }

  const credentials = (port: number, token = "pod-token-a") =>
    get(port, "/v1/credentials", { host: `127.0.0.1:${port}`, authorization: token });

  test("refuses 403 InvalidHost when Host is not the address the request arrived on, without asking the authority", async () => {
    const port = await start();
    for (const host of ["localhost", `localhost:${port}`, "169.254.170.23", "credentials.example.com"]) {
      const reply = await get(port, "/v1/credentials", { host, authorization: "pod-token-a" });
      assert.equal(reply.status, 403, host);
      assert.equal(reply.json.Code, "InvalidHost");
    }
    assert.equal(authority.requests.length, 0);
  });

  test("answers 401 MissingToken without an Authorization header or with an empty one", async () => {
    const port = await start();
    for (const headers of [{}, { authorization: "" }, { authorization: "Bearer " }] as Record<
      string,
      string
    >[]) {
      const reply = await get(port, "/v1/credentials", { host: "127.0.0.1", ...headers });
      assert.equal(reply.status, 401);
      assert.equal(reply.json.Code, "MissingToken");
      assert.equal(typeof reply.json.Message, "string");
    }
    assert.equal(authority.requests.length, 0);
  });

  test("answers 404 on other paths and 405 on other methods, as JSON", async () => {
    const port = await start();
    const notFound = await get(port, "/latest/meta-data", { host: "127.0.0.1", authorization: "t" });
    assert.deepEqual([notFound.status, notFound.json.Code], [404, "NotFound"]);
    const post = await get(port, "/v1/credentials", { host: "127.0.0.1", authorization: "t" }, "POST");
    assert.deepEqual([post.status, post.json.Code], [405, "MethodNotAllowed"]);
  });

  test("/healthz answers on any Host and says whether the authority's CA is there", async () => {
    rmSync(join(dir, "ca.crt"));
    const port = await start();
    assert.deepEqual((await get(port, "/healthz", { host: "anything" })).json, {
      status: "ok",
      authorityCa: "missing",
    });
    writeFileSync(join(dir, "ca.crt"), pki.ca);
    assert.deepEqual((await get(port, "/healthz", { host: "anything" })).json, {
      status: "ok",
      authorityCa: "present",
    });
  });

  test("forwards with the agent token as Bearer and the Pod token, checking the certificate against the URL's host", async () => {
    const port = await start();
    const reply = await credentials(port, "pod-token-a");
    assert.equal(reply.status, 200);
    assert.equal(reply.json.AccessKeyId, "ASIATESTKEY");
    assert.equal(reply.json.AccountId, "123456789012");
    const seen = authority.requests[0]!;
    assert.equal(seen.path, "/v1/pod-credentials");
    assert.equal(seen.headers.authorization, "Bearer agent-token-1");
    assert.equal(seen.headers["x-pod-token"], "pod-token-a");
    assert.equal(seen.headers.host, `${AUTHORITY_NAME}:${authority.port}`);
  });

  test("keeps one TLS connection to the authority for many requests", async () => {
    const port = await start();
    for (let i = 0; i < 5; i++) assert.equal((await credentials(port, `pod-token-${i}`)).status, 200);
    assert.equal(authority.requests.length, 5);
    assert.equal(authority.connections, 1);
  });

  test("answers 502 AuthorityUnavailable when the authority's certificate is for another name", async () => {
    const port = await start({ authorityName: "someone-else.test" });
    const reply = await credentials(port);
    assert.deepEqual([reply.status, reply.json.Code], [502, "AuthorityUnavailable"]);
  });

  test("serves a second fetch of one token from the cache: one authority request for two fetches", async () => {
    const port = await start();
    const first = await credentials(port, "pod-token-a");
    const second = await get(port, "/v1/credentials", {
      host: "127.0.0.1",
      authorization: "Bearer pod-token-a",
    });
    assert.equal(second.text, first.text);
    assert.equal(authority.requests.length, 1);
    await credentials(port, "pod-token-b");
    assert.equal(authority.requests.length, 2, "another token is another cache entry");
  });

  test("asks the authority again once half of the remaining lifetime has passed", async () => {
    const port = await start();
    await credentials(port);
    clock += HOUR / 2 - 1000;
    await credentials(port);
    assert.equal(authority.requests.length, 1);
    clock += 2000;
    await credentials(port);
    assert.equal(authority.requests.length, 2);
  });

  test("concurrent fetches of one token share one authority request", async () => {
    const port = await start();
    authority.reply = () => ({ status: 200, body: credentialsBody(new Date(clock + HOUR)), delayMs: 200 });
    const replies = await Promise.all(Array.from({ length: 5 }, () => credentials(port)));
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200, 200, 200],
    );
    assert.equal(authority.requests.length, 1);
  });

  test("passes the authority's refusal through unchanged and does not cache it", async () => {
    const port = await start();
    const refusal = { Code: "InvalidToken", Message: "the Pod of this token is gone" };
    authority.reply = () => ({ status: 403, body: refusal });
    for (let i = 0; i < 2; i++) {
      const reply = await credentials(port);
      assert.equal(reply.status, 403);
      assert.deepEqual(reply.json, refusal);
    }
    assert.equal(authority.requests.length, 2);
  });

  test("a refusal after cached credentials stops serving them", async () => {
    const port = await start();
    await credentials(port);
    clock += HOUR / 2 + 1000;
    authority.reply = () => ({ status: 403, body: { Code: "InvalidToken", Message: "Pod deleted" } });
    assert.equal((await credentials(port)).status, 403);
    authority.reply = () => ({ status: 503, body: { Code: "ServiceUnavailable", Message: "AWS down" } });
    assert.equal((await credentials(port)).status, 503);
  });

  test("answers 502 for credentials without a Token, and does not cache them", async () => {
    const port = await start();
    authority.reply = () => ({
      status: 200,
      body: { ...credentialsBody(new Date(clock + HOUR)), Token: undefined },
    });
    const reply = await credentials(port);
    assert.deepEqual([reply.status, reply.json.Code], [502, "AuthorityUnavailable"]);
    authority.reply = () => ({ status: 200, body: credentialsBody(new Date(clock + HOUR)) });
    assert.equal((await credentials(port)).status, 200);
    assert.equal(authority.requests.length, 2);
  });

  test("serves credentials that expire within two minutes without caching them", async () => {
    const port = await start();
    authority.reply = () => ({ status: 200, body: credentialsBody(new Date(clock + 90_000)) });
    assert.equal((await credentials(port)).status, 200);
    assert.equal((await credentials(port)).status, 200);
    assert.equal(authority.requests.length, 2);
  });

  test("keeps serving cached credentials while the authority is down, until a minute before they expire", async () => {
    const port = await start();
    const first = await credentials(port);
    await authority.close();
    clock += HOUR / 2 + 1000; // past fresh: the agent asks, the authority does not answer
    const stale = await credentials(port);
    assert.equal(stale.status, 200);
    assert.equal(stale.text, first.text);
    clock += HOUR / 2 - 60_000; // a minute before Expiration
    const gone = await credentials(port);
    assert.deepEqual([gone.status, gone.json.Code], [502, "AuthorityUnavailable"]);
  });

  test("answers 502 AuthorityUnavailable when the authority is down and nothing is cached", async () => {
    const port = await start();
    await authority.close();
    const reply = await credentials(port);
    assert.deepEqual([reply.status, reply.json.Code], [502, "AuthorityUnavailable"]);
  });

  test("answers 502 when the authority does not answer within the deadline", async () => {
    const port = await start();
    authority.reply = () => ({ status: 200, body: credentialsBody(new Date(clock + HOUR)), delayMs: 1500 });
    const reply = await credentials(port);
    assert.deepEqual([reply.status, reply.json.Code], [502, "AuthorityUnavailable"]);
    assert.match(String(reply.json.Message), /within 1000 ms/);
  });

  test("answers 503 ServiceUnavailable until the authority's CA appears, then serves", async () => {
    rmSync(join(dir, "ca.crt"));
    const port = await start();
    const early = await credentials(port);
    assert.deepEqual([early.status, early.json.Code], [503, "ServiceUnavailable"]);
    assert.match(String(early.json.Message), /CA .* is not there yet/);
    writeFileSync(join(dir, "ca.crt"), pki.ca);
    assert.equal((await credentials(port)).status, 200);
  });

  test("uses a new CA when the file changes", async () => {
    const other = makeTestPki();
    try {
      writeFileSync(join(dir, "ca.crt"), other.ca);
      const port = await start();
      assert.equal(
        (await credentials(port, "t1")).status,
        502,
        "the authority's certificate is not signed by this CA",
      );
      writeFileSync(join(dir, "ca.crt"), pki.ca);
      assert.equal((await credentials(port, "t2")).status, 200);
    } finally {
      other.remove();
    }
  });

  test("reads the agent token file again when it changes", async () => {
    const port = await start();
    await credentials(port, "pod-token-a");
    writeFileSync(join(dir, "token"), "agent-token-2\n");
    await credentials(port, "pod-token-b");
    assert.deepEqual(
      authority.requests.map((r) => r.headers.authorization),
      ["Bearer agent-token-1", "Bearer agent-token-2"],
    );
  });

  test("close lets a request in flight finish", async () => {
    const port = await start();
    authority.reply = () => ({ status: 200, body: credentialsBody(new Date(clock + HOUR)), delayMs: 300 });
    const pending = credentials(port);
    await new Promise((r) => setTimeout(r, 100));
    const closing = agent!.close(5000);
    agent = undefined;
    assert.equal((await pending).status, 200);
    await closing;
  });
});

describe("the agent's entry point", () => {
  test("--help prints the flags and exits 0", () => {
    const run = spawnSync(process.execPath, ["src/agent/main.ts", "--help"], { encoding: "utf8" });
    assert.equal(run.status, 0);
    assert.match(run.stdout, /--authority-address/);
  });
  test(
    "refuses to start when this node does not hold the listen address",
    { skip: isAddressOfThisNode("fd00:ec2::23", networkInterfaces()) && "this machine holds fd00:ec2::23" },
    () => {
      const run = spawnSync(
        process.execPath,
        ["src/agent/main.ts", "--listen", "[fd00:ec2::23]:80", "--authority-url", "https://authority.test"],
        { encoding: "utf8" },
      );
      assert.equal(run.status, 1);
      assert.match(
        run.stderr,
        /fd00:ec2::23 is not an address of this node: the agent's init step, or the test world, puts it on an interface/,
      );
    },
  );
  test("exits 2 with the reason on a bad flag", () => {
    const run = spawnSync(process.execPath, ["src/agent/main.ts"], { encoding: "utf8" });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--authority-url .* is required/);
  });
});
