// The Pod Identity server's certificate. Either the operator manages it (ServingCertificates: a CA and a serving
// certificate in one Secret shared by every replica, rotated before it runs out, the CA published to the webhook's
// caBundle and to the agent's ConfigMap), or it reads one someone else manages (CertificateDirectory, e.g.
// cert-manager's Secret mounted; its CA injector then keeps the caBundle). Private keys never reach a log line.
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { V1ConfigMap, V1MutatingWebhookConfiguration, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeClient } from "../../kube/client.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../../domain/plan.ts";
import {
  CA_LIFETIME_MS,
  SERVING_CERTIFICATE_LIFETIME_MS,
  caBundle,
  certificateWork,
  servingNames,
  validityFrom,
} from "../../domain/serving-certificate.ts";
import type { BundleEntry, StoredCertificates } from "../../domain/serving-certificate.ts";
import { apiErrorMessage, isConflict, isNotFound } from "../../runtime/api-errors.ts";

/** What the server needs: its certificate and key, and the CAs clients should trust (all PEM). */
export interface CertificatePair {
  cert: string;
  key: string;
  ca: string;
}

/** Where the Pod Identity server gets its certificate from, and hears of a new one. */
export interface ServingCertificateSource {
  /** Resolves once a certificate is loaded; keeps it fresh until stop(). */
  start(): Promise<void>;
  current(): CertificatePair | undefined;
  /** Called with each new certificate after the first; returns the unsubscribe function. */
  onChange(listener: (pair: CertificatePair) => void): () => void;
  stop(): void;
}

/** Keys of the Secret: kubernetes.io/tls's two, the CA bundle clients trust, and the current CA's key. */
export const SecretKey = { cert: "tls.crt", key: "tls.key", ca: "ca.crt", caKey: "ca.key" } as const;
/** Key of the CA ConfigMap in the agent's namespace. */
export const CA_CONFIG_MAP_KEY = "ca.crt";
export const DEFAULT_RESYNC_INTERVAL_MS = 60_000;
const CA_COMMON_NAME = "aws-assume-role-operator Pod Identity CA";
const MAX_WRITE_ATTEMPTS = 5;

export interface ServingCertificatesOptions {
  client: KubeClient;
  /** The operator's namespace: the Secret's and the Service's. */
  namespace: string;
  /** --pod-identity-tls-secret */
  secretName: string;
  /** --pod-identity-service: the certificate names it as <svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local. */
  serviceName: string;
  /** Further names the certificate carries (e.g. 127.0.0.1 for a webhook configured by URL). */
  extraDnsNames?: readonly string[];
  extraIpAddresses?: readonly string[];
  /** --pod-identity-webhook: the MutatingWebhookConfiguration whose every webhook gets the caBundle. */
  webhookConfigurationName?: string | undefined;
  /** --pod-identity-ca-config-map in the agent's namespace (--pod-identity-agent). */
  caConfigMap?: { namespace: string; name: string } | undefined;
  logger: Logger;
  /** The clock, in ms since the epoch (tests move it). */
  now?: () => number;
  /** How often every replica re-reads the Secret and repairs the published CA. */
  resyncIntervalMs?: number;
  servingLifetimeMs?: number;
  caLifetimeMs?: number;
}

/** The Secret's content, parsed; what is missing or broken is undefined. */
interface Parsed {
  ca: { cert: string; key: string; notAfterMs: number; notBeforeMs: number } | undefined;
  bundle: BundleEntry[];
  serving: { cert: string; key: string } | undefined;
  stored: StoredCertificates;
}

/**
 * The certificate the operator manages itself. Every replica runs one: they create the Secret if absent (the loser of
 * the race loads the winner's), rotate it with optimistic concurrency (one replica wins, the others load its result),
 * re-read it every resync, and re-publish the CA wherever it drifted.
 */
/** What both sources share: the current pair, who hears of a new one, and the periodic refresh. */
abstract class RefreshedCertificate implements ServingCertificateSource {
  private readonly listeners = new Set<(pair: CertificatePair) => void>();
  private pair: CertificatePair | undefined;
  private timer: NodeJS.Timeout | undefined;

