// When the transport sends a request again: the policy as plain values, then the client against a server on
// loopback that throttles (429 with Retry-After, as priority and fairness does) or drops a reused connection.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { KubeApiError, KubeClient } from "./client.ts";
import { json, ok, startFakeApiServer } from "./api-server.fakes.ts";
import type { Answer, FakeApiServer } from "./api-server.fakes.ts";
import { MAX_THROTTLE_RETRIES, retryAfterMs, safeToResend } from "./retry.ts";

describe("retryAfterMs", () => {
  const now = Date.parse("2026-12-01T10:00:00Z");
  for (const [value, want] of [
    ["0", 0],
    ["3", 3000],
    [" 2 ", 2000],
    ["Tue, 01 Dec 2026 10:00:05 GMT", 5000],
    ["Tue, 01 Dec 2026 09:59:00 GMT", 0],
    ["soon", undefined],
    ["-1", undefined],
    ["1.5", undefined],
    [undefined, undefined],
  ] as const)
    it(`Retry-After ${JSON.stringify(value)} waits ${want} ms`, () => {
      assert.equal(retryAfterMs(value === undefined ? {} : { "retry-after": value }, now), want);
    });
});

describe("safeToResend", () => {
  const rv = { metadata: { name: "s", resourceVersion: "42" } };
  for (const [method, body, want, why] of [
    ["GET", undefined, true, "a read"],
    ["PUT", rv, true, "a replace with the resourceVersion it expects"],
    ["PATCH", rv, true, "a patch with a resourceVersion"],
    ["DELETE", { preconditions: { uid: "u-1" } }, true, "a delete with a UID precondition"],
    [
      "DELETE",
      { preconditions: { resourceVersion: "7" } },
      true,
      "a delete with a resourceVersion precondition",
    ],
    ["POST", { metadata: { name: "s" } }, false, "a create"],
    ["PUT", { metadata: { name: "s" } }, false, "a replace without a resourceVersion"],
    ["PATCH", { metadata: { labels: { a: "b" } } }, false, "an unconditional patch"],
    ["PATCH", { metadata: { resourceVersion: "" } }, false, "an empty resourceVersion"],
    ["DELETE", undefined, false, "a delete without preconditions"],
    ["DELETE", { preconditions: {} }, false, "empty preconditions"],
  ] as const)
    it(`${want ? "resends" : "never resends"} ${why}`, () => assert.equal(safeToResend(method, body), want));
});

let server: FakeApiServer;
let client: KubeClient;
beforeEach(async () => {
  server = await startFakeApiServer();
  client = new KubeClient({ server: server.url }, 5_000);
});
afterEach(async () => {
  client.close();
  await server.close();
});

/** Answers 429 with these Retry-After values (undefined: none) in turn, then 200. */
function throttle(...retryAfter: (string | undefined)[]): Answer {
  let n = 0;
  return (_req, res) => {
    if (n >= retryAfter.length) return json(res, 200, { kind: "Status", status: "Success" });
    const value = retryAfter[n++];
    // What kube-apiserver's priority and fairness sends when it rejects a request.
    json(
      res,
      429,
      {
        kind: "Status",
        status: "Failure",
        reason: "TooManyRequests",
        code: 429,
        message: "Too many requests",
      },
      { ...(value === undefined ? {} : { "Retry-After": value }), "X-Kubernetes-PF-FlowSchema-UID": "fs-1" },
    );
  };
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail("expected a rejection"),
    (e: unknown) => e,
  );

