/**
 * IP addresses as bytes, one parser for the whole project: the DNS zone,
 * the visitor lists and the command line all read addresses here.
 */

/** `1.2.3.4` as 4 bytes; throws on anything else. */
export function ipv4Bytes(ip: string): Uint8Array {
  const parts = ip.split(".");
  if (
    parts.length !== 4 ||
    !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) < 256)
  ) {
    throw new RangeError(`not an IPv4 address: ${ip}`);
  }
  return new Uint8Array(parts.map(Number));
}

/** An IPv6 address as 16 bytes; throws on anything else. */
export function ipv6Bytes(ip: string): Uint8Array {
  const bad = () => new RangeError(`not an IPv6 address: ${ip}`);
  if (!/^[0-9a-fA-F:.]+$/.test(ip)) throw bad();
  const halves = ip.split("::");
  if (halves.length > 2) throw bad();
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!), tail = groups(halves[1] ?? "");
  const words: number[] = [];
  const take = (gs: string[]) => {
    for (const [i, g] of gs.entries()) {
      if (g.includes(".") && i === gs.length - 1) {
        const b = ipv4Bytes(g);
        words.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) words.push(parseInt(g, 16));
      else throw bad();
    }
  };
  take(head);
  const headWords = words.length;
  take(tail);
  const missing = 8 - words.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) throw bad();
  words.splice(
    headWords,
    0,
    ...new Array(halves.length === 2 ? missing : 0).fill(0),
  );
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/**
 * An IPv4 or IPv6 address (brackets and a zone index allowed) as 4 or 16
 * bytes, or `undefined`.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const s = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  try {
    return s.includes(":") ? ipv6Bytes(s) : ipv4Bytes(s);
  } catch {
    return undefined;
  }
}

/** A dual-stack socket's `::ffff:a.b.c.d` as `a.b.c.d`; other addresses as they are. */
export function unmapIpv4(ip: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}

/** `host:port`, with IPv6 addresses in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
