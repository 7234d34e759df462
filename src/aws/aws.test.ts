// SdkAwsAccess against a loopback endpoint that accepts connections and never answers: every call must end at its
// deadline as a temporary AwsFailure, never hold its caller forever.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { Reason } from "../domain/conditions.ts";
import { SdkAwsAccess } from "./aws.ts";
import { AwsFailure } from "./errors.ts";
import { RateLimiters } from "./rate-limit.ts";

describe("SdkAwsAccess deadlines", () => {
  let server: Server;
  const sockets = new Set<Socket>();
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    server = createServer((socket) => {
      sockets.add(socket); // read the request, never answer
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const env = {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "AKIDDEADLINETEST",
      AWS_SECRET_ACCESS_KEY: "deadline-test",
    };
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });

  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const unavailable = (err: unknown) => {
    assert.ok(err instanceof AwsFailure, `expected AwsFailure, got ${String(err)}`);
    assert.equal(err.reason, Reason.AWSUnavailable);
    assert.equal(err.temporary, true);
    return true;
  };

  test("AssumeRole with no answer fails at the request timeout as AWSUnavailable (temporary)", async () => {
    const aws = new SdkAwsAccess(new RateLimiters(), {}, 300);
    await assert.rejects(
      aws.assumeRole({ roleArn: "arn:aws:iam::123456789012:role/r", sessionName: "s", durationSeconds: 900 }),
      unavailable,
    );
  });

  test("an aborted signal ends a call that has no answer yet, long before the request timeout", async () => {
    const aws = new SdkAwsAccess(new RateLimiters(), {}, 600_000);
    const controller = new AbortController();
    const call = aws.callerIdentity(controller.signal);
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(call, unavailable);
  });
});
