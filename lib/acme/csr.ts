/**
 * The certificate's key and its signing request (PKCS#10, RFC 2986), with
 * the DER written here: a P-256 key from WebCrypto, the names in a
 * subjectAltName extension request, signed with ECDSA/SHA-256.
 */

/** A DER element: tag, length, content. */
function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len = n < 0x80
    ? [n]
    : n < 0x100
    ? [0x81, n]
    : n < 0x10000
    ? [0x82, n >> 8, n & 0xff]
    : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const seq = (...parts: Uint8Array[]) => tlv(0x30, concat(parts));
const set = (...parts: Uint8Array[]) => tlv(0x31, concat(parts));
const text = (s: string) => new TextEncoder().encode(s);

/** A DER INTEGER from unsigned big-endian bytes (minimal, non-negative). */
function uint(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, b[0]! & 0x80 ? concat([new Uint8Array([0]), b]) : b);
}

/** A DER OBJECT IDENTIFIER from its dotted form. */
function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a! + b!];
  for (const n of rest) {
    const bytes = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) bytes.unshift(0x80 | (v & 0x7f));
    out.push(...bytes);
  }
  return tlv(0x06, new Uint8Array(out));
}

const OID = {
  commonName: "2.5.4.3",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
};

const ALG = { name: "ECDSA", namedCurve: "P-256" } as const;

/** A new key for the certificate. */
export async function generateCertificateKey(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
}

/** The key as PEM (PKCS#8, `BEGIN PRIVATE KEY`), as TLS servers read it. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  let bin = "";
  for (const b of der) bin += String.fromCharCode(b);
  const body = btoa(bin).replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

/**
 * A DER certificate signing request for `names` (the first is also the
 * subject's common name), signed by `keys`.
 */
export async function makeCsr(
  names: string[],
  keys: CryptoKeyPair,
): Promise<Uint8Array> {
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", keys.publicKey),
  );
  const subject = seq(
    set(seq(oid(OID.commonName), tlv(0x0c, text(names[0]!)))),
  );
  // GeneralName dNSName is [2] IMPLICIT IA5String.
  const san = seq(...names.map((n) => tlv(0x82, text(n))));
  const extensions = seq(seq(oid(OID.subjectAltName), tlv(0x04, san)));
  const attributes = tlv(
    0xa0,
    seq(oid(OID.extensionRequest), set(extensions)),
  );
  const info = seq(uint(new Uint8Array([0])), subject, spki, attributes);
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      keys.privateKey,
      info as Uint8Array<ArrayBuffer>,
    ),
  );
  // X.509 wants the signature as SEQUENCE { r INTEGER, s INTEGER }.
  const signature = seq(uint(raw.subarray(0, 32)), uint(raw.subarray(32)));
  return seq(
    info,
    seq(oid(OID.ecdsaWithSha256)),
    tlv(0x03, concat([new Uint8Array([0]), signature])),
  );
}
