// How a list of Secrets should be decoded into the cache: `node --expose-gc bench/decoding.ts [--n 10000]`.
// Builds the JSON the API server sends for n Secrets as the operator writes them (with managedFields, as server-side
// bookkeeping adds them), then, for each way of decoding, keeps what a cache would keep and reports the retained
// heap after a full GC and the decoding time. No test world needed; pure CPU and memory of this process.
import { parseArgs } from "node:util";
// The same deserialiser the typed clients (CoreV1Api.listSecretForAllNamespaces) run on every list.
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";
import { leanObject } from "../src/kube/projection.ts";
import type { CachedSecret } from "../src/credentials/ports.ts";
import { cachedSecret } from "../src/credentials/secret-view.ts";

const { values } = parseArgs({ options: { n: { type: "string", default: "10000" } } });
const n = Number(values.n);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

function secretJson(i: number): unknown {
  const b64 = (len: number) => Buffer.from("x".repeat(len)).toString("base64");
  return {
    metadata: {
      name: `creds-${i}`,
      namespace: "bench",
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      resourceVersion: String(100000 + i),
      creationTimestamp: "2026-11-30T05:00:00Z",
      labels: { "app.kubernetes.io/managed-by": "aws-assume-role-operator" },
      annotations: {
        "aws-assume-role.pincette.net/role-arn": "arn:aws:iam::123456789012:role/bench-role",
        "aws-assume-role.pincette.net/duration-seconds": "900",
        "aws-assume-role.pincette.net/expiration-time": "2026-11-30T05:15:00.000Z",
        "aws-assume-role.pincette.net/last-refresh-time": "2026-11-30T05:00:00.000Z",
        "aws-assume-role.pincette.net/spec-hash": "0123456789abcdef0123456789abcdef",
        "aws-assume-role.pincette.net/data-hash": "0123456789abcdef0123456789abcdef",
        "aws-assume-role.pincette.net/owner-uid": `10000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      },
      ownerReferences: [
        {
          apiVersion: "pincette.net/v1",
          kind: "AWSAssumeRole",
          name: `app-${i}`,
          uid: `10000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
          controller: true,
        },
      ],
      managedFields: [
        {
          manager: "aws-assume-role-operator",
          operation: "Update",
          apiVersion: "v1",
          time: "2026-11-30T05:00:00Z",
          fieldsType: "FieldsV1",
          fieldsV1: {
            "f:data": {
              ".": {},
              "f:awsAccessKeyId": {},
              "f:awsSecretAccessKey": {},
              "f:awsSessionToken": {},
            },
            "f:metadata": { "f:annotations": { ".": {} }, "f:labels": { ".": {} }, "f:ownerReferences": {} },
            "f:type": {},
          },
        },
      ],
    },
    type: "Opaque",
    data: { awsAccessKeyId: b64(20), awsSecretAccessKey: b64(40), awsSessionToken: b64(700) },
  };
}

const body = JSON.stringify({
  apiVersion: "v1",
  kind: "SecretList",
  metadata: { resourceVersion: "1" },
  items: Array.from({ length: n }, (_, i) => secretJson(i)),
});

const ways: Record<string, (text: string) => unknown[]> = {
  "typed (ObjectSerializer.deserialize), whole object": (text) =>
    (ObjectSerializer.deserialize(JSON.parse(text), "V1SecretList", "") as { items: unknown[] }).items,
  "raw JSON, whole object": (text) => (JSON.parse(text) as { items: unknown[] }).items,
  "raw JSON, managedFields and last-applied dropped": (text) =>
    (JSON.parse(text) as { items: { metadata?: unknown }[] }).items.map((o) => leanObject(o)),
  "raw JSON, projected (metadata + data hash)": (text) =>
    (JSON.parse(text) as { items: CachedSecret[] }).items.map((o) => cachedSecret(o)),
};

const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
process.stdout.write(`list of ${n} Secrets: ${mib(body.length)} MiB of JSON\n\n`);
process.stdout.write("| decoding | retained heap after GC (MiB) | KiB per Secret | decode time (ms) |\n");
process.stdout.write("| --- | ---: | ---: | ---: |\n");
for (const [name, decode] of Object.entries(ways)) {
  gc();
  const before = process.memoryUsage().heapUsed;
  const started = performance.now();
  let kept: unknown[] | undefined = decode(body);
  const ms = performance.now() - started;
  gc();
  const retained = process.memoryUsage().heapUsed - before;
  process.stdout.write(
    `| ${name} | ${mib(retained)} | ${(retained / n / 1024).toFixed(2)} | ${ms.toFixed(0)} |\n`,
  );
  if (kept.length !== n) throw new Error("lost objects");
  kept = undefined;
}
