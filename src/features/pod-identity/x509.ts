// Issues the CA and the serving certificate (ECDSA P-256, SHA-256). Node's crypto signs but cannot build a certificate,
// so @peculiar/x509 encodes it; keys and signatures stay with Node's WebCrypto (OpenSSL). The library (and the
// reflect-metadata polyfill its dependency injection needs) is imported on first use only, so an operator without
// --pod-identity, or with --pod-identity-cert-dir, never loads it.
import { randomBytes, webcrypto } from "node:crypto";
import type { Validity } from "../../domain/serving-certificate.ts";

/** A certificate and its private key (PKCS #8), both PEM. */
export interface IssuedCertificate {
  cert: string;
  key: string;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

type X509Module = typeof import("@peculiar/x509");
let library: Promise<X509Module> | undefined;

function x509(): Promise<X509Module> {
  library ??= (async () => {
    await import("reflect-metadata");
    const module = await import("@peculiar/x509");
    module.cryptoProvider.set(webcrypto as unknown as Parameters<X509Module["cryptoProvider"]["set"]>[0]);
    return module;
  })();
  return library;
}

/** A self-signed CA that may sign end-entity certificates only. */
export async function issueCa(commonName: string, validity: Validity): Promise<IssuedCertificate> {
  const x = await x509();
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    notBefore: new Date(validity.notBeforeMs),
    notAfter: new Date(validity.notAfterMs),
    keys: keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x.BasicConstraintsExtension(true, 0, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign, true),
      await x.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

/** A TLS server certificate for `names` ("DNS:..." / "IP:..."), signed by `ca`. */
export async function issueServing(
  ca: IssuedCertificate,
  commonName: string,
  names: readonly string[],
  validity: Validity,
): Promise<IssuedCertificate> {
  const x = await x509();
  const caCert = new x.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey("pkcs8", pemBody(ca.key), ALGORITHM, false, ["sign"]);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const cert = await x.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${commonName}`,
    issuer: caCert.subject,
    notBefore: new Date(validity.notBeforeMs),
    notAfter: new Date(validity.notAfterMs),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x.BasicConstraintsExtension(false, undefined, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.digitalSignature, true),
      new x.ExtendedKeyUsageExtension([x.ExtendedKeyUsage.serverAuth]),
      new x.SubjectAlternativeNameExtension(
        names.map((n) =>
          n.startsWith("IP:") ? { type: "ip", value: n.slice(3) } : { type: "dns", value: n.slice(4) },
        ),
      ),
      await x.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

/** 16 random bytes, positive as RFC 5280 wants. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}
