/**
 * The hop between nodes: a public connection that came in at a node that
 * does not hold its tunnel goes, raw, to the node that does. It starts with
 * one line saying who the visitor is, how TLS was handled and which host
 * they asked for, with a random nonce, signed with the cluster secret
 * (HMAC-SHA256, checked in constant time, at most {@linkcode HOP_MAX_SKEW}
 * old, each nonce taken once), then the bytes the entry node peeked, then
 * everything else both ways. The holder serves it as a public connection of
 * its own, only for the host signed, and never forwards it again.
 *
 * The line: `GTHOP/2 <ms> <nonce> <ip> <port> <tls> <host> <hmac>`. A line
 * seen on the wire cannot be replayed (its nonce was taken) nor sent to
 * another tunnel (its host is signed). Hops carry the visitor's bytes in
 * the clear between nodes: keep the node addresses on a private network.
 */

import { createHmac, randomBytes } from "node:crypto";
import {
  acquire,
  type ByteConn,
  closeQuietly,
  constantTimeEqual,
  Deadline,
  release,
  TIMED_OUT,
  writeAll,
} from "../net/mod.ts";
import type { ChannelFacts } from "../wire/mod.ts";

/** Longest hop line (bytes, with its LF). */
export const HOP_MAX_LINE = 512;
/** How old a hop line may be (ms; both ways, for clock skew). */
export const HOP_MAX_SKEW = 60_000;
/** Nonces remembered at most (a hop's line is refused past it until some expire). */
export const HOP_MAX_NONCES = 100_000;
/** Time to connect to the holder node (ms). */
export const HOP_CONNECT_TIMEOUT = 3_000;

/** A hop line that does not verify; the message says why. */
export class HopError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "HopError";
  }
}

/** Who the visitor is, as the entry node saw them. */
export interface HopVisitor {
  /** Visitor IP. */
  ip: string;
  /** Visitor port. */
  port: number;
  /** How TLS was handled at the entry. */
  tls: ChannelFacts["tls"];
  /** The host the visitor asked for (`Host` or SNI), as routed at the entry. */
  host: string;
}

const VERSION = "GTHOP/2";

/** Signs and checks hop lines with the cluster secret. */
export class HopSigner {
  #secret: Uint8Array;
  /** Nonces taken, with when each may be forgotten, oldest first. */
  #seen = new Set<string>();
  #expiries: Array<[number, string]> = [];
  #expired = 0;

  /** A signer for `secret`. */
  constructor(secret: string) {
    this.#secret = new TextEncoder().encode(secret);
  }

  // node:crypto's HMAC is synchronous: no promise per hop, as WebCrypto's.
  #mac(text: string): string {
    return createHmac("sha256", this.#secret).update(text).digest("hex");
  }

  /** The line that starts a hop for `v`. */
  line(v: HopVisitor, now = Date.now()): Uint8Array {
    const nonce = randomBytes(12).toString("hex");
    const body =
      `${VERSION} ${now} ${nonce} ${v.ip} ${v.port} ${v.tls} ${v.host}`;
    return new TextEncoder().encode(`${body} ${this.#mac(body)}\n`);
  }

  /**
   * Checks a line (without its LF) and takes its nonce; the visitor, or
   * {@linkcode HopError}.
   */
  verify(line: string, now = Date.now()): HopVisitor {
    const parts = line.split(" ");
    if (parts.length !== 8 || parts[0] !== VERSION) {
      throw new HopError("not a hop line");
    }
    const [, ts, nonce, ip, port, tls, host, mac] = parts as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const expected = this.#mac(parts.slice(0, 7).join(" "));
    if (!constantTimeEqual(mac, expected)) throw new HopError("bad signature");
    if (!(Math.abs(now - Number(ts)) <= HOP_MAX_SKEW)) {
      throw new HopError("stale hop line");
    }
    if (tls !== "none" && tls !== "terminated" && tls !== "passthrough") {
      throw new HopError("bad TLS mode");
    }
    if (!/^[0-9]{1,5}$/.test(port) || !/^[0-9a-fA-F:.]+$/.test(ip)) {
      throw new HopError("bad visitor address");
    }
    this.#take(nonce, now);
    return { ip, port: Number(port), tls, host };
  }

