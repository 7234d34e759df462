// A workload that uses the operator's credentials the way applications do: every INTERVAL_MS it calls STS
// GetCallerIdentity with credentials from the SDK's default chain (environment variables, or the shared
// credentials file named by AWS_SHARED_CREDENTIALS_FILE). MODE says how long it keeps them:
//   per-call  (default) the chain resolved anew for every call (defaultProvider({ ignoreCache: true })), the file
//             re-read every time
//   client    one STSClient for the life of the process, credentials left to the SDK (what applications do)
// One JSON line per call:
//   {"time","sdk","mode","result":"ok"|"expired"|"error","accessKeyId","key","fileKey","arn"|"error"}
// plus {"time","event":"credentials-changed","accessKeyId","key"} when the access key it signs with changes. "key" is
// the access key it signed with, "fileKey" the one the mounted file holds now, both as fingerprints (the first 8 hex
// digits of the SHA-256 of the access key id), as the other consumers print them. Secrets are never printed.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { defaultProvider } from "@aws-sdk/credential-provider-node";

const intervalMs = Number(process.env.INTERVAL_MS ?? "1000");
const mode = process.env.MODE ?? "per-call";
const stsPackage = new URL("./node_modules/@aws-sdk/client-sts/package.json", import.meta.url);
const sdk = `aws-sdk-js-v3 ${(JSON.parse(readFileSync(stsPackage, "utf8")) as { version: string }).version}`;
const shared = mode === "client" ? new STSClient({}) : undefined;
let lastKey: string | undefined;
let stopping = false;

function print(fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...fields }) + "\n");
}

const fingerprint = (key: string | undefined): string | undefined =>
  key === undefined ? undefined : createHash("sha256").update(key).digest("hex").slice(0, 8);

/** The access key id the mounted credentials file holds now (what the kubelet last wrote into it). */
function fileKey(): string | undefined {
  const file = process.env.AWS_SHARED_CREDENTIALS_FILE;
  if (!file) return undefined;
  try {
    return /aws_access_key_id\s*=\s*(\S+)/.exec(readFileSync(file, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

async function once(): Promise<void> {
  let accessKeyId: string | undefined;
  try {
    let client = shared;
    if (client) {
      accessKeyId = (await client.config.credentials()).accessKeyId;
    } else {
      const credentials = await defaultProvider({ ignoreCache: true })();
      accessKeyId = credentials.accessKeyId;
      client = new STSClient({ credentials });
    }
    if (accessKeyId !== lastKey) {
      print({ event: "credentials-changed", accessKeyId, key: fingerprint(accessKeyId) });
      lastKey = accessKeyId;
    }
    const base = { sdk, mode, accessKeyId, key: fingerprint(accessKeyId) };
    try {
      const identity = await client.send(new GetCallerIdentityCommand({}));
      print({ ...base, result: "ok", fileKey: fingerprint(fileKey()), arn: identity.Arn });
    } finally {
      if (client !== shared) client.destroy();
    }
  } catch (err) {
    const name = err instanceof Error ? err.name : "";
    print({
      sdk,
      mode,
      result: name === "ExpiredToken" ? "expired" : "error",
      accessKeyId,
      key: fingerprint(accessKeyId),
      fileKey: fingerprint(fileKey()),
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
  }
}

process.on("SIGTERM", () => {
  stopping = true;
});
while (!stopping) {
  await once();
  await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
