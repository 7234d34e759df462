// The HTTPS server of the operator's Pod Identity (`--pod-identity-bind-address`, default :9443): the admission
// webhook and the credential authority behind one listener, routed by "METHOD /path". It takes its certificate from a
// ServingCertificateSource and swaps it in without a restart when it changes.
import https from "node:https";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { parseBindAddress } from "../../ops/bind-address.ts";
import type { ServingCertificateSource } from "./certificates.ts";

export const DEFAULT_POD_IDENTITY_BIND_ADDRESS = ":9443";
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface RouteRequest {
  method: string;
  /** Without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  remoteAddress: string | undefined;
}

export interface RouteResponse {
  status: number;
  /** A string is sent as text; anything else as JSON. */
  body: unknown;
  headers?: Record<string, string>;
}

export type RouteHandler = (request: RouteRequest) => RouteResponse | Promise<RouteResponse>;

/** Routes by "METHOD /path", e.g. "POST /mutate", "GET /v1/pod-credentials". */
export type Routes = Record<string, RouteHandler>;

export interface PodIdentityServerOptions {
  bindAddress: string;
  certificates: ServingCertificateSource;
  routes: Routes;
  logger: Logger;
  maxBodyBytes?: number;
  /** Whole request, headers and body (the API server gives a webhook 10 s by default). */
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
}

export interface PodIdentityServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `bindAddress` once the certificate source has a certificate (start it first). */
export async function startPodIdentityServer(options: PodIdentityServerOptions): Promise<PodIdentityServer> {
  const bind = parseBindAddress(options.bindAddress);
  if (!bind) throw new Error(`--pod-identity-bind-address: ${options.bindAddress} is no host:port`);
  const first = options.certificates.current();
  if (!first) throw new Error("the Pod Identity server has no serving certificate yet");
  const { logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const server = https.createServer(
    { cert: first.cert, key: first.key, minVersion: "TLSv1.2" },
    (req, res) => {
      serve(req, res, options.routes, maxBodyBytes, logger);
    },
  );
  server.requestTimeout = options.requestTimeoutMs ?? 30_000;
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.keepAliveTimeout = 30_000;
  server.on("tlsClientError", (err) =>
    logger.debug({ err: err.message }, "Pod Identity TLS handshake failed"),
  );
  const unsubscribe = options.certificates.onChange((pair) => {
    try {
      server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: "TLSv1.2" });
      logger.info("Pod Identity server serves the new certificate");
    } catch (err) {
      logger.error({ err: (err as Error).message }, "Pod Identity server could not load the new certificate");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(bind.port, bind.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info(
    { address: options.bindAddress, port, routes: Object.keys(options.routes) },
    "Pod Identity server up",
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function serve(
  req: IncomingMessage,
  res: ServerResponse,
  routes: Routes,
  maxBodyBytes: number,
  logger: Logger,
): void {
  const method = req.method ?? "GET";
  const url = new URL(req.url ?? "/", "https://localhost");
  const handler = Object.hasOwn(routes, `${method} ${url.pathname}`)
    ? routes[`${method} ${url.pathname}`]
    : undefined;
  if (!handler) {
    const known = Object.keys(routes).some((r) => r.slice(r.indexOf(" ") + 1) === url.pathname);
    req.resume();
    return send(res, {
      status: known ? 405 : 404,
      body: {
        Code: known ? "MethodNotAllowed" : "NotFound",
        Message: known
          ? `${method} is not served on ${url.pathname}`
          : `no route for ${method} ${url.pathname}`,
      },
    });
  }
  answer(req, res, handler, url, maxBodyBytes).catch((err: unknown) => {
    logger.error({ err: (err as Error).message, path: url.pathname }, "Pod Identity request failed");
    send(res, { status: 500, body: { Code: "InternalError", Message: "internal error" } });
  });
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  handler: RouteHandler,
  url: URL,
  maxBodyBytes: number,
): Promise<void> {
  const body = await readBody(req, maxBodyBytes);
  if (body === undefined) {
    res.setHeader("connection", "close");
    return send(res, {
      status: 413,
      body: { Code: "RequestTooLarge", Message: `the body is larger than ${maxBodyBytes} bytes` },
    });
  }
  const request: RouteRequest = {
    method: req.method ?? "GET",
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    body,
    remoteAddress: req.socket.remoteAddress,
  };
  send(res, await handler(request));
}

/** The body, or undefined once it exceeds `limit` (the rest is then discarded). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return resolve(undefined);
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function send(res: ServerResponse, response: RouteResponse): void {
  if (res.headersSent || res.destroyed) return;
  const text = typeof response.body === "string";
  const payload = text ? (response.body as string) : JSON.stringify(response.body);
  res.writeHead(response.status, {
    "content-type": text ? "text/plain; charset=utf-8" : "application/json",
    "content-length": Buffer.byteLength(payload),
    ...response.headers,
  });
  res.end(payload);
}
