import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

test("the reader's line is found among other log lines; the first read is kept apart from the rest", () => {
  const log = [
    '{"level":"info"}',
    "noise",
    JSON.stringify({ readsMs: [0.5, 0.01, 0.02, 0.03], keys: 3 }),
    "",
  ];
  const result = parseReaderLog(log.join("\n"));
  assert.ok(result);
  assert.equal(result.firstMs, 0.5);
  assert.equal(result.rest.count, 3);
  assert.equal(result.rest.p50, 0.02);
  assert.equal(result.rest.max, 0.03);
  assert.equal(result.keys, 3);
});

test("a log without the reader's line (the Pod not done yet, or cut short) gives no result", () => {
  assert.equal(parseReaderLog(""), undefined);
  assert.equal(parseReaderLog('{"readsMs":[]}\n{"readsMs":[1,2'), undefined);
});

test("the reader program reads and parses a credentials file as many times as asked", () => {
  // Runs the program as the Pod would, with the mount path swapped for a temporary directory.
  const dir = mkdtempSync(join(tmpdir(), "reader-"));
  try {
    writeFileSync(join(dir, READER_KEY), credentialsFile("ASIAEXAMPLE", "secret", "token"));
    const script = READER_SCRIPT.replace(
      JSON.stringify(`${READER_MOUNT}/${READER_KEY}`),
      JSON.stringify(join(dir, READER_KEY)),
    );
    const out = spawnSync(process.execPath, ["-e", script], { env: { READS: "5" }, encoding: "utf8" });
    assert.equal(out.status, 0, out.stderr);
    const result = parseReaderLog(out.stdout);
    assert.ok(result);
    assert.equal(result.rest.count, 4);
    assert.equal(result.keys, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("latencies print with the precision their size needs", () => {
  assert.deepEqual(
    [ms(0.0123), ms(7.236), ms(20.44), ms(165.4), ms(NaN)],
    ["0.01", "7.24", "20.4", "165", "–"],
  );
  assert.deepEqual(latencyRow("x", [3, 1, 2]), ["x", "3", "2.00", "3.00", "3.00"]);
});

test("per-1,000 figures and ratios", () => {
  assert.equal(perThousand(0.21, 50), 4.2);
  assert.ok(Number.isNaN(perThousand(1, 0)));
  assert.equal(ratio(20.4, 1.4), "×14.6");
  assert.equal(ratio(1.55, 0.01), "×155");
  assert.equal(ratio(59.7, 57.8), "×1.03");
  assert.equal(ratio(1, 0), "–");
});

test("TokenReviews and Pod GETs per fetch come from the request counts of the window", () => {
  const counts = new Map([
    ["POST authentication.k8s.io/tokenreviews", 1003],
    ["GET pods", 1000],
    ["LIST pods", 7],
  ]);
  assert.deepEqual(requestsPerFetch(counts, 1000), { tokenReviews: 1.003, podGets: 1 });
});
