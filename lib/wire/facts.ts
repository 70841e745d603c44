/**
 * Channel facts: what the server knew of a public connection (the visitor's
 * address, whether TLS was ended or passed through, the host it asked for,
 * the address it reached), sent to the client as the first bytes of the
 * channel. Only when the client offered the feature (`facts` in
 * `X-Groktunnel-Features`) and the server echoed it: an old peer never sees
 * them. Wire form: a big-endian uint16 length, then that much UTF-8 JSON.
 */

/** The feature name in `X-Groktunnel-Features`. */
export const FEATURE_FACTS = "facts";
/** Largest facts record accepted. */
export const MAX_FACTS = 1024;

/** What the server knew of one public connection. */
export interface ChannelFacts {
  /** The visitor's IP address. */
  ip: string;
  /** The visitor's port. */
  port: number;
  /** `terminated`: the server ended TLS; `passthrough`: TLS bytes follow; `none`: plain. */
  tls: "terminated" | "passthrough" | "none";
  /** The host the visitor asked for (`Host` or SNI), as sent. */
  host: string;
  /** The server address the visitor reached. */
  dstIp: string;
  /** The server port the visitor reached. */
  dstPort: number;
}

/** Encodes facts, followed by `rest` (the visitor's first bytes), in one buffer. */
export function encodeFacts(f: ChannelFacts, rest: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(f));
  const out = new Uint8Array(2 + json.length + rest.length);
  out[0] = json.length >> 8;
  out[1] = json.length & 0xff;
  out.set(json, 2);
  out.set(rest, 2 + json.length);
  return out;
}

/** Reads a facts record from the start of a channel; throws on a malformed one. */
export async function readFacts(
  r: { read(p: Uint8Array): Promise<number | null> },
): Promise<ChannelFacts> {
  const len = await readExact(r, 2);
  const n = (len[0]! << 8) | len[1]!;
  if (n > MAX_FACTS) throw new RangeError(`Channel facts too long: ${n} bytes`);
  const body = JSON.parse(new TextDecoder().decode(await readExact(r, n)));
  const ok = body && typeof body.ip === "string" &&
    Number.isInteger(body.port) && typeof body.host === "string" &&
    ["terminated", "passthrough", "none"].includes(body.tls);
  if (!ok) throw new TypeError("Malformed channel facts");
  return {
    ip: body.ip,
    port: body.port,
    tls: body.tls,
    host: body.host,
    dstIp: typeof body.dstIp === "string" ? body.dstIp : "",
    dstPort: Number.isInteger(body.dstPort) ? body.dstPort : 0,
  };
}

async function readExact(
  r: { read(p: Uint8Array): Promise<number | null> },
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const k = await r.read(out.subarray(got));
    if (k === null) throw new RangeError("Channel ended inside its facts");
    got += k;
  }
  return out;
}