describe("429 Too Many Requests", () => {
  it("is sent again after Retry-After until it is answered, writes included", async () => {
    server.answer = throttle("0", "0");
    await client.create("/api/v1/namespaces/n/configmaps", { metadata: { name: "c" } });
    assert.deepEqual(
      server.requests.map((r) => r.method),
      ["POST", "POST", "POST"],
    );
  });

  it("waits out a Retry-After of seconds that ends within the deadline", async () => {
    server.answer = throttle("1");
    await client.get("/api/v1/namespaces/n");
    assert.equal(server.requests.length, 2);
  });

  it(`gives up after ${MAX_THROTTLE_RETRIES} retries with the 429`, async () => {
    server.answer = throttle(...Array<string>(MAX_THROTTLE_RETRIES + 1).fill("0"));
    const err = await rejection(client.get("/api/v1/namespaces/n"));
    assert.ok(err instanceof KubeApiError && err.statusCode === 429, String(err));
    assert.equal(server.requests.length, MAX_THROTTLE_RETRIES + 1);
  });

  it("answers the 429 at once when Retry-After reaches past the request's deadline", async () => {
    server.answer = throttle("1");
    const short = new KubeClient({ server: server.url }, 800);
    const err = await rejection(short.get("/api/v1/namespaces/n"));
    short.close();
    assert.ok(err instanceof KubeApiError && err.statusCode === 429, String(err));
    assert.equal(server.requests.length, 1);
  });

  it("is not sent again without Retry-After", async () => {
    server.answer = throttle(undefined);
    const err = await rejection(client.get("/api/v1/namespaces/n"));
    assert.ok(err instanceof KubeApiError && err.reason === "TooManyRequests", String(err));
    assert.equal(server.requests.length, 1);
  });

  it("stops waiting when the caller's deadline fires", async () => {
    const reconcile = new AbortController();
    const throttled = throttle("4");
    server.answer = (req, res, raw) => {
      throttled(req, res, raw);
      res.on("finish", () => reconcile.abort(new Error("reconcile deadline")));
    };
    const err = await rejection(client.get("/api/v1/namespaces/n", { signal: reconcile.signal }));
    assert.match(String(err), /reconcile deadline/);
    assert.equal(server.requests.length, 1);
  });

  it("opens a throttled watch after Retry-After", async () => {
    server.answer = throttle("0");
    const response = await client.stream("/api/v1/secrets", { watch: "true" }, new AbortController().signal);
    assert.equal(response.statusCode, 200);
    response.destroy();
    assert.equal(server.requests.length, 2);
  });
});

describe("a reset on a reused keep-alive socket", () => {
  /** One request answered on a fresh socket, which stays idle in the pool; then every reused socket is dropped. */
  async function poolHoldsASocketTheServerDrops(sockets = 1): Promise<void> {
    await Promise.all(Array.from({ length: sockets }, () => client.get("/warm")));
    server.answer = (req, res, raw) => (req.onSocket > 1 ? raw.socket.destroy() : ok(req, res, raw));
  }
  const resent = () =>
    server.requests.filter((r) => r.url !== "/warm").map((r) => `${r.method}@${r.onSocket}`);

  const safe: [string, (c: KubeClient) => Promise<unknown>][] = [
    ["a GET", (c) => c.get("/api/v1/namespaces/n/secrets/s")],
    ["a replace with a resourceVersion", (c) => c.replace("/s", { metadata: { resourceVersion: "9" } })],
    ["a patch with a resourceVersion", (c) => c.mergePatch("/s", { metadata: { resourceVersion: "9" } })],
    ["a delete with preconditions", (c) => c.delete("/s", { preconditions: { uid: "u" } })],
  ];
  for (const [what, send] of safe)
    it(`is sent once more on a new connection for ${what}`, async () => {
      await poolHoldsASocketTheServerDrops();
      await send(client);
      assert.deepEqual(
        resent().map((r) => r.split("@")[1]),
        ["2", "1"],
        "dropped on the reused one, then a fresh one",
      );
    });

  const unsafe: [string, (c: KubeClient) => Promise<unknown>][] = [
    ["a create", (c) => c.create("/s", { metadata: { name: "s" } })],
    ["a replace without a resourceVersion", (c) => c.replace("/s", { metadata: { name: "s" } })],
    ["an unconditional patch", (c) => c.mergePatch("/s", { metadata: { labels: { a: "b" } } })],
    ["a delete without preconditions", (c) => c.delete("/s")],
  ];
  for (const [what, send] of unsafe)
    it(`is never sent again for ${what}`, async () => {
      await poolHoldsASocketTheServerDrops();
      const err = await rejection(send(client));
      assert.equal((err as NodeJS.ErrnoException).code, "ECONNRESET", String(err));
      assert.equal(resent().length, 1);
    });

  it("is sent again only once", async () => {
    await poolHoldsASocketTheServerDrops(2);
    const err = await rejection(client.get("/s"));
    assert.equal((err as NodeJS.ErrnoException).code, "ECONNRESET", String(err));
    assert.deepEqual(resent(), ["GET@2", "GET@2"], "two reused sockets dropped, no third try");
  });

  it("is not sent again when the connection was new", async () => {
    server.answer = (_req, _res, raw) => raw.socket.destroy();
    const err = await rejection(client.get("/s"));
    assert.equal((err as NodeJS.ErrnoException).code, "ECONNRESET", String(err));
    assert.equal(server.requests.length, 1);
  });
});
