import { parseIp } from "./ip.ts";
/**
 * Who may reach a tunnel, by address: allow and deny lists of CIDR blocks,
 * IPv4 and IPv6. Deny wins; with any allow entry, only those may come in.
 * IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) count as their IPv4 address.
 */

/** One CIDR block. */
interface Block {
  v6: boolean;
  bytes: Uint8Array;
  bits: number;
}

/** IPv4-mapped IPv6 as IPv4; everything else as it is. */
function canonical(b: Uint8Array): Uint8Array {
  if (
    b.length === 16 && b.subarray(0, 10).every((x) => x === 0) &&
    b[10] === 0xff && b[11] === 0xff
  ) return b.subarray(12);
  return b;
}

/** Parses `1.2.3.0/24`, `2001:db8::/32` or a bare address; throws a `TypeError`. */
export function parseCidr(text: string): Block {
  const [addr, len] = text.trim().split("/");
  const bytes = parseIp(addr ?? "");
  if (!bytes) throw new TypeError(`Not an IP address or CIDR block: "${text}"`);
  const c = canonical(bytes);
  const max = c.length * 8;
  const bits = len === undefined ? max : Number(len);
  if (!/^\d+$/.test(len ?? String(max)) || bits > max) {
    throw new TypeError(`Bad prefix length in "${text}" (0-${max})`);
  }
  return { v6: c.length === 16, bytes: c, bits };
}

function contains(b: Block, ip: Uint8Array): boolean {
  if ((ip.length === 16) !== b.v6) return false;
  let bits = b.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (b.bytes[i]! & mask)) return false;
  }
  return true;
}

/** Allow and deny lists; see the module doc. */
export class IpFilter {
  #allow: Block[];
  #deny: Block[];

  /** Lists of CIDR text; throws a `TypeError` for a bad entry. */
  constructor(allow: readonly string[] = [], deny: readonly string[] = []) {
    this.#allow = allow.map(parseCidr);
    this.#deny = deny.map(parseCidr);
  }

  /** True when the lists say nothing (everyone may come in). */
  get empty(): boolean {
    return this.#allow.length === 0 && this.#deny.length === 0;
  }

  /** Whether `ip` may come in. An address that does not parse may not. */
  allows(ip: string): boolean {
    if (this.empty) return true;
    const parsed = parseIp(ip);
    if (!parsed) return false;
    const c = canonical(parsed);
    if (this.#deny.some((b) => contains(b, c))) return false;
    return this.#allow.length === 0 || this.#allow.some((b) => contains(b, c));
  }
}