  protected abstract refresh(): Promise<void>;
  protected abstract refreshFailed(err: unknown): void;
  protected abstract intervalMs(): number;

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(
      () => this.refresh().catch((err: unknown) => this.refreshFailed(err)),
      this.intervalMs(),
    );
    this.timer.unref();
  }

  current(): CertificatePair | undefined {
    return this.pair;
  }

  onChange(listener: (pair: CertificatePair) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Makes `next` current; listeners hear of it when it replaces another. Undefined when nothing changed. */
  protected replace(next: CertificatePair): "first" | "new" | undefined {
    const previous = this.pair;
    if (previous && previous.cert === next.cert && previous.key === next.key && previous.ca === next.ca)
      return undefined;
    this.pair = next;
    if (!previous) return "first";
    for (const listener of this.listeners) listener(next);
    return "new";
  }
}

export class ServingCertificates extends RefreshedCertificate {
  private readonly options: ServingCertificatesOptions;
  private readonly names: string[];
  private readonly now: () => number;
  private running: Promise<void> | undefined;
  private readonly warned = new Set<string>();

  constructor(options: ServingCertificatesOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
    this.names = servingNames(options.serviceName, options.namespace, {
      dnsNames: options.extraDnsNames ?? [],
      ipAddresses: (options.extraIpAddresses ?? []).map(normalizeIp),
    });
  }

  protected refresh(): Promise<void> {
    return this.sync();
  }

  protected refreshFailed(err: unknown): void {
    this.log().warn(
      { err: apiErrorMessage(err) },
      "Pod Identity certificate resync failed; trying again later",
    );
  }

  protected intervalMs(): number {
    return this.options.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
  }

  /** One round: read the Secret, issue what is due, load the result, publish the CA. One round runs at a time. */
  sync(): Promise<void> {
    const round = (this.running ?? Promise.resolve()).catch(() => undefined).then(() => this.round());
    this.running = round;
    return round;
  }

