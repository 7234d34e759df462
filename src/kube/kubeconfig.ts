// Where the operator's API server and credentials come from, in client-go's order: the files in KUBECONFIG (merged,
// the first file to name a cluster, user or context wins), else ~/.kube/config, else the Pod's service account
// (KUBERNETES_SERVICE_HOST/PORT, its CA and its token file, re-read every minute because the kubelet rotates it, and
// at once after a 401).
//
// Static kubeconfig credentials — a token, a token file, a client certificate and key (inline or files, files
// relative to the kubeconfig), basic auth — are read here. A user with an `exec` plugin or an `auth-provider`
// (EKS's `aws eks get-token`, OIDC, GKE) is handed to @kubernetes/client-node's KubeConfig, loaded only then, which
// runs the plugin and caches its credential; see client.ts for why the operator does not load it otherwise. It is a
// development dependency that the container image leaves out (in a Pod the operator uses its service account): without
// it such a kubeconfig is refused when it is read, with the package to add.
// Impersonation (`as`, `as-uid`, `as-groups`, `as-user-extra`) becomes Impersonate-* headers (impersonation.ts).
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { isIPv6 } from "node:net";
import { createRequire } from "node:module";
import type { Connection, TlsSource } from "./client.ts";
import type { Impersonation } from "./impersonation.ts";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** The package that runs exec plugins and auth providers (a devDependency; not in the image). */
export const CLIENT_NODE = "@kubernetes/client-node";
const TOKEN_FILE_RELOAD_MS = 60_000;

/**
 * The YAML parser, loaded when a kubeconfig file is read: in a Pod the operator uses its service account and never
 * pays the parser's RSS (docs/benchmarks.md, "imports"). Synchronous, as the connection is loaded at start.
 */
const yaml = () => createRequire(import.meta.url)("yaml") as typeof import("yaml");

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Where the Pod's service account is mounted (tests). */
  serviceAccountDir?: string;
  /** The package that runs exec plugins and auth providers (tests: one that is not installed). */
  clientNode?: string;
}

/** The connection the operator uses, from KUBECONFIG, ~/.kube/config or the Pod's service account. */
export function loadConnection(o: LoadOptions = {}): Connection {
  const env = o.env ?? process.env;
  const files = env.KUBECONFIG
    ? env.KUBECONFIG.split(delimiter).filter(Boolean)
    : [join(o.home ?? homedir(), ".kube", "config")];
  const present = files.filter((f) => existsSync(f));
  if (present.length > 0) return fromKubeconfigFiles(present, o.clientNode);
  if (env.KUBECONFIG) throw new Error(`KUBECONFIG names no file that exists: ${env.KUBECONFIG}`);
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT)
    return inCluster(env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT, o.serviceAccountDir);
  throw new Error(
    "no Kubernetes configuration: set KUBECONFIG, create ~/.kube/config, or run in a Pod with a service account",
  );
}

/** The Pod's own API server, CA and (rotating) service-account token. */
export function inCluster(host: string, port: string, dir = SERVICE_ACCOUNT_DIR): Connection {
  const hostPart = isIPv6(host) ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    ca: { file: join(dir, "ca.crt") },
    authorization: bearerFromFile(join(dir, "token")),
  };
}

interface Named<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

interface RawCluster {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
  "proxy-url"?: string;
}

interface RawUser {
  token?: string;
  tokenFile?: string;
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  "auth-provider"?: unknown;
  as?: string;
  "as-uid"?: string;
  "as-groups"?: string[];
  "as-user-extra"?: Record<string, string[]>;
}

interface RawContext {
  cluster?: string;
  user?: string;
}

interface RawKubeconfig {
  "current-context"?: string;
  clusters?: Named<RawCluster>[];
  users?: Named<RawUser>[];
  contexts?: Named<RawContext>[];
}

