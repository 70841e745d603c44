/**
 * A certificate and its key, read from PEM files and checked before use:
 * both parse, the key belongs to the certificate, and it is valid now. The
 * server refuses to start on a bad pair and keeps the old one on a bad reload,
 * so every check happens here, before anything serves it.
 */

import { createPrivateKey, X509Certificate } from "node:crypto";

/** A certificate file or key file cannot be used; the message says why. */
export class CertificateError extends Error {
  /** Creates the error; `cause` is the underlying failure, if any. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateError";
  }
}

/** A checked certificate chain and key, in PEM. */
export interface Certificate {
  /** The chain, leaf first, as read. */
  cert: string;
  /** The private key, as read. */
  key: string;
  /** The DNS names the leaf covers (from its subjectAltName). */
  names: string[];
  /** When the leaf expires (ms since the epoch). */
  notAfter: number;
  /** SHA-256 fingerprint of the leaf, `AB:CD:…`: tells reloads apart in logs. */
  fingerprint: string;
}

/** The files a {@linkcode Certificate} is read from. */
export interface CertificateFiles {
  /** PEM certificate chain, leaf first. */
  certFile: string;
  /** PEM private key of the leaf. */
  keyFile: string;
}

/** Reads and checks a certificate pair; throws {@linkcode CertificateError}. */
export function readCertificate(
  files: CertificateFiles,
  now: number = Date.now(),
): Certificate {
  const cert = readText(files.certFile, "certificate");
  const key = readText(files.keyFile, "key");
  return parseCertificate(cert, key, now, files);
}

/** Checks PEM text; `files` only names the sources in messages. */
export function parseCertificate(
  cert: string,
  key: string,
  now: number = Date.now(),
  files: CertificateFiles = { certFile: "certificate", keyFile: "key" },
): Certificate {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError(
      `Cannot parse the certificate in "${files.certFile}": expected PEM (BEGIN CERTIFICATE)`,
      { cause: err },
    );
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new CertificateError(
      `Cannot parse the private key in "${files.keyFile}": expected PEM (BEGIN PRIVATE KEY)`,
      { cause: err },
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CertificateError(
      `The key in "${files.keyFile}" does not belong to the certificate in "${files.certFile}"`,
    );
  }
  const notAfter = Date.parse(leaf.validTo);
  const notBefore = Date.parse(leaf.validFrom);
  if (!(notAfter > now)) {
    throw new CertificateError(
      `The certificate in "${files.certFile}" expired on ${leaf.validTo}`,
    );
  }
  if (notBefore > now) {
    throw new CertificateError(
      `The certificate in "${files.certFile}" is not valid before ${leaf.validFrom}`,
    );
  }
  const names = (leaf.subjectAltName ?? "").split(",").map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4).toLowerCase());
  return { cert, key, names, notAfter, fingerprint: leaf.fingerprint256 };
}

/** Whether a certificate's names cover `host` (one-label wildcards, RFC 6125). */
export function covers(c: Pick<Certificate, "names">, host: string): boolean {
  const h = host.toLowerCase();
  const dot = h.indexOf(".");
  return c.names.some((n) =>
    n === h || (n.startsWith("*.") && dot > 0 && n.slice(1) === h.slice(dot))
  );
}

function readText(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.NotCapable ||
          err instanceof Deno.errors.PermissionDenied
      ? `no read permission (run with --allow-read=${path})`
      : (err as Error).message;
    throw new CertificateError(`Cannot read the ${what} "${path}": ${why}`, {
      cause: err,
    });
  }
}
