// The node agent's flags and their environment twins → one validated AgentConfig. Kept apart from the operator's
// config so the agent loads nothing but node: built-ins (it runs on every node; its memory counts once per node).
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { FLAGS, flagsHelp } from "../flags.ts";
import type { FlagSpec } from "../flags.ts";
import { parseBindAddress } from "../ops/bind-address.ts";
import { canonicalAddress, LINK_LOCAL_ADDRESSES } from "./addresses.ts";

/** The operator's --log-level, the same for the agent. */
const LOG_LEVEL_FLAG = FLAGS.find((f) => f.flag === "log-level") as Extract<
  (typeof FLAGS)[number],
  { flag: "log-level" }
>;

export const AGENT_FLAGS = [
  {
    flag: "listen",
    env: "AGENT_LISTEN",
    kind: "list",
    default: "169.254.170.23:80",
    help: "Comma-separated addresses to serve /v1/credentials on: 169.254.170.23:80 and, where IPv6 is on, [fd00:ec2::23]:80",
  },
  {
    flag: "authority-url",
    env: "AGENT_AUTHORITY_URL",
    kind: "string",
    default: "",
    help: "HTTPS URL of the credential authority in the operator, e.g. https://<service>.<namespace>.svc:9443 (required)",
  },
  {
    flag: "authority-address",
    env: "AGENT_AUTHORITY_ADDRESS",
    kind: "string",
    default: "",
    help: "IP to connect to instead of the URL's host (no cluster DNS); the certificate is still checked against the URL's host",
  },
  {
    flag: "authority-ca-file",
    env: "AGENT_AUTHORITY_CA_FILE",
    kind: "string",
    default: "/etc/aws-pod-identity/ca/ca.crt",
    help: "PEM CA that signed the authority's certificate; re-read when it changes, 503 until it exists",
  },
  {
    flag: "token-file",
    env: "AGENT_TOKEN_FILE",
    kind: "string",
    default: "/var/run/secrets/pincette.net/agent/token",
    help: "The agent's projected ServiceAccount token, sent to the authority as Authorization: Bearer; re-read when it changes",
  },
  {
    flag: "node-name",
    env: "NODE_NAME",
    kind: "string",
    default: "",
    help: "Name of this node, for logs only",
  },
  {
    flag: "cache-max-entries",
    env: "AGENT_CACHE_MAX_ENTRIES",
    kind: "number",
    default: "10000",
    help: "Most Pod tokens whose credentials are cached at once (the oldest entry goes first)",
  },
  LOG_LEVEL_FLAG,
] as const satisfies readonly FlagSpec[];

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface AgentConfig {
  listen: { host: string; port: number }[];
  authorityUrl: URL;
  authorityAddress: string | undefined;
  authorityCaFile: string;
  tokenFile: string;
  nodeName: string;
  cacheMaxEntries: number;
  logLevel: LogLevel;
}

export class AgentConfigError extends Error {
  override readonly name = "AgentConfigError";
}

export type AgentParseResult = { help: true; text: string } | { help: false; config: AgentConfig };

/** Parses argv (without node and script) and the environment; the flag wins over its variable. */
export function parseAgentConfig(argv: string[], env: Record<string, string | undefined>): AgentParseResult {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(AGENT_FLAGS.map((f) => [f.flag, { type: "string" } as const])),
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  } catch (err) {
    throw new AgentConfigError(`${(err as Error).message} (see --help)`);
  }
  if (parsed.values.help) return { help: true, text: agentHelpText() };
  const values = parsed.values as Record<string, string | undefined>;
  const text = (f: (typeof AGENT_FLAGS)[number]) => (values[f.flag] ?? env[f.env] ?? f.default).trim();
  const raw = Object.fromEntries(AGENT_FLAGS.map((f) => [f.flag, text(f)])) as Record<
    (typeof AGENT_FLAGS)[number]["flag"],
    string
  >;
  return {
    help: false,
    config: {
      listen: parseListen(raw.listen),
      authorityUrl: parseAuthorityUrl(raw["authority-url"]),
      authorityAddress: parseAuthorityAddress(raw["authority-address"]),
      authorityCaFile: required("authority-ca-file", raw["authority-ca-file"]),
      tokenFile: required("token-file", raw["token-file"]),
      nodeName: raw["node-name"],
      cacheMaxEntries: parseCacheMaxEntries(raw["cache-max-entries"]),
      logLevel: parseLogLevel(raw["log-level"]),
    },
  };
}

function parseListen(text: string): AgentConfig["listen"] {
  const items = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new AgentConfigError("--listen (AGENT_LISTEN) names no address");
  return items.map((item) => {
    const bind = parseBindAddress(item);
    if (!bind?.host || isIP(bind.host) === 0) {
      throw new AgentConfigError(
        `--listen (AGENT_LISTEN): ${JSON.stringify(item)} is not ip:port or [ipv6]:port`,
      );
    }
    if (!LINK_LOCAL_ADDRESSES.includes(canonicalAddress(bind.host))) {
      throw new AgentConfigError(
        `--listen (AGENT_LISTEN): ${bind.host} is not ${LINK_LOCAL_ADDRESSES.join(" or ")}, the addresses the AWS SDKs accept over plain HTTP`,
      );
    }
    return { host: bind.host, port: bind.port };
  });
}

function parseAuthorityUrl(text: string): URL {
  if (text === "") throw new AgentConfigError("--authority-url (AGENT_AUTHORITY_URL) is required");
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new AgentConfigError(`--authority-url (AGENT_AUTHORITY_URL): ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== "https:") {
    throw new AgentConfigError(
      `--authority-url (AGENT_AUTHORITY_URL) must be https://, not ${url.protocol}//`,
    );
  }
  return url;
}

function parseAuthorityAddress(text: string): string | undefined {
  if (text === "") return undefined;
  const address = text.replace(/^\[|\]$/g, "");
  if (isIP(address) === 0) {
    throw new AgentConfigError(
      `--authority-address (AGENT_AUTHORITY_ADDRESS) must be an IP address, not ${JSON.stringify(text)}`,
    );
  }
  return address;
}

function parseCacheMaxEntries(text: string): number {
  const n = Number(text);
  if (text === "" || !Number.isInteger(n) || n < 1 || n > 1_000_000) {
    throw new AgentConfigError(
      `--cache-max-entries (AGENT_CACHE_MAX_ENTRIES) must be a whole number from 1 to 1000000, not ${JSON.stringify(text)}`,
    );
  }
  return n;
}

function parseLogLevel(text: string): LogLevel {
  if (text === "debug" || text === "info" || text === "warn" || text === "error") return text;
  throw new AgentConfigError(`--log-level must be debug, info, warn or error, not ${JSON.stringify(text)}`);
}

function required(flag: string, text: string): string {
  if (text === "") throw new AgentConfigError(`--${flag} must not be empty`);
  return text;
}

export function agentHelpText(): string {
  return [
    "aws-pod-identity-agent: serves AWS credentials to the Pods of this node at http://169.254.170.23/v1/credentials,",
    "forwarding each request to the operator's credential authority and caching the answers.",
    "",
    "Usage: node dist/agent/main.js [flags]",
    "",
    ...flagsHelp(AGENT_FLAGS),
  ].join("\n");
}
