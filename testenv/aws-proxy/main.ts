// CLI for the AWS proxy of the test world:
//   npx node testenv/aws-proxy/main.ts --upstream http://127.0.0.1:5000 [--host 127.0.0.1] [--port 0] [--url-file path]
// Prints one JSON log line with the proxy URL, writes the URL to --url-file if given, exits on SIGTERM/SIGINT.
import { parseArgs } from "node:util";
import { rename, writeFile } from "node:fs/promises";
import { startAwsProxy } from "./proxy.ts";

function log(level: string, msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + "\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      upstream: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      "url-file": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.upstream) throw new Error("--upstream is required (e.g. --upstream http://127.0.0.1:5000)");
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0..65535, got ${values.port}`);

  const proxy = await startAwsProxy({ upstream: values.upstream, host: values.host, port });
  if (values["url-file"]) {
    const file = values["url-file"];
    await writeFile(`${file}.tmp`, proxy.url + "\n");
    await rename(`${file}.tmp`, file);
  }
  log("info", "aws proxy listening", { url: proxy.url, upstream: values.upstream, pid: process.pid });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log("info", "aws proxy stopping", { signal });
    proxy.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  log("error", "aws proxy failed", { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
