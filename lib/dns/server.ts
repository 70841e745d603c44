/**
 * The DNS server for the tunnel zone: UDP (through `node:dgram`, which Deno
 * runs without unstable flags) and TCP on one port. Each packet is read by
 * lib/dns/wire.ts and answered from a {@linkcode Zone}. What cannot be read
 * is dropped without an answer (answering junk helps spoofers); a response
 * is never answered (no loops between servers). Over UDP an answer never
 * exceeds 512 bytes, or what EDNS asked for up to 1232, so it cannot be used
 * as an amplifier: bigger answers are cut to the question with TC set.
 */

import { createSocket, type Socket } from "node:dgram";
import {
  DnsFormatError,
  encodeError,
  encodeResponse,
  parseQuery,
  RCODE,
  UDP_EDNS_MAX,
  UDP_PLAIN_MAX,
} from "./wire.ts";
import type { Zone } from "./zone.ts";
import { closeQuietly } from "../net/mod.ts";

/** The DNS port (`--dns-port`). */
export const DEFAULT_DNS_PORT = 53;
/** TCP connections served at once; more are closed at once. */
export const MAX_DNS_TCP_CONNECTIONS = 128;
/** How long a TCP connection may sit idle between queries (ms). */
export const DNS_TCP_IDLE = 10_000;
/** TCP connections served at once for one address: one asker cannot hold every slot. */
export const MAX_DNS_TCP_PER_ADDRESS = 8;
/**
 * How long one query over TCP may take, from its first byte until its
 * answer is written (ms): bytes trickled in one at a time do not stretch it.
 */
export const DNS_TCP_QUERY_DEADLINE = 5_000;
/** The largest query taken over TCP (bytes); a bigger one closes the connection. */
export const MAX_DNS_TCP_QUERY = 4096;

/**
 * UDP answers per second to one address; more are dropped. Over UDP the
 * source can be forged: this caps what a forger can make us send to a victim.
 */
export const DEFAULT_DNS_RATE_LIMIT = 100;

/** Where the DNS server listens. */
export interface DnsServerOptions {
  /** Address to bind (both UDP and TCP). */
  hostname: string;
  /** Port (0: any free one, the same for both where possible). */
  port: number;
  /** The records. */
  zone: Zone;
  /**
   * UDP answers per second to one address.
   * @default {100}
   */
  rateLimit?: number | undefined;
}

/** Counters, for logs and tests. */
export interface DnsStats {
  /** Queries answered. */
  answered: number;
  /** Packets dropped as unreadable. */
  dropped: number;
  /** UDP queries left unanswered by the rate limit. */
  limited: number;
}

/** The running server; see the module doc. */
export class DnsServer {
  #zone: Zone;
  #udp: Socket;
  #tcp: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  /** Open TCP connections by the asker's address. */
  #perAddress = new Map<string, number>();
  /** The bound port (UDP and TCP). */
  readonly port: number;
  /** Counters. */
  readonly stats: DnsStats = { answered: 0, dropped: 0, limited: 0 };
  #rate: number;
  // Answers per address in the current second (cleared each second).
  #sent = new Map<string, number>();
  #second = 0;

