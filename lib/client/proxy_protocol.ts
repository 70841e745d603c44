/**
 * The PROXY protocol header (HAProxy's, versions 1 and 2): sent to the local
 * app before the visitor's bytes, for traffic the client cannot parse (TLS
 * passed through, TCP tunnels), so the app still learns the visitor's
 * address. Without facts from the server, v1 says `UNKNOWN` and v2 `LOCAL`.
 */

import type { ChannelFacts } from "../wire/mod.ts";
import { parseIp, writeAll } from "../net/mod.ts";
import type { ClientFeature } from "./stage.ts";

/** The versions a client can send. */
export type ProxyProtocolVersion = "v1" | "v2";

/** The v2 signature (12 bytes). */
export const PROXY_V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

/** The header for one connection. */
export function proxyHeader(
  version: ProxyProtocolVersion,
  facts: ChannelFacts | undefined,
): Uint8Array {
  const src = facts ? parseIp(facts.ip) : undefined;
  const dst = facts ? parseIp(facts.dstIp) : undefined;
  const same = src && dst && src.length === dst.length;
  if (version === "v1") {
    if (!facts || !same) return new TextEncoder().encode("PROXY UNKNOWN\r\n");
    const fam = src.length === 4 ? "TCP4" : "TCP6";
    return new TextEncoder().encode(
      `PROXY ${fam} ${facts.ip} ${facts.dstIp} ${facts.port} ${facts.dstPort}\r\n`,
    );
  }
  if (!facts || !same) {
    const out = new Uint8Array(16);
    out.set(PROXY_V2_SIGNATURE);
    out[12] = 0x20; // version 2, LOCAL
    return out; // family 0, length 0
  }
  const v4 = src.length === 4;
  const len = v4 ? 12 : 36;
  const out = new Uint8Array(16 + len);
  out.set(PROXY_V2_SIGNATURE);
  out[12] = 0x21; // version 2, PROXY
  out[13] = v4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  out[14] = len >> 8;
  out[15] = len & 0xff;
  out.set(src, 16);
  out.set(dst, 16 + src.length);
  const ports = 16 + 2 * src.length;
  out[ports] = facts.port >> 8;
  out[ports + 1] = facts.port & 0xff;
  out[ports + 2] = facts.dstPort >> 8;
  out[ports + 3] = facts.dstPort & 0xff;
  return out;
}

/** The PROXY header as a stage: sent to the app first, on HTTP and TCP tunnels. */
export const proxyFeature: ClientFeature = (o) => {
  const version = o.proxyProtocol;
  if (!version) return undefined;
  return {
    httpOnly: false,
    join: (c) => writeAll(c.app, proxyHeader(version, c.facts)),
  };
};