  /** A nonce is good once within the window; throws when seen (or too many). */
  #take(nonce: string, now: number): void {
    const q = this.#expiries;
    while (this.#expired < q.length && q[this.#expired]![0] < now) {
      this.#seen.delete(q[this.#expired++]![1]);
    }
    if (this.#expired > 1024 && this.#expired * 2 > q.length) {
      q.splice(0, this.#expired);
      this.#expired = 0;
    }
    if (this.#seen.has(nonce)) throw new HopError("replayed hop line");
    if (this.#seen.size >= HOP_MAX_NONCES) {
      throw new HopError("too many hops within the window");
    }
    this.#seen.add(nonce);
    // Forgettable once a line with it would be stale anyway.
    q.push([now + 2 * HOP_MAX_SKEW, nonce]);
  }
}

/**
 * Reads the hop line from `conn` (within `timeout` ms): the line and the
 * bytes read after it. Throws {@linkcode HopError} on a line too long, EOF
 * or silence.
 */
export async function readHopLine(
  conn: ByteConn,
  timeout: number,
): Promise<{ line: string; rest: Uint8Array }> {
  const buf = new Uint8Array(HOP_MAX_LINE + 4096);
  let len = 0;
  const deadline = new Deadline(timeout);
  try {
    for (;;) {
      const nl = buf.subarray(0, len).indexOf(10);
      if (nl >= 0) {
        return {
          line: new TextDecoder().decode(buf.subarray(0, nl)),
          rest: buf.slice(nl + 1, len),
        };
      }
      if (len >= HOP_MAX_LINE) throw new HopError("hop line too long");
      const n = await deadline.read(conn, buf.subarray(len)).catch(() => null);
      if (n === null || n === TIMED_OUT) throw new HopError("no hop line");
      len += n;
    }
  } finally {
    deadline.clear();
  }
}

/**
 * Carries a visitor's connection to the holder at `addr` (`host:port`):
 * the signed line, `first` (the peeked bytes), then both ways until both
 * are done; over TLS checked against `ca` (PEM) when given. Rejects if the
 * holder cannot be reached (nothing was sent to the visitor then, so the
 * caller can still answer).
 */
export async function forward(
  visitor: ByteConn,
  first: Uint8Array,
  addr: string,
  line: Uint8Array,
  ca?: string,
): Promise<void> {
  const colon = addr.lastIndexOf(":");
  const hostname = addr.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(addr.slice(colon + 1));
  let holder: ByteConn;
  if (ca === undefined) {
    const signal = AbortSignal.timeout(HOP_CONNECT_TIMEOUT);
    const tcp = await Deno.connect({ hostname, port, signal });
    tcp.setNoDelay(true);
    holder = tcp;
  } else {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let late = false;
    const connecting = Deno.connectTls({ hostname, port, caCerts: [ca] })
      .then(async (c) => {
        try {
          await c.handshake();
        } catch (err) {
          closeQuietly(c);
          throw err;
        }
        // Connected after the timeout: closed, not leaked.
        if (late) closeQuietly(c);
        return c;
      });
    connecting.catch(() => {});
    const tls = await Promise.race([
      connecting,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => {
          late = true;
          reject(new HopError("the holder did not answer in time"));
        }, HOP_CONNECT_TIMEOUT)
      ),
    ]).finally(() => clearTimeout(timer));
    holder = tls;
  }
  try {
    const head = new Uint8Array(line.length + first.length);
    head.set(line);
    head.set(first, line.length);
    await writeAll(holder, head);
  } catch (err) {
    closeQuietly(holder);
    throw err;
  }
  await pipe(visitor, holder);
}

/** Copies both ways between two sockets (half-close passed on), then closes both. */
export async function pipe(a: ByteConn, b: ByteConn): Promise<void> {
  const one = async (from: ByteConn, to: ByteConn) => {
    // From the relay's pool: most hops carry a request or two.
    const buf = acquire(1);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        await writeAll(to, buf.subarray(0, n));
      }
      await to.closeWrite();
    } catch {
      closeQuietly(a);
      closeQuietly(b);
    } finally {
      release(1, buf);
    }
  };
  await Promise.all([one(a, b), one(b, a)]);
  closeQuietly(a);
  closeQuietly(b);
}