  private constructor(
    zone: Zone,
    udp: Socket,
    tcp: Deno.TcpListener,
    rate: number,
  ) {
    this.#zone = zone;
    this.#udp = udp;
    this.#tcp = tcp;
    this.#rate = rate;
    this.port = tcp.addr.port;
    udp.on("message", (msg: Uint8Array, rinfo) => {
      if (!this.#allow(rinfo.address)) return;
      const out = this.#answer(msg, false);
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    this.#acceptLoop();
  }

  /** Binds UDP and TCP on the same port; rejects when either cannot bind. */
  static async start(o: DnsServerOptions): Promise<DnsServer> {
    const tcp = Deno.listen({ hostname: o.hostname, port: o.port });
    const udp = createSocket({
      type: o.hostname.includes(":") ? "udp6" : "udp4",
    });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind(tcp.addr.port, o.hostname, () => {
          udp.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      tcp.close();
      udp.close();
      throw err;
    }
    // After binding, a socket error (an ICMP report, say) is not fatal.
    udp.on("error", () => {});
    return new DnsServer(
      o.zone,
      udp,
      tcp,
      o.rateLimit ?? DEFAULT_DNS_RATE_LIMIT,
    );
  }

  /** Whether `address` may get another UDP answer this second. */
  #allow(address: string): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#sent.clear();
    }
    const n = (this.#sent.get(address) ?? 0) + 1;
    this.#sent.set(address, n);
    if (n <= this.#rate) return true;
    this.stats.limited++;
    return false;
  }

  /** The answer to one packet, or undefined to drop it. */
  #answer(p: Uint8Array, tcp: boolean): Uint8Array | undefined {
    let q;
    try {
      q = parseQuery(p);
    } catch (err) {
      if (!(err instanceof DnsFormatError)) throw err;
      this.stats.dropped++;
      return undefined;
    }
    this.stats.answered++;
    const max = tcp ? 65535 : Math.min(
      Math.max(q.ednsSize, UDP_PLAIN_MAX),
      UDP_EDNS_MAX,
    );
    try {
      return encodeResponse(q, this.#zone.answer(q), max);
    } catch {
      return encodeError(q, RCODE.SERVFAIL);
    }
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#tcp.accept();
      } catch {
        return; // closed
      }
      const ip = (conn.remoteAddr as Deno.NetAddr).hostname;
      const mine = this.#perAddress.get(ip) ?? 0;
      if (
        this.#conns.size >= MAX_DNS_TCP_CONNECTIONS ||
        mine >= MAX_DNS_TCP_PER_ADDRESS
      ) {
        closeQuietly(conn);
        continue;
      }
      this.#conns.add(conn);
      this.#perAddress.set(ip, mine + 1);
      this.#serveTcp(conn).finally(() => {
        this.#conns.delete(conn);
        const left = (this.#perAddress.get(ip) ?? 1) - 1;
        if (left > 0) this.#perAddress.set(ip, left);
        else this.#perAddress.delete(ip);
        closeQuietly(conn);
      });
    }
  }

  /**
   * Length-prefixed queries (RFC 1035 §4.2.2) until EOF, junk, idleness
   * between queries ({@linkcode DNS_TCP_IDLE}) or a query that takes too
   * long ({@linkcode DNS_TCP_QUERY_DEADLINE}): the connection is closed.
   */
  async #serveTcp(conn: Deno.Conn): Promise<void> {
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(MAX_DNS_TCP_QUERY + 2);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => closeQuietly(conn), ms);
    };
    arm(DNS_TCP_IDLE);
    try {
      for (;;) {
        while (buf.length >= 2) {
          const len = (buf[0]! << 8) | buf[1]!;
          if (len > MAX_DNS_TCP_QUERY) return;
          if (buf.length < 2 + len) break;
          const out = this.#answer(buf.subarray(2, 2 + len), true);
          buf = buf.slice(2 + len);
          if (!out) return;
          const framed = new Uint8Array(out.length + 2);
          framed[0] = out.length >> 8;
          framed[1] = out.length & 0xff;
          framed.set(out, 2);
          let off = 0;
          while (off < framed.length) {
            off += await conn.write(framed.subarray(off));
          }
          // Answered: the next query has its own deadline.
          arm(buf.length ? DNS_TCP_QUERY_DEADLINE : DNS_TCP_IDLE);
        }
        const n = await conn.read(chunk);
        if (n === null) return;
        if (buf.length === 0) arm(DNS_TCP_QUERY_DEADLINE); // a query begins
        const next = new Uint8Array(buf.length + n);
        next.set(buf);
        next.set(chunk.subarray(0, n), buf.length);
        buf = next;
      }
    } catch {
      return; // closed by a timer, or reset
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops listening and closes open TCP connections. */
  close(): void {
    try {
      this.#udp.close();
    } catch { /* already */ }
    try {
      this.#tcp.close();
    } catch { /* already */ }
    for (const c of this.#conns) closeQuietly(c);
  }
}