/** The current context of these kubeconfig files, merged as kubectl merges them. */
export function fromKubeconfigFiles(files: string[], clientNode = CLIENT_NODE): Connection {
  const clusters = new Map<string, { value: RawCluster; dir: string }>();
  const users = new Map<string, { value: RawUser; dir: string }>();
  const contexts = new Map<string, RawContext>();
  let current: string | undefined;
  const { parse } = yaml();
  for (const file of files) {
    let doc: RawKubeconfig;
    try {
      doc = (parse(readFileSync(file, "utf8")) ?? {}) as RawKubeconfig;
    } catch (err) {
      // Not the parser's message: its code frame quotes the file, which may hold a token or a key.
      const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
      throw new Error(`kubeconfig ${file}: not valid YAML${line ? ` (line ${line})` : ""}`);
    }
    const dir = dirname(file);
    current ||= doc["current-context"] || undefined;
    for (const c of doc.clusters ?? [])
      if (c.name && c.cluster && !clusters.has(c.name)) clusters.set(c.name, { value: c.cluster, dir });
    for (const u of doc.users ?? [])
      if (u.name && !users.has(u.name)) users.set(u.name, { value: u.user ?? {}, dir });
    for (const c of doc.contexts ?? [])
      if (c.name && c.context && !contexts.has(c.name)) contexts.set(c.name, c.context);
  }
  const where = files.join(delimiter);
  if (!current) throw new Error(`kubeconfig ${where}: no current-context`);
  const context = contexts.get(current);
  if (!context) throw new Error(`kubeconfig ${where}: context ${current} is not defined`);
  const cluster = context.cluster ? clusters.get(context.cluster) : undefined;
  if (!cluster?.value.server)
    throw new Error(`kubeconfig ${where}: context ${current} names no cluster with a server`);
  if (cluster.value["proxy-url"])
    throw new Error(
      `kubeconfig ${where}: cluster ${context.cluster} uses proxy-url, which the operator does not support`,
    );
  const user = context.user ? users.get(context.user) : undefined;
  return {
    server: cluster.value.server,
    ...(cluster.value["insecure-skip-tls-verify"] ? { insecureSkipTlsVerify: true } : {}),
    ...(cluster.value["tls-server-name"] ? { tlsServerName: cluster.value["tls-server-name"] } : {}),
    ...source(
      "ca",
      cluster.value["certificate-authority-data"],
      cluster.value["certificate-authority"],
      cluster.dir,
    ),
    ...(user ? userSettings(user.value, user.dir, files, clientNode, `${where}: user ${context.user}`) : {}),
    ...(user ? impersonation(user.value, `${where}: user ${context.user}`) : {}),
  };
}

/** The user's `as*` settings; malformed ones are refused rather than half applied. */
function impersonation(user: RawUser, where: string): { impersonate?: Impersonation } {
  // YAML's `as:` with nothing after it is null: an empty setting is no setting, as in kubectl.
  const name = user.as ?? undefined;
  const uid = user["as-uid"] ?? undefined;
  const groups = user["as-groups"] ?? undefined;
  const extra = user["as-user-extra"] ?? undefined;
  if (!name && !uid && !groups?.length && !Object.keys(extra ?? {}).length) return {};
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
  const bad = (field: string, want: string) => new Error(`kubeconfig ${where}: ${field} must be ${want}`);
  if (name !== undefined && typeof name !== "string") throw bad("as", "a string");
  if (uid !== undefined && typeof uid !== "string") throw bad("as-uid", "a string");
  if (groups !== undefined && !strings(groups)) throw bad("as-groups", "a list of strings");
  if (
    extra !== undefined &&
    (typeof extra !== "object" || Array.isArray(extra) || !Object.values(extra).every(strings))
  )
    throw bad("as-user-extra", "a map of lists of strings");
  // As the API server requires: groups, extra and uid impersonate someone, so they need a user to impersonate.
  if (!name) throw new Error(`kubeconfig ${where}: as-groups, as-uid or as-user-extra need as (the user)`);
  return {
    impersonate: {
      user: name,
      ...(uid ? { uid } : {}),
      ...(groups?.length ? { groups } : {}),
      ...(extra && Object.keys(extra).length ? { extra } : {}),
    },
  };
}

