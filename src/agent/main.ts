// Entry point of the node agent (`node dist/agent/main.js`): read the config, check this node holds the listen
// addresses, run the agent on them, stop on SIGTERM. Imports node: built-ins only; its RSS counts once per node.
import { hostname, networkInterfaces } from "node:os";
import { isAddressOfThisNode, LINK_LOCAL_ADDRESSES } from "./addresses.ts";
import { startAgent } from "./agent.ts";
import { AgentConfigError, parseAgentConfig } from "./config.ts";
import { createAgentLog } from "./logging.ts";

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseAgentConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof AgentConfigError)) throw err;
    process.stderr.write(`aws-pod-identity-agent: ${err.message}\n`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(parsed.text);
    return;
  }
  const config = parsed.config;
  const log = createAgentLog(config.logLevel, {
    component: "aws-pod-identity-agent",
    node: config.nodeName || hostname(),
  });
  const interfaces = networkInterfaces();
  for (const { host } of config.listen) {
    if (!isAddressOfThisNode(host, interfaces)) {
      process.stderr.write(
        `aws-pod-identity-agent: ${host} is not an address of this node: the agent's init step, or the test world, puts it on an interface\n`,
      );
      process.exit(1);
    }
  }
  const agent = await startAgent(config, { permittedAddresses: LINK_LOCAL_ADDRESSES, log });
  log.info("started", {
    listen: config.listen
      .map((l) => (l.host.includes(":") ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`))
      .join(","),
    authority: config.authorityUrl.origin,
    authorityAddress: config.authorityAddress,
    cacheMaxEntries: config.cacheMaxEntries,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    agent.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`aws-pod-identity-agent: ${(err as Error).message}\n`);
  process.exit(1);
});
