import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { CertificateDirectory } from "./certificates.ts";
import type { CertificatePair } from "./certificates.ts";
import { issueCa, issueServing } from "./x509.ts";

const HOUR = 3_600_000;

async function writePair(directory: string, keyOf?: string): Promise<{ cert: string; key: string }> {
  const now = Date.now();
  const ca = await issueCa("test CA", { notBeforeMs: now - HOUR, notAfterMs: now + HOUR });
  const serving = await issueServing(ca, "svc", ["DNS:svc"], {
    notBeforeMs: now - HOUR,
    notAfterMs: now + HOUR,
  });
  await writeFile(join(directory, "ca.crt"), ca.cert);
  await writeFile(join(directory, "tls.crt"), serving.cert);
  await writeFile(join(directory, "tls.key"), keyOf ?? serving.key);
  return serving;
}

test("--pod-identity-cert-dir: loads the files, reloads a new pair and refuses a key of another certificate", async (t) => {
  const directory = await mkdtemp(join(tmpdir(), "pod-identity-certs-"));
  t.after(() => rm(directory, { recursive: true, force: true }));
  const first = await writePair(directory);
  const source = new CertificateDirectory({
    directory,
    logger: pino({ level: "silent" }),
    pollIntervalMs: HOUR,
  });
  await source.start();
  t.after(() => source.stop());
  assert.equal(source.current()?.cert, first.cert);
  const seen: CertificatePair[] = [];
  source.onChange((pair) => seen.push(pair));

  await source.reload();
  assert.equal(seen.length, 0, "unchanged files are no change");

  const second = await writePair(directory);
  await source.reload();
  assert.deepEqual(
    seen.map((p) => p.cert),
    [second.cert],
  );

  await writePair(directory, first.key);
  await assert.rejects(source.reload(), /does not belong/);
  assert.equal(source.current()?.cert, second.cert, "the previous pair stays");
});
