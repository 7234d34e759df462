// A workload that uses the operator's credentials the way applications do: every INTERVAL_MS it resolves
// credentials through the SDK's default chain (environment variables, or the shared credentials file named by
// AWS_SHARED_CREDENTIALS_FILE, re-read every time) and calls STS GetCallerIdentity. One JSON line per call:
//   {"time","accessKeyId","arn"} or {"time","accessKeyId","error"}
// plus {"time","event":"credentials-changed","accessKeyId"} when the access key it reads changes (for a mounted
// Secret: when the kubelet has updated the file inside the container). Secrets are never printed.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { defaultProvider } from "@aws-sdk/credential-provider-node";

const intervalMs = Number(process.env.INTERVAL_MS ?? "1000");
let lastKey: string | undefined;
let stopping = false;

function print(fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...fields }) + "\n");
}

async function once(): Promise<void> {
  let accessKeyId: string | undefined;
  try {
    const credentials = await defaultProvider({ ignoreCache: true })();
    accessKeyId = credentials.accessKeyId;
    if (accessKeyId !== lastKey) {
      print({ event: "credentials-changed", accessKeyId });
      lastKey = accessKeyId;
    }
    const client = new STSClient({ credentials });
    const identity = await client.send(new GetCallerIdentityCommand({}));
    client.destroy();
    print({ accessKeyId, arn: identity.Arn });
  } catch (err) {
    print({ accessKeyId, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
}

process.on("SIGTERM", () => {
  stopping = true;
});
while (!stopping) {
  await once();
  await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
