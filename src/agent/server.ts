// The agent's HTTP endpoint: GET /v1/credentials for the SDKs (Host must be the link-local address the request
// arrived on; the Pod's token in Authorization) and GET /healthz for the probes. One server per listen address.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostPermitted } from "./addresses.ts";
import { AgentCode, errorAnswer } from "./answers.ts";
import type { AgentAnswer } from "./answers.ts";
import type { AgentLog } from "./logging.ts";

// node:http is taken with process.getBuiltinModule, not imported: importing it as an ES module builds its namespace,
// whose lazy getters load undici (about 12 MiB of RSS on every node; src/lazy-imports.test.ts).
const { createServer } = process.getBuiltinModule("node:http");

export const CREDENTIALS_PATH = "/v1/credentials";
export const HEALTH_PATH = "/healthz";

export interface CredentialsProvider {
  credentialsFor(podToken: string): Promise<AgentAnswer>;
}

export interface RequestHandlerOptions {
  /** Addresses a request may arrive on and name in its Host (production: the link-local ones only). */
  permittedAddresses: readonly string[];
  credentials: CredentialsProvider;
  /** Whether the authority's CA file is there, for /healthz. */
  caPresent: () => boolean;
  log: AgentLog;
}

/** The Pod token from "Authorization: <token>" as the SDKs send it, or "Bearer <token>". */
export function podTokenOf(header: string | undefined): string | undefined {
  const token = (header ?? "")
    .trim()
    .replace(/^bearer(\s+|$)/i, "")
    .trim();
  return token === "" ? undefined : token;
}

export function createRequestHandler(options: RequestHandlerOptions): RequestListener {
  return (req, res) => {
    answer(req, options).then(
      (a) => send(res, a),
      (err: unknown) => {
        options.log.error("request failed", { error: (err as Error).message });
        send(res, errorAnswer(500, AgentCode.InternalError, "the agent failed to answer; see its log"));
      },
    );
  };
}

async function answer(req: IncomingMessage, options: RequestHandlerOptions): Promise<AgentAnswer> {
  const path = (req.url ?? "/").split("?")[0];
  const isGet = req.method === "GET" || req.method === "HEAD";
  if (path === HEALTH_PATH) {
    if (!isGet) return errorAnswer(405, AgentCode.MethodNotAllowed, `${HEALTH_PATH} answers GET only`);
    return {
      status: 200,
      body: JSON.stringify({ status: "ok", authorityCa: options.caPresent() ? "present" : "missing" }),
    };
  }
  if (path !== CREDENTIALS_PATH) {
    return errorAnswer(404, AgentCode.NotFound, `no such path; credentials are at ${CREDENTIALS_PATH}`);
  }
  if (req.method !== "GET") {
    return errorAnswer(405, AgentCode.MethodNotAllowed, `${CREDENTIALS_PATH} answers GET only`);
  }
  if (!hostPermitted(req.headers.host, req.socket.localAddress, options.permittedAddresses)) {
    return errorAnswer(
      403,
      AgentCode.InvalidHost,
      `Host ${JSON.stringify(req.headers.host ?? "")} is not the address this request arrived on (${options.permittedAddresses.join(", ")})`,
    );
  }
  const podToken = podTokenOf(req.headers.authorization);
  if (!podToken) {
    return errorAnswer(
      401,
      AgentCode.MissingToken,
      "no Authorization header: send the content of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    );
  }
  return options.credentials.credentialsFor(podToken);
}

function send(res: ServerResponse, a: AgentAnswer): void {
  res.writeHead(a.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(a.body),
    "cache-control": "no-store",
  });
  res.end(a.body);
}

/** Listens on every address with the one handler; rejects when one cannot be bound (the others are closed). */
export async function listenAll(
  addresses: readonly { host: string; port: number }[],
  handler: RequestListener,
): Promise<Server[]> {
  const servers: Server[] = [];
  try {
    for (const { host, port } of addresses) {
      const server = createServer({ keepAliveTimeout: 5000 }, handler);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      servers.push(server);
    }
  } catch (err) {
    await closeAll(servers, 0);
    throw err;
  }
  return servers;
}

/** Stops accepting, lets requests in flight finish (up to graceMs), closes idle keep-alive connections. */
export async function closeAll(servers: readonly Server[], graceMs: number): Promise<void> {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          const force = setTimeout(() => server.closeAllConnections(), graceMs);
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        }),
    ),
  );
}

export function boundAddress(server: Server): AddressInfo {
  return server.address() as AddressInfo;
}
