/**
 * TCP tunnels: a public port per tunnel, from the operator's range. Each
 * connection to it becomes a channel, bytes flowing from the first one (no
 * peek). Ports are held for a client that vanished, as names are, so a
 * reconnect with the name's secret gets the same port back; a clean exit
 * frees it at once.
 */

import { unmapIpv4 } from "../net/mod.ts";
import type { Refusal } from "./registry.ts";

/** TCP tunnels at once from one client IP address. */
export const DEFAULT_MAX_TCP_TUNNELS_PER_IP = 4;

/** Parses `20000-20999` (or one port); throws a `RangeError`. */
export function parsePortRange(text: string): [number, number] {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text.trim());
  const lo = Number(m?.[1]), hi = Number(m?.[2] ?? m?.[1]);
  if (!m || lo < 1 || hi > 65535 || lo > hi) {
    throw new RangeError(
      `A port range is "low-high" within 1-65535, not "${text}"`,
    );
  }
  return [lo, hi];
}

/** Options of {@linkcode TcpPorts}. */
export interface TcpPortsOptions {
  /** The range public ports come from, inclusive. */
  range: [number, number];
  /** Address the public ports listen on. */
  hostname: string;
  /** Milliseconds a vanished client's port is kept for it. */
  hold: number;
  /** TCP tunnels at once per client IP. */
  maxPerIp: number;
}

/** Which ports are open, held or free; opens their listeners. */
export class TcpPorts {
  #o: TcpPortsOptions;
  #open = new Map<
    number,
    { name: string; ip: string; listener: Deno.TcpListener }
  >();
  #held = new Map<number, { name: string; until: number }>();
  #perIp = new Map<string, number>();

  /** An empty table over `options.range`. */
  constructor(options: TcpPortsOptions) {
    this.#o = options;
  }

  /** The range, as text for messages. */
  get range(): string {
    const [lo, hi] = this.#o.range;
    return lo === hi ? String(lo) : `${lo}-${hi}`;
  }

  /**
   * Opens a public port for the tunnel `name` of a client at `ip`: its
   * held port if it has one, else `requested` if given, else a random free
   * one. Returns the listener, or why not.
   */
  open(
    name: string,
    ip: string,
    requested: number | undefined,
  ): { port: number; listener: Deno.TcpListener } | Refusal {
    const [lo, hi] = this.#o.range;
    if ((this.#perIp.get(ip) ?? 0) >= this.#o.maxPerIp) {
      return {
        status: 429,
        message: `Too many TCP tunnels from ${ip} (limit ${this.#o.maxPerIp})`,
      };
    }
    this.#expire();
    const mine = [...this.#held].find(([, h]) => h.name === name)?.[0];
    if (requested !== undefined && (requested < lo || requested > hi)) {
      return {
        status: 400,
        message:
          `Port ${requested} is outside this server's TCP range ${this.range}`,
      };
    }
    const want = requested ?? mine;
    if (want !== undefined) {
      const held = this.#held.get(want);
      if (this.#open.has(want) || (held && held.name !== name)) {
        return { status: 409, message: `Port ${want} is in use` };
      }
      const listener = this.#listen(want);
      if (!listener) return { status: 409, message: `Port ${want} is in use` };
      return this.#take(want, name, ip, listener);
    }
    // A random start, then every port of the range once.
    const size = hi - lo + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = lo + (start + i) % size;
      if (this.#open.has(port) || this.#held.has(port)) continue;
      const listener = this.#listen(port);
      if (listener) return this.#take(port, name, ip, listener);
    }
    return {
      status: 503,
      message: `No free TCP port left in ${this.range}; try again later`,
    };
  }

  /**
   * The tunnel that opened `listener` on `port` ended: hold the port for its
   * name, or free it (`release`). A later tunnel on the same port is left alone.
   */
  close(port: number, listener: Deno.TcpListener, release: boolean): void {
    const open = this.#open.get(port);
    if (!open || open.listener !== listener) return;
    try {
      listener.close();
    } catch { /* closed */ }
    this.#open.delete(port);
    const left = (this.#perIp.get(open.ip) ?? 1) - 1;
    if (left > 0) this.#perIp.set(open.ip, left);
    else this.#perIp.delete(open.ip);
    if (!release && this.#o.hold > 0) {
      this.#held.set(port, {
        name: open.name,
        until: Date.now() + this.#o.hold,
      });
    }
  }

  /** The name whose tunnel has `port` open, or held. */
  nameOf(port: number): string | undefined {
    return this.#open.get(port)?.name ?? this.#held.get(port)?.name;
  }

  /** Frees a held port of `name` at once (its client's clean exit). */
  releaseName(name: string): void {
    for (const [port, h] of this.#held) {
      if (h.name === name) this.#held.delete(port);
    }
  }

  #take(
    port: number,
    name: string,
    ip: string,
    listener: Deno.TcpListener,
  ): { port: number; listener: Deno.TcpListener } {
    this.#held.delete(port);
    this.#open.set(port, { name, ip, listener });
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    return { port, listener };
  }

  #listen(port: number): Deno.TcpListener | undefined {
    try {
      return Deno.listen({ hostname: this.#o.hostname, port });
    } catch {
      return undefined; // another program has it
    }
  }

  #expire(): void {
    const now = Date.now();
    for (const [port, h] of this.#held) {
      if (h.until <= now) this.#held.delete(port);
    }
  }
}

/** What a TCP tunnel's accept loop needs from the server. */
export interface TcpServeContext {
  /** May this visitor come in (the operator's and the tunnel's lists)? */
  allows: (ip: string) => boolean;
  /** Channels at once per tunnel. */
  maxConnections: number;
  /** Opens a channel to the client and relays `conn` through it. */
  relay: (conn: Deno.TcpConn) => Promise<void>;
  /** Channels open now. */
  channelCount: () => number;
  /** Resolves when the tunnel ends. */
  ended: Promise<unknown>;
}

/**
 * Accepts on a TCP tunnel's public port until the tunnel ends, then closes
 * the port at once. A refused visitor (lists, limits) is closed without a
 * byte: there is no page to show over raw TCP.
 */
export async function serveTcpTunnel(
  listener: Deno.TcpListener,
  c: TcpServeContext,
): Promise<void> {
  let open = true;
  c.ended.then(() => {
    open = false;
    try {
      listener.close();
    } catch { /* closed */ }
  });
  while (open) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch {
      if (!open) break;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const ip = unmapIpv4(conn.remoteAddr.hostname);
    if (!c.allows(ip) || c.channelCount() >= c.maxConnections) {
      try {
        conn.close();
      } catch { /* closed */ }
      continue;
    }
    conn.setNoDelay(true);
    c.relay(conn).catch(() => {});
  }
}
