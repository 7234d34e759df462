// A stand-in for the operator's credential authority in the agent's tests and memory bench: a real HTTPS server on
// 127.0.0.1 with a throwaway CA made by openssl, answering what each test tells it to and counting requests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const AUTHORITY_NAME = "authority.test";

export interface TestPki {
  dir: string;
  caFile: string;
  ca: string;
  key: string;
  cert: string;
  remove(): void;
}

/** A CA and a server certificate for `names` (DNS SANs), signed by it, in a fresh temporary folder. */
export function makeTestPki(names: string[] = [AUTHORITY_NAME]): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "agent-pki-"));
  const at = (f: string) => join(dir, f);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.crt"),
    "-subj",
    "/CN=agent-test-ca",
    "-days",
    "1",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  );
  openssl("req", ...ec, "-keyout", at("tls.key"), "-out", at("tls.csr"), "-subj", `/CN=${names[0]}`);
  writeFileSync(
    at("ext.cnf"),
    `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(
    "x509",
    "-req",
    "-in",
    at("tls.csr"),
    "-CA",
    at("ca.crt"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-out",
    at("tls.crt"),
    "-days",
    "1",
    "-extfile",
    at("ext.cnf"),
  );
  return {
    dir,
    caFile: at("ca.crt"),
    ca: readFileSync(at("ca.crt"), "utf8"),
    key: readFileSync(at("tls.key"), "utf8"),
    cert: readFileSync(at("tls.crt"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface AuthorityRequest {
  path: string;
  headers: IncomingHttpHeaders;
}

export type AuthorityReply = { status: number; body: unknown; delayMs?: number };

export interface FakeAuthority {
  port: number;
  requests: AuthorityRequest[];
  /** TLS connections accepted. */
  connections: number;
  /** What the authority answers next (per request). */
  reply: (request: AuthorityRequest) => AuthorityReply;
  close(): Promise<void>;
}

export function credentialsBody(expiration: Date, accessKeyId = "ASIATESTKEY"): Record<string, string> {
  return {
    AccessKeyId: accessKeyId,
    SecretAccessKey: "test-secret",
    Token: "test-session-token",
    Expiration: expiration.toISOString(),
    AccountId: "123456789012",
  };
}

export async function startFakeAuthority(pki: TestPki, port = 0): Promise<FakeAuthority> {
  const fake: FakeAuthority = {
    port: 0,
    requests: [],
    connections: 0,
    reply: () => ({ status: 200, body: credentialsBody(new Date(Date.now() + 3_600_000)) }),
    close: () => new Promise<void>((resolve) => closeServer(server, resolve)),
  };
  const server: Server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    const request = { path: req.url ?? "", headers: req.headers };
    fake.requests.push(request);
    const { status, body, delayMs } = fake.reply(request);
    setTimeout(() => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    }, delayMs ?? 0);
  });
  server.on("secureConnection", () => fake.connections++);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  fake.port = (server.address() as AddressInfo).port;
  return fake;
}

function closeServer(server: Server, done: () => void): void {
  server.close(() => done());
  server.closeAllConnections();
}
