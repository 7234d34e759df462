// The AWS proxy against a real moto_server, driven by the real AWS SDK v3 clients.
// Needs testenv/.venv/bin/moto_server (installed by scripts/testenv); skips if it is missing.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
  type Credentials as StsCredentials,
} from "@aws-sdk/client-sts";
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { startAwsProxy, type AwsProxy } from "./proxy.ts";
import { AwsProxyClient } from "../../test/support/aws-proxy-client.ts";

const MOTO = fileURLToPath(new URL("../.venv/bin/moto_server", import.meta.url));
const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const HAVE_MOTO = existsSync(MOTO);
const ROLE_ARN = "arn:aws:iam::123456789012:role/test-role";
const TEST_CREDS = { accessKeyId: "AKIDPROXYTEST", secretAccessKey: "proxy-test-secret" };

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${String(lastErr)}`);
}

function near(actualMs: number, expectedMs: number, toleranceMs: number, what: string): void {
  assert.ok(
    Math.abs(actualMs - expectedMs) <= toleranceMs,
    `${what}: ${new Date(actualMs).toISOString()} is not within ${toleranceMs} ms of ${new Date(expectedMs).toISOString()}`,
  );
}

describe(
  "aws proxy against moto",
  { skip: HAVE_MOTO ? false : `skipped: ${MOTO} not found (run scripts/testenv to install moto)` },
  () => {
    let moto: ChildProcess;
    let motoUrl: string;
    let proxy: AwsProxy;
    let nextRandom = 0;
    let sts: STSClient;
    let ecr: ECRClient;

    const stsWith = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
      new STSClient({ endpoint: proxy.url, region: "us-east-1", credentials, maxAttempts: 1 });
    const ecrWith = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
      new ECRClient({ endpoint: proxy.url, region: "us-east-1", credentials, maxAttempts: 1 });
    const assumeRole = async (session: string, durationSeconds = 900): Promise<StsCredentials> => {
      const out = await sts.send(
        new AssumeRoleCommand({
          RoleArn: ROLE_ARN,
          RoleSessionName: session,
          DurationSeconds: durationSeconds,
        }),
      );
      assert.ok(out.Credentials);
      return out.Credentials;
    };
    const assumed = (c: StsCredentials) => ({
      accessKeyId: c.AccessKeyId!,
      secretAccessKey: c.SecretAccessKey!,
      sessionToken: c.SessionToken!,
    });

    before(async () => {
      const port = await freePort();
      motoUrl = `http://127.0.0.1:${port}`;
      moto = spawn(MOTO, ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
      await waitFor("moto_server", async () =>
        (await fetch(`${motoUrl}/moto-api/`)).status > 0 ? true : undefined,
      );
      proxy = await startAwsProxy({ upstream: motoUrl, random: () => nextRandom });
      sts = stsWith(TEST_CREDS);
      ecr = ecrWith(TEST_CREDS);
    });

    after(async () => {
      sts?.destroy();
      ecr?.destroy();
      await proxy?.close();
      if (moto && moto.exitCode === null) {
        const exited = new Promise((r) => moto.once("exit", r));
        moto.kill("SIGTERM");
        await exited;
      }
    });

    beforeEach(() => {
      proxy.reset();
      nextRandom = 0;
    });

    test("AssumeRole passes through with Expiration following DurationSeconds, and is recorded", async () => {
      const before = Date.now();
      const creds = await assumeRole("sess-plain", 900);
      assert.match(creds.AccessKeyId!, /^ASIA/);
      near(creds.Expiration!.getTime(), before + 900_000, 10_000, "Expiration");

      const [rec, ...rest] = proxy.records({ service: "sts", action: "AssumeRole" });
      assert.equal(rest.length, 0);
      assert.ok(rec);
      assert.equal(rec.service, "sts");
      assert.equal(rec.region, "us-east-1");
      assert.equal(rec.status, 200);
      assert.equal(rec.accessKeyId, TEST_CREDS.accessKeyId);
      assert.equal(rec.fault, undefined);
      assert.equal(rec.params["RoleArn"], ROLE_ARN);
      assert.equal(rec.params["RoleSessionName"], "sess-plain");
      assert.equal(rec.params["DurationSeconds"], "900");
      assert.equal(rec.issued?.accessKeyId, creds.AccessKeyId);
      assert.equal(rec.issued?.secretAccessKey, creds.SecretAccessKey);
      assert.equal(rec.issued?.sessionToken, creds.SessionToken);
      // moto sends microseconds; the SDK keeps milliseconds.
      assert.ok(Math.abs(Date.parse(rec.issued!.expiration!) - creds.Expiration!.getTime()) <= 1);
      assert.ok(!Number.isNaN(Date.parse(rec.time)));
      assert.ok(rec.durationMs >= 0);
    });

    test("setLifetime({stsSeconds}) shortens the STS Expiration", async () => {
      proxy.setLifetime({ stsSeconds: 30 });
      const before = Date.now();
      const creds = await assumeRole("sess-short", 3600);
      near(creds.Expiration!.getTime(), before + 30_000, 3_000, "Expiration");
      const rec = proxy.records({ action: "AssumeRole" })[0];
      assert.equal(Date.parse(rec!.issued!.expiration!), creds.Expiration!.getTime());
    });

    test("rejectExpired answers calls signed with expired issued credentials ExpiredToken, as AWS does", async () => {
      proxy.setLifetime({ stsSeconds: -1 });
      const expired = stsWith(assumed(await assumeRole("sess-expired")));
      proxy.setLifetime({ stsSeconds: 600 });
      const fresh = stsWith(assumed(await assumeRole("sess-fresh")));
      try {
        // Without the option moto accepts the expired credentials.
        await expired.send(new GetCallerIdentityCommand({}));
        proxy.setLifetime({ stsSeconds: 600, rejectExpired: true });
        await assert.rejects(expired.send(new GetCallerIdentityCommand({})), { name: "ExpiredToken" });
        await fresh.send(new GetCallerIdentityCommand({}));
        await sts.send(new GetCallerIdentityCommand({})); // keys the proxy did not issue pass
      } finally {
        expired.destroy();
        fresh.destroy();
      }
      const calls = proxy.records({ action: "GetCallerIdentity" });
      assert.deepEqual(
        calls.map((r) => [r.callerSession, r.status, r.rejected]),
        [
          ["sess-expired", 200, undefined],
          ["sess-expired", 403, "ExpiredToken"],
          ["sess-fresh", 200, undefined],
          [undefined, 200, undefined],
        ],
      );
    });

    test("ECR token expires after 12 h by default, or after ecrSeconds", async () => {
      let before = Date.now();
      let out = await ecr.send(new GetAuthorizationTokenCommand({}));
      let data = out.authorizationData?.[0];
      assert.ok(data?.authorizationToken);
      near(data.expiresAt!.getTime(), before + 12 * 3600_000, 5_000, "expiresAt (default)");

      proxy.setLifetime({ ecrSeconds: 20 });
      before = Date.now();
      out = await ecr.send(new GetAuthorizationTokenCommand({}));
      data = out.authorizationData?.[0];
      near(data!.expiresAt!.getTime(), before + 20_000, 3_000, "expiresAt (shortened)");

      const recs = proxy.records({ service: "ecr", action: "GetAuthorizationToken" });
      assert.equal(recs.length, 2);
      assert.equal(recs[1]?.issued?.authorizationToken, data!.authorizationToken);
      assert.equal(recs[1]?.issued?.expiresAt, data!.expiresAt!.toISOString());
      assert.deepEqual(recs[1]?.params, {});
    });

    test("callerSession ties an ECR call to the AssumeRole that issued its key; GetCallerIdentity passes through", async () => {
      const creds = await assumeRole("sess-ecr");
      proxy.clearRecords(); // the key -> session mapping survives
      const assumedEcr = ecrWith(assumed(creds));
      const assumedSts = stsWith(assumed(creds));
      try {
        await assumedEcr.send(new GetAuthorizationTokenCommand({}));
        const id = await assumedSts.send(new GetCallerIdentityCommand({}));
        assert.match(id.Arn!, /^arn:aws:sts::123456789012:assumed-role\/test-role\/sess-ecr$/);
      } finally {
        assumedEcr.destroy();
        assumedSts.destroy();
      }
      const [ecrRec] = proxy.records({ service: "ecr" });
      assert.equal(ecrRec?.accessKeyId, creds.AccessKeyId);
      assert.equal(ecrRec?.callerSession, "sess-ecr");
      const [idRec] = proxy.records({ action: "GetCallerIdentity" });
      assert.equal(idRec?.status, 200);
      assert.equal(idRec?.callerSession, "sess-ecr");
      // The static test key was not issued by an AssumeRole.
      await ecr.send(new GetAuthorizationTokenCommand({}));
      assert.equal(proxy.records({ service: "ecr" })[1]?.callerSession, undefined);
    });

    test("throttle reaches the SDK as the service's throttling error", async () => {
      proxy.setFaults([{ kind: "throttle" }]);
      await assert.rejects(
        assumeRole("sess-throttle"),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.name, "Throttling");
          assert.equal(err.message, "Rate exceeded");
          assert.equal(err.$metadata?.httpStatusCode, 400);
          return true;
        },
      );
      await assert.rejects(
        ecr.send(new GetAuthorizationTokenCommand({})),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.name, "ThrottlingException");
          assert.equal(err.$metadata?.httpStatusCode, 400);
          return true;
        },
      );
      const recs = proxy.records();
      assert.deepEqual(
        recs.map((r) => [r.service, r.action, r.status, r.fault]),
        [
          ["sts", "AssumeRole", 400, "throttle"],
          ["ecr", "GetAuthorizationToken", 400, "throttle"],
        ],
      );
    });

    test("unavailable -> 503; error -> the given code; rules match service/action, first match wins", async () => {
      proxy.setFaults([
        { service: "ecr", kind: "unavailable" },
        {
          service: "sts",
          action: "AssumeRole",
          kind: "error",
          httpStatus: 400,
          code: "ValidationError",
          message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        },
        { service: "sts", kind: "throttle" },
      ]);
      await assert.rejects(
        ecr.send(new GetAuthorizationTokenCommand({})),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.name, "ServiceUnavailableException");
          assert.equal(err.$metadata?.httpStatusCode, 503);
          return true;
        },
      );
      await assert.rejects(
        assumeRole("sess-err", 43200),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.name, "ValidationError");
          assert.equal(
            err.message,
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
          );
          assert.equal(err.$metadata?.httpStatusCode, 400);
          return true;
        },
      );
      await assert.rejects(sts.send(new GetCallerIdentityCommand({})), { name: "Throttling" });

      proxy.setFaults([{ service: "sts", kind: "unavailable" }]);
      await assert.rejects(
        assumeRole("sess-503"),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.name, "ServiceUnavailable");
          assert.equal(err.$metadata?.httpStatusCode, 503);
          return true;
        },
      );
    });

    test("drop closes the connection without a response", async () => {
      proxy.setFaults([{ service: "sts", kind: "drop", count: 1 }]);
      await assert.rejects(
        assumeRole("sess-drop"),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.$metadata?.httpStatusCode, undefined, `expected a network error, got ${err.name}`);
          return true;
        },
      );
      const [rec] = proxy.records();
      assert.equal(rec?.status, 0);
      assert.equal(rec?.fault, "drop");
      await assumeRole("sess-after-drop"); // the client recovers on a new connection
    });

    test("hang holds the chosen sessions' requests unanswered until the client gives up; others pass", async () => {
      proxy.setFaults([{ action: "AssumeRole", sessionPrefix: "hung-", kind: "hang" }]);
      const impatient = new STSClient({
        endpoint: proxy.url,
        region: "us-east-1",
        credentials: TEST_CREDS,
        maxAttempts: 1,
        requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true },
      });
      await assert.rejects(
        impatient.send(
          new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: "hung-1", DurationSeconds: 900 }),
        ),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.$metadata?.httpStatusCode, undefined, `expected no answer, got ${err.name}`);
          return true;
        },
      );
      await assumeRole("fine-1");
      await waitFor("the hung request's record", async () =>
        proxy.records().find((r) => r.fault === "hang") ? true : undefined,
      );
      const hung = proxy.records().find((r) => r.fault === "hang");
      assert.equal(hung?.status, 0);
      assert.equal(hung?.params["RoleSessionName"], "hung-1");
      assert.equal(proxy.records().find((r) => r.params["RoleSessionName"] === "fine-1")?.status, 200);
      impatient.destroy();
    });

    test("count limits a rule; probability uses the injected randomness; latency delays", async () => {
      proxy.setFaults([{ action: "AssumeRole", kind: "throttle", count: 2 }]);
      await assert.rejects(assumeRole("c1"), { name: "Throttling" });
      await assert.rejects(assumeRole("c2"), { name: "Throttling" });
      await assumeRole("c3");
      assert.deepEqual(
        proxy.records().map((r) => r.fault ?? "none"),
        ["throttle", "throttle", "none"],
      );

      proxy.setFaults([{ kind: "throttle", probability: 0.5 }]);
      nextRandom = 0.7;
      await assumeRole("p1");
      nextRandom = 0.2;
      await assert.rejects(assumeRole("p2"), { name: "Throttling" });

      proxy.clearRecords();
      proxy.setFaults([{ kind: "latency", latencyMs: 400 }]);
      const t0 = Date.now();
      await assumeRole("slow");
      assert.ok(Date.now() - t0 >= 390, "latency was not applied");
      const [rec] = proxy.records();
      assert.equal(rec?.fault, "latency");
      assert.equal(rec?.status, 200);
      assert.ok(rec!.durationMs >= 390);

      proxy.clearFaults();
      await assumeRole("fast");
      assert.equal(proxy.records().at(-1)?.fault, undefined);
    });

    test("other requests are forwarded unchanged and recorded as unknown", async () => {
      const res = await fetch(`${proxy.url}/moto-api/data.json`);
      assert.equal(res.status, 200);
      const direct = await fetch(`${motoUrl}/moto-api/data.json`);
      assert.equal(res.headers.get("content-type"), direct.headers.get("content-type"));
      assert.ok(typeof (await res.json()) === "object");
      await direct.arrayBuffer();
      const [rec] = proxy.records();
      assert.equal(rec?.service, "unknown");
      assert.equal(rec?.status, 200);
    });

    test("the HTTP control API via AwsProxyClient works the same", async () => {
      const client = new AwsProxyClient(proxy.url);
      const health = await client.health();
      assert.equal(health.ok, true);
      assert.equal(health.upstream, motoUrl);

      await client.setLifetime({ stsSeconds: 40, ecrSeconds: 50 });
      const before = Date.now();
      const creds = await assumeRole("http-sess");
      near(creds.Expiration!.getTime(), before + 40_000, 3_000, "Expiration");
      const assumedEcr = ecrWith(assumed(creds));
      const token = await assumedEcr.send(new GetAuthorizationTokenCommand({}));
      assumedEcr.destroy();
      near(token.authorizationData![0]!.expiresAt!.getTime(), before + 50_000, 3_000, "expiresAt");

      const all = await client.records();
      assert.equal(all.length, 2);
      const [ar] = await client.records({ service: "sts", action: "AssumeRole" });
      assert.equal(ar?.params["RoleSessionName"], "http-sess");
      assert.equal(ar?.issued?.accessKeyId, creds.AccessKeyId);
      const since = await client.records({ sinceSeq: ar!.seq });
      assert.equal(since.length, 1);
      assert.equal(since[0]?.callerSession, "http-sess");

      await client.setFaults([{ service: "ecr", kind: "throttle", count: 1 }]);
      await assert.rejects(ecr.send(new GetAuthorizationTokenCommand({})), { name: "ThrottlingException" });
      await ecr.send(new GetAuthorizationTokenCommand({}));
      await client.setFaults([{ kind: "unavailable" }]);
      await client.clearFaults();
      await assumeRole("after-clear");

      await client.clearRecords();
      assert.deepEqual(await client.records(), []);
      await assert.rejects(client.setFaults([{ kind: "bogus" } as never]), /HTTP 400/);

      await client.setFaults([{ kind: "throttle" }]);
      await client.reset();
      const h = await client.health();
      assert.deepEqual([h.records, h.faults, h.lifetime], [0, 0, {}]);
      const after = Date.now();
      near(
        (await assumeRole("after-reset", 900)).Expiration!.getTime(),
        after + 900_000,
        10_000,
        "Expiration",
      );
    });

    test("main.ts CLI starts a proxy, writes --url-file and exits cleanly on SIGTERM", async () => {
      const dir = await mkdtemp(join(tmpdir(), "aws-proxy-"));
      const urlFile = join(dir, "url");
      const child = spawn(
        process.execPath,
        [MAIN, "--upstream", motoUrl, "--port", "0", "--url-file", urlFile],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let stdout = "";
      child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      try {
        const url = await waitFor(
          "url file",
          async () => (await readFile(urlFile, "utf8")).trim() || undefined,
        );
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
        // The file can be visible before the line printed with it has reached this process.
        const line = await waitFor("first stdout line", async () =>
          stdout.includes("\n") ? stdout.split("\n")[0] : undefined,
        );
        const first = JSON.parse(line!);
        assert.equal(first.url, url);
        const client = new AwsProxyClient(url);
        assert.equal((await client.health()).ok, true);
        const cliSts = new STSClient({
          endpoint: url,
          region: "us-east-1",
          credentials: TEST_CREDS,
          maxAttempts: 1,
        });
        await cliSts.send(new GetCallerIdentityCommand({}));
        cliSts.destroy();
        assert.equal((await client.records({ action: "GetCallerIdentity" })).length, 1);
        child.kill("SIGTERM");
        assert.equal(await exited, 0);
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
        await rm(dir, { recursive: true, force: true });
      }
    });
  },
);
