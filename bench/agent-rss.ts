// The node agent's memory, the figure a DaemonSet multiplies by the number of nodes:
// `npm run build && npx node bench/agent-rss.ts [--tokens 100,1000,10000] [--node-options=...]`. Runs the compiled agent (dist/agent) in a
// child process on 127.0.0.1 against a stand-in authority, and reads the child's RSS from /proc after start and
// after each number of distinct cached Pod tokens; a bare node:http server is measured the same way beside it.
// Needs no test world; prints a Markdown table.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { AUTHORITY_NAME, makeTestPki, startFakeAuthority } from "../src/agent/authority.fakes.ts";

const ROOT = resolve(import.meta.dirname, "..");
/** How long a process is left alone before its RSS is read. */
export const SETTLE_MS = 2000;
/** V8 flags the agent runs with: a small young generation, no optimizing compilers (a few requests a minute). */
export const AGENT_NODE_FLAGS = "--max-semi-space-size=1 --no-opt --no-maglev";

const AGENT_CHILD = `
import { startAgent } from ${JSON.stringify(join(ROOT, "dist/agent/agent.js"))};
import { createAgentLog } from ${JSON.stringify(join(ROOT, "dist/agent/logging.js"))};
const [url, caFile, tokenFile] = process.argv.slice(1);
const agent = await startAgent(
  { listen: [{ host: "127.0.0.1", port: 0 }], authorityUrl: new URL(url), authorityAddress: "127.0.0.1",
    authorityCaFile: caFile, tokenFile, cacheMaxEntries: 10000 },
  { permittedAddresses: ["127.0.0.1"], log: createAgentLog("warn", { component: "aws-pod-identity-agent" }) },
);
process.stdout.write(agent.servers[0].address().port + "\\n");
`;

/**
 * A bare node:http server on a free loopback port, which prints its port: what the agent is measured against. It takes
 * node:http as the agent does (process.getBuiltinModule): an ES module import of it loads undici (about 12 MiB).
 */
export const BARE_CHILD = `
const { createServer } = process.getBuiltinModule("node:http");
const server = createServer((req, res) => res.end("ok")).listen(0, "127.0.0.1", () =>
  process.stdout.write(server.address().port + "\\n"));
`;

/** VmRSS, and its anonymous part (heap, buffers) and file part (pages of the node binary it has touched). */
export function rss(pid: number): { total: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
  return { total: mib("VmRSS"), anon: mib("RssAnon"), file: mib("RssFile") };
}

/** Runs `script` (an ES module) in a child Node with `nodeOptions`; resolves once it printed its port. */
export async function spawnChild(
  script: string,
  args: string[],
  nodeOptions: string[],
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...nodeOptions, "--input-type=module", "-e", script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stdout!.once("data", (d: Buffer) => resolvePort(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`child exited ${code}`)));
  });
  return { child, port };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const random = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("base64url");

function fetchCredentials(port: number, token: string, agent: Agent): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/credentials",
        headers: { host: "127.0.0.1", authorization: token },
        agent,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolveStatus(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tokens: { type: "string", default: "1000,10000" },
      // The DaemonSet's command line (docs/pod-identity.md, "The node agent"); --node-options= for Node's defaults.
      "node-options": { type: "string", default: AGENT_NODE_FLAGS },
    },
  });
  const steps = values.tokens.split(",").map(Number);
  const nodeOptions = values["node-options"].split(" ").filter(Boolean);
  if (!existsSync(join(ROOT, "dist/agent/agent.js"))) throw new Error("run `npm run build` first");
  const pki = makeTestPki();
  const dir = mkdtempSync(join(tmpdir(), "agent-rss-"));
  const authority = await startFakeAuthority(pki);
  // Answers the size of real ones: a session token of about 1,000 characters.
  authority.reply = () => ({
    status: 200,
    body: {
      AccessKeyId: `ASIA${random(12).toUpperCase()}`.slice(0, 20),
      SecretAccessKey: random(30),
      Token: random(750),
      Expiration: new Date(Date.now() + 3_600_000).toISOString(),
      AccountId: "123456789012",
    },
  });
  writeFileSync(join(dir, "token"), random(700));
  const children: ChildProcess[] = [];
  try {
    const bare = await spawnChild(BARE_CHILD, [], nodeOptions);
    children.push(bare.child);
    const agent = await spawnChild(
      AGENT_CHILD,
      [`https://${AUTHORITY_NAME}:${authority.port}`, pki.caFile, join(dir, "token")],
      nodeOptions,
    );
    children.push(agent.child);
    await sleep(SETTLE_MS);
    const rows = [
      ["bare node:http server, after start", rss(bare.child.pid!)],
      ["agent, after start", rss(agent.child.pid!)],
    ] as [string, ReturnType<typeof rss>][];
    const pool = new Agent({ keepAlive: true, maxSockets: 16 });
    let done = 0;
    for (const step of steps) {
      const tokens = Array.from({ length: step - done }, () => `eyJ${random(900)}`);
      for (let i = 0; i < tokens.length; i += 16) {
        const statuses = await Promise.all(
          tokens.slice(i, i + 16).map((t) => fetchCredentials(agent.port, t, pool)),
        );
        if (statuses.some((s) => s !== 200)) throw new Error(`agent answered ${statuses.join(",")}`);
      }
      done = step;
      await sleep(SETTLE_MS);
      rows.push([`agent, ${step.toLocaleString("en")} distinct Pod tokens cached`, rss(agent.child.pid!)]);
    }
    pool.destroy();
    process.stdout.write(
      [
        `node ${process.version}${nodeOptions.length ? ` ${nodeOptions.join(" ")}` : ""}, ${authority.requests.length} authority requests over ${authority.connections} TLS connection(s)`,
        "",
        "| process | RSS (MiB) | anonymous | file-backed |",
        "| --- | --- | --- | --- |",
        ...rows.map(
          ([what, m]) => `| ${what} | ${m.total.toFixed(1)} | ${m.anon.toFixed(1)} | ${m.file.toFixed(1)} |`,
        ),
        "",
      ].join("\n"),
    );
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await authority.close();
    pki.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