function userSettings(
  user: RawUser,
  dir: string,
  files: string[],
  clientNode: string,
  where: string,
): Partial<Connection> {
  const tls = {
    ...source("cert", user["client-certificate-data"], user["client-certificate"], dir),
    ...source("key", user["client-key-data"], user["client-key"], dir),
  };
  if (user.exec !== undefined || user["auth-provider"] !== undefined) {
    requireInstalled(
      clientNode,
      `kubeconfig ${where}: ${user.exec !== undefined ? "exec" : "auth-provider"}`,
    );
    return { ...tls, authorization: delegatedAuthorization(files, clientNode) };
  }
  if (user.tokenFile) return { ...tls, authorization: bearerFromFile(resolve(dir, user.tokenFile)) };
  if (user.token) {
    const header = `Bearer ${user.token}`;
    return { ...tls, authorization: () => Promise.resolve(header) };
  }
  if (user.username !== undefined) {
    const header = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`;
    return { ...tls, authorization: () => Promise.resolve(header) };
  }
  return tls;
}

function source(
  name: "ca" | "cert" | "key",
  data: string | undefined,
  file: string | undefined,
  dir: string,
): Partial<Record<"ca" | "cert" | "key", TlsSource>> {
  if (data) return { [name]: { data: Buffer.from(data, "base64") } };
  if (file) return { [name]: { file: resolve(dir, file) } };
  return {};
}

const resolve = (dir: string, path: string) => (isAbsolute(path) ? path : join(dir, path));

/**
 * `Bearer <file's content>`, the file read again at most once a minute (a projected token is rotated), and at once
 * when asked for a `fresh` one (after a 401: the token in memory may be the one that expired).
 */
export function bearerFromFile(
  path: string,
  reloadMs = TOKEN_FILE_RELOAD_MS,
): (options?: { fresh?: boolean }) => Promise<string> {
  let cached: { header: string; readAtMs: number } | undefined;
  return (options) => {
    const now = Date.now();
    if (!cached || options?.fresh || now - cached.readAtMs >= reloadMs) {
      try {
        cached = { header: `Bearer ${readFileSync(path, "utf8").trim()}`, readAtMs: now };
      } catch (err) {
        // A token that cannot be re-read: keep the last one (it is usually still valid for a while).
        if (!cached) throw new Error(`token file ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    return Promise.resolve(cached.header);
  };
}

/**
 * Refuses, when the kubeconfig is read rather than at the first request, a user that needs that package
 * when it is not installed (the container image leaves it out).
 */
function requireInstalled(pkg: string, what: string): void {
  try {
    import.meta.resolve(pkg);
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new Error(
      `${what} needs the package ${pkg}, which is not installed here (the container image ` +
        `leaves it out: in a Pod the operator uses its service account). Add it next to the operator ` +
        `(npm install ${pkg}, or npm ci without --omit=dev), or use a kubeconfig with a token or a client certificate`,
      { cause: err },
    );
  }
}

/** Authorization from client-node's KubeConfig (exec plugins, auth providers), imported on first use. */
function delegatedAuthorization(files: string[], clientNode: string): () => Promise<string | undefined> {
  let loaded:
    Promise<{ applyToHTTPSOptions(o: { headers?: Record<string, unknown> }): Promise<void> }> | undefined;
  return async () => {
    loaded ??= (import(clientNode) as Promise<typeof import("@kubernetes/client-node")>).then(
      ({ KubeConfig }) => {
        const kc = new KubeConfig();
        kc.loadFromFile(files[0]!);
        for (const more of files.slice(1)) {
          const other = new KubeConfig();
          other.loadFromFile(more);
          kc.mergeConfig(other, true);
        }
        return kc;
      },
    );
    const options: { headers?: Record<string, unknown> } = { headers: {} };
    await (await loaded).applyToHTTPSOptions(options);
    const header = options.headers?.Authorization ?? options.headers?.authorization;
    return typeof header === "string" ? header : undefined;
  };
}
