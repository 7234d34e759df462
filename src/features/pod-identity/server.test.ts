import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { pino } from "pino";
import { startPodIdentityServer } from "./server.ts";
import type { PodIdentityServer } from "./server.ts";
import type { CertificatePair, ServingCertificateSource } from "./certificates.ts";
import { issueCa, issueServing } from "./x509.ts";

const HOUR = 3_600_000;

async function pair(): Promise<CertificatePair> {
  const now = Date.now();
  const ca = await issueCa("test CA", { notBeforeMs: now - HOUR, notAfterMs: now + 24 * HOUR });
  const serving = await issueServing(ca, "localhost", ["DNS:localhost", "IP:127.0.0.1"], {
    notBeforeMs: now - HOUR,
    notAfterMs: now + HOUR,
  });
  return { ...serving, ca: ca.cert };
}

/** A certificate source the test switches by hand. */
class ManualSource implements ServingCertificateSource {
  pair: CertificatePair;
  private readonly listeners = new Set<(p: CertificatePair) => void>();
  constructor(first: CertificatePair) {
    this.pair = first;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  current(): CertificatePair {
    return this.pair;
  }
  onChange(listener: (p: CertificatePair) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  stop(): void {}
  set(next: CertificatePair): void {
    this.pair = next;
    for (const l of this.listeners) l(next);
  }
}

function call(
  port: number,
  ca: string,
  method: string,
  path: string,
  body?: Buffer,
): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, method, path, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const serial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? "";
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), serial }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("the Pod Identity server", () => {
  let source: ManualSource;
  let server: PodIdentityServer;

  before(async () => {
    source = new ManualSource(await pair());
    server = await startPodIdentityServer({
      bindAddress: "127.0.0.1:0",
      certificates: source,
      logger: pino({ level: "silent" }),
      maxBodyBytes: 1024,
      routes: {
        "POST /mutate": (r) => ({ status: 200, body: { length: r.body.length } }),
        "GET /v1/pod-credentials": (r) => ({
          status: 200,
          body: { token: r.headers["x-pod-token"] ?? null },
        }),
        "GET /fails": () => {
          throw new Error("boom");
        },
      },
    });
  });
  after(() => server.close());

  test("routes by method and path", async () => {
    const answer = await call(server.port, source.pair.ca, "POST", "/mutate?timeout=10s", Buffer.from("abc"));
    assert.deepEqual(
      { status: answer.status, body: JSON.parse(answer.body) },
      { status: 200, body: { length: 3 } },
    );
  });

  test("an unknown route is 404 JSON, a known path with another method 405", async () => {
    const missing = await call(server.port, source.pair.ca, "GET", "/nothing");
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).Code, "NotFound");
    const method = await call(server.port, source.pair.ca, "GET", "/mutate");
    assert.equal(method.status, 405);
  });

  test("a body over the limit is refused with 413", async () => {
    const answer = await call(server.port, source.pair.ca, "POST", "/mutate", Buffer.alloc(2048));
    assert.equal(answer.status, 413);
  });

  test("a failing handler is a 500 without its message", async () => {
    const answer = await call(server.port, source.pair.ca, "GET", "/fails");
    assert.equal(answer.status, 500);
    assert.doesNotMatch(answer.body, /boom/);
  });

  test("serves a new certificate as soon as the source has one", async () => {
    const before = await call(server.port, source.pair.ca, "POST", "/mutate");
    const next = await pair();
    source.set(next);
    const afterSwap = await call(server.port, next.ca, "POST", "/mutate");
    assert.equal(afterSwap.status, 200);
    assert.notEqual(afterSwap.serial, before.serial);
    assert.equal(afterSwap.serial, new X509Certificate(next.cert).serialNumber);
  });
});
