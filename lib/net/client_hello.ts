/**
 * A TLS ClientHello's server name (SNI), read from the first bytes of a
 * connection: handshake records collected until the message is whole
 * (records may split it anywhere), then its server_name extension
 * (RFC 8446 §4.1.2, RFC 6066 §3).
 */

/** The first byte of a TLS handshake record. */
export const TLS_HANDSHAKE = 0x16;
/** Names are bytes; latin1 maps each to one character, whatever it is. */
const LATIN1 = new TextDecoder("latin1");

/** The bytes are not a well-formed ClientHello with a server name. */
export class ClientHelloError extends Error {
  /** Creates the error with what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "ClientHelloError";
  }
}

/**
 * Collects the handshake bytes of TLS records until the ClientHello is whole,
 * then reads its server_name extension. Records may split the message anywhere.
 * Null while it is not whole; throws {@linkcode ClientHelloError}.
 */
export function readClientHello(
  bytes: Uint8Array,
): { serverName: string; length: number } | null {
  const hs: Uint8Array[] = [];
  let hsLen = 0;
  let at = 0;
  let need = -1; // total handshake bytes of the ClientHello, once known
  while (at + 5 <= bytes.length) {
    const type = bytes[at]!, major = bytes[at + 1]!;
    const recLen = (bytes[at + 3]! << 8) | bytes[at + 4]!;
    if (
      type !== TLS_HANDSHAKE || major !== 3 || recLen === 0 || recLen > 16384
    ) {
      throw new ClientHelloError("Malformed TLS record");
    }
    if (at + 5 + recLen > bytes.length) break;
    const frag = bytes.subarray(at + 5, at + 5 + recLen);
    hs.push(frag);
    hsLen += frag.length;
    at += 5 + recLen;
    if (need < 0 && hsLen >= 4) {
      const h = concat(hs, hsLen);
      if (h[0] !== 1) {
        throw new ClientHelloError("TLS handshake is not a ClientHello");
      }
      need = 4 + ((h[1]! << 16) | (h[2]! << 8) | h[3]!);
    }
    if (need >= 0 && hsLen >= need) {
      return {
        serverName: sniOf(concat(hs, hsLen).subarray(4, need)),
        length: at,
      };
    }
  }
  return null;
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads the SNI host name from a ClientHello body (RFC 8446 §4.1.2, RFC 6066 §3). */
function sniOf(hello: Uint8Array): string {
  const bad = () => new ClientHelloError("Malformed TLS ClientHello");
  const v = new DataView(hello.buffer, hello.byteOffset, hello.byteLength);
  let at = 2 + 32; // legacy_version, random
  const skip = (lenBytes: 1 | 2) => {
    if (at + lenBytes > hello.length) throw bad();
    const n = lenBytes === 1 ? v.getUint8(at) : v.getUint16(at);
    at += lenBytes + n;
  };
  skip(1); // session id
  skip(2); // cipher suites
  skip(1); // compression methods
  if (at + 2 > hello.length) {
    throw new ClientHelloError("TLS ClientHello without server name");
  }
  const extEnd = Math.min(hello.length, at + 2 + v.getUint16(at));
  at += 2;
  while (at + 4 <= extEnd) {
    const type = v.getUint16(at), len = v.getUint16(at + 2);
    at += 4;
    if (at + len > extEnd) throw bad();
    if (type === 0) {
      // server_name_list: a list of (type, name); type 0 is host_name.
      let p = at + 2;
      const listEnd = at + len;
      while (p + 3 <= listEnd) {
        const nameType = v.getUint8(p), nameLen = v.getUint16(p + 1);
        p += 3;
        if (p + nameLen > listEnd) throw bad();
        if (nameType === 0) {
          return LATIN1.decode(hello.subarray(p, p + nameLen));
        }
        p += nameLen;
      }
      throw bad();
    }
    at += len;
  }
  throw new ClientHelloError("TLS ClientHello without server name");
}