  private async round(): Promise<void> {
    const { client, namespace, secretName } = this.options;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
    for (let attempt = 1; ; attempt++) {
      const secret = await client.getIfExists<V1Secret>(`${path}/${encodeURIComponent(secretName)}`);
      const parsed = parseSecret(secret);
      const work = certificateWork(parsed.stored, this.names, this.now());
      if (!work.issueCa && !work.issueServing) {
        this.load(parsed);
        break;
      }
      const body = await this.issue(parsed, work.issueCa, secret);
      try {
        const written = secret
          ? await client.replace<V1Secret>(`${path}/${encodeURIComponent(secretName)}`, body)
          : await client.create<V1Secret>(path, body);
        this.log().info(
          {
            reason: work.reason,
            issued: work.issueCa ? "ca and serving certificate" : "serving certificate",
          },
          "issued the Pod Identity certificate",
        );
        this.load(parseSecret(written));
        break;
      } catch (err) {
        // Another replica wrote first: load what it wrote (the next pass finds nothing due).
        if (!isConflict(err) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
        this.log().debug({ attempt }, "another replica wrote the Pod Identity certificate first; reading it");
      }
    }
    await this.publish();
  }

  private async issue(parsed: Parsed, newCa: boolean, secret: V1Secret | undefined): Promise<V1Secret> {
    const { issueCa, issueServing } = await import("./x509.ts");
    const nowMs = this.now();
    let ca = parsed.ca;
    if (newCa || !ca) {
      const validity = validityFrom(nowMs, this.options.caLifetimeMs ?? CA_LIFETIME_MS);
      ca = { ...(await issueCa(CA_COMMON_NAME, validity)), ...validity };
    }
    const validity = validityFrom(
      nowMs,
      this.options.servingLifetimeMs ?? SERVING_CERTIFICATE_LIFETIME_MS,
      ca.notAfterMs,
    );
    const commonName = `${this.options.serviceName}.${this.options.namespace}.svc`;
    const serving = await issueServing(ca, commonName, this.names, validity);
    const bundle = caBundle({ pem: ca.cert, notAfterMs: ca.notAfterMs }, parsed.bundle, nowMs);
    return {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: {
        ...(secret?.metadata ?? {}),
        name: this.options.secretName,
        namespace: this.options.namespace,
        labels: { ...(secret?.metadata?.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      },
      data: {
        [SecretKey.cert]: base64(serving.cert),
        [SecretKey.key]: base64(serving.key),
        [SecretKey.ca]: base64(bundle.map((e) => e.pem.trim() + "\n").join("")),
        [SecretKey.caKey]: base64(ca.key),
      },
    };
  }

  private load(parsed: Parsed): void {
    if (!parsed.serving) throw new Error("the Pod Identity Secret has no usable serving certificate");
    const next: CertificatePair = {
      cert: parsed.serving.cert,
      key: parsed.serving.key,
      ca: parsed.bundle.map((e) => e.pem.trim() + "\n").join(""),
    };
    const change = this.replace(next);
    if (!change) return;
    const serving = new X509Certificate(next.cert);
    this.log().info(
      { serialNumber: serving.serialNumber, expirationTime: serving.validToDate.toISOString() },
      change === "new" ? "loaded a new Pod Identity certificate" : "loaded the Pod Identity certificate",
    );
  }

  /** Puts the CA bundle into the webhook configuration's caBundle and the agent's ConfigMap, where it differs. */
  private async publish(): Promise<void> {
    const pair = this.current();
    if (!pair) return;
    const results = await Promise.allSettled([this.publishWebhook(pair.ca), this.publishConfigMap(pair.ca)]);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  }

  private async publishWebhook(bundle: string): Promise<void> {
    const name = this.options.webhookConfigurationName;
    if (!name) return;
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`;
    const caBundle = base64(bundle);
    for (let attempt = 1; ; attempt++) {
      const config = await this.options.client.getIfExists<V1MutatingWebhookConfiguration>(path);
      if (!config) {
        this.warnOnce(
          `webhook ${name}`,
          { webhookConfiguration: name },
          "the MutatingWebhookConfiguration of Pod Identity does not exist: Pods get no injection until it does (--pod-identity-webhook)",
        );
        return;
      }
      this.warned.delete(`webhook ${name}`);
      const webhooks = config.webhooks ?? [];
      if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) return;
      for (const w of webhooks) w.clientConfig.caBundle = caBundle;
      try {
        await this.options.client.replace(path, config);
        this.log().info(
          { webhookConfiguration: name },
          "published the Pod Identity CA to the webhook's caBundle",
        );
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
      }
    }
  }

  private async publishConfigMap(bundle: string): Promise<void> {
    const target = this.options.caConfigMap;
    if (!target) return;
    const { namespace, name } = target;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    for (let attempt = 1; ; attempt++) {
      const existing = await this.options.client.getIfExists<V1ConfigMap>(
        `${path}/${encodeURIComponent(name)}`,
      );
      if (
        existing?.data?.[CA_CONFIG_MAP_KEY] === bundle &&
        existing.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
      )
        return;
      const body: V1ConfigMap = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          ...(existing?.metadata ?? {}),
          name,
          namespace,
          labels: { ...(existing?.metadata?.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
        },
        data: { ...(existing?.data ?? {}), [CA_CONFIG_MAP_KEY]: bundle },
      };
      try {
        if (existing) await this.options.client.replace(`${path}/${encodeURIComponent(name)}`, body);
        else await this.options.client.create(path, body);
        this.warned.delete(`config map ${namespace}/${name}`);
        this.log().info({ namespace, name }, "published the Pod Identity CA to the agent's ConfigMap");
        return;
      } catch (err) {
        if (isNotFound(err) && !existing) {
          this.warnOnce(
            `config map ${namespace}/${name}`,
            { namespace, name },
            "the agent's namespace does not exist: the Pod Identity CA ConfigMap waits for it (--pod-identity-agent)",
          );
          return;
        }
        if (!isConflict(err) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
      }
    }
  }

  private warnOnce(key: string, fields: object, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log().warn(fields, message);
  }

  private log(): Logger {
    return this.options.logger;
  }
}

export interface CertificateDirectoryOptions {
  /** --pod-identity-cert-dir: holds tls.crt, tls.key and ca.crt (a mounted cert-manager Secret). */
  directory: string;
  logger: Logger;
  /** How often the files are re-read (a mounted Secret changes by a symlink swap, which watches miss). */
  pollIntervalMs?: number;
}

/** A certificate someone else manages, read from a directory and reloaded when the files change. */
export class CertificateDirectory extends RefreshedCertificate {
  private readonly options: CertificateDirectoryOptions;

  constructor(options: CertificateDirectoryOptions) {
    super();
    this.options = options;
  }

  protected refresh(): Promise<void> {
    return this.reload();
  }

  protected refreshFailed(err: unknown): void {
    this.options.logger.warn(
      { directory: this.options.directory, err: (err as Error).message },
      "could not reload the Pod Identity certificate; serving the previous one",
    );
  }

  protected intervalMs(): number {
    return this.options.pollIntervalMs ?? 10_000;
  }

  /** Reads the three files; a pair whose key does not match its certificate (a swap caught half-way) is refused. */
  async reload(): Promise<void> {
    const read = (file: string) => readFile(join(this.options.directory, file), "utf8");
    const [cert, key, ca] = await Promise.all([
      read(SecretKey.cert),
      read(SecretKey.key),
      read(SecretKey.ca),
    ]);
    const current = this.current();
    if (current?.cert === cert && current.key === key && current.ca === ca) return;
    const parsed = new X509Certificate(cert);
    if (!parsed.checkPrivateKey(createPrivateKey(key)))
      throw new Error(`${SecretKey.key} does not belong to ${SecretKey.cert}`);
    const change = this.replace({ cert, key, ca });
    this.options.logger.info(
      {
        directory: this.options.directory,
        serialNumber: parsed.serialNumber,
        expirationTime: parsed.validToDate,
      },
      change === "new" ? "loaded a new Pod Identity certificate" : "loaded the Pod Identity certificate",
    );
  }
}

/** Parses the Secret: every part is checked (parses, key matches, issued by the current CA) before it is trusted. */
function parseSecret(secret: V1Secret | undefined): Parsed {
  const none: Parsed = {
    ca: undefined,
    bundle: [],
    serving: undefined,
    stored: { ca: undefined, serving: undefined },
  };
  if (!secret?.data) return none;
  const text = (k: string) =>
    secret.data?.[k] ? Buffer.from(secret.data[k], "base64").toString("utf8") : "";
  const bundle: { pem: string; x509: X509Certificate }[] = [];
  for (const pem of splitPem(text(SecretKey.ca))) {
    const x509 = tryParse(pem);
    if (x509) bundle.push({ pem, x509 });
  }
  const entries = bundle.map((b) => ({ pem: b.pem, notAfterMs: b.x509.validToDate.getTime() }));
  const caKeyPem = text(SecretKey.caKey);
  const caKey = tryKey(caKeyPem);
  const current = caKey ? bundle.find((b) => b.x509.ca && b.x509.checkPrivateKey(caKey)) : undefined;
  if (!current) return { ...none, bundle: entries };
  const ca = {
    cert: current.pem,
    key: caKeyPem,
    notBeforeMs: current.x509.validFromDate.getTime(),
    notAfterMs: current.x509.validToDate.getTime(),
  };
  // The current CA first: clients and the published bundle list it first.
  const ordered = [
    entries.find((e) => e.pem === current.pem)!,
    ...entries.filter((e) => e.pem !== current.pem),
  ];
  const stored: StoredCertificates = {
    ca: { validity: { notBeforeMs: ca.notBeforeMs, notAfterMs: ca.notAfterMs } },
    serving: undefined,
  };
  const servingPem = text(SecretKey.cert);
  const servingKeyPem = text(SecretKey.key);
  const serving = tryParse(servingPem);
  const servingKey = tryKey(servingKeyPem);
  if (!serving || !servingKey) return { ca, bundle: ordered, serving: undefined, stored };
  const issuedByCa =
    serving.checkPrivateKey(servingKey) &&
    serving.checkIssued(current.x509) &&
    serving.verify(createPublicKey(current.pem));
  stored.serving = {
    validity: { notBeforeMs: serving.validFromDate.getTime(), notAfterMs: serving.validToDate.getTime() },
    names: subjectAltNames(serving),
    issuedByCa,
  };
  return {
    ca,
    bundle: ordered,
    serving: issuedByCa ? { cert: servingPem, key: servingKeyPem } : undefined,
    stored,
  };
}

/** "DNS:a, IP Address:1.2.3.4" → ["DNS:a", "IP:1.2.3.4"]. */
function subjectAltNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? "")
    .split(", ")
    .filter((n) => n !== "")
    .map((n) => (n.startsWith("IP Address:") ? `IP:${normalizeIp(n.slice("IP Address:".length))}` : n));
}

/** IPv6 in its shortest form, so a name compares equal however it was written. */
function normalizeIp(ip: string): string {
  return ip.includes(":") ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function tryParse(pem: string): X509Certificate | undefined {
  try {
    return pem ? new X509Certificate(pem) : undefined;
  } catch {
    return undefined;
  }
}

function tryKey(pem: string): ReturnType<typeof createPrivateKey> | undefined {
  try {
    return pem ? createPrivateKey(pem) : undefined;
  } catch {
    return undefined;
  }
}

function base64(text: string): string {
  return Buffer.from(text).toString("base64");
}
