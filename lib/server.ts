/**
 * The tunnel server: one listener; each new connection is peeked for its
 * name. The bare host (or the original's `_new.<host>`) is the control
 * endpoint where clients get a tunnel; `<sub>.<host>` is relayed through that
 * tunnel's session as a new channel; anything else gets a short error page.
 */

import { OpenFailedError } from "./mux/errors.ts";
import { Session } from "./mux/session.ts";
import { relay } from "./relay.ts";
import { closeQuietly } from "./sockets.ts";
import { page, reason, TLS_UNRECOGNIZED_NAME } from "./pages.ts";
import {
  DEFAULT_PEEK_MAX_BYTES,
  DEFAULT_PEEK_TIMEOUT,
  peek,
  PeekError,
  type PeekResult,
} from "./peek.ts";
import { Routes } from "./routes.ts";
import {
  constantTimeEqual,
  isValidName,
  randomName,
  randomSecret,
} from "./subdomains.ts";
import {
  encodeControlResponse,
  encodeRefusal,
  FEATURE_PING,
  HEADER_CLIENT,
  HEADER_FEATURES,
  HEADER_RESUME,
  HEADER_SUBDOMAIN,
} from "./handshake.ts";
import { VERSION } from "./version.ts";

/** Tunnels open at once on a server. */
export const DEFAULT_MAX_TUNNELS = 1000;
/** Tunnels open at once from one client IP address. */
export const DEFAULT_MAX_TUNNELS_PER_IP = 16;
/** Public connections open at once through one tunnel. */
export const DEFAULT_MAX_CONNECTIONS_PER_TUNNEL = 4096;
/** How long a released name stays reserved for its previous holder (ms). */
export const DEFAULT_NAME_HOLD = 10 * 60_000;
/** PING interval on sessions that negotiated it (ms). */
export const DEFAULT_PING_INTERVAL = 10_000;
/** Silence after which a session that negotiated PING is dropped (ms). */
export const DEFAULT_PING_TIMEOUT = 30_000;
/** How long the server waits for in-flight requests on shutdown (ms). */
export const DEFAULT_SHUTDOWN_GRACE = 10_000;
/** How long an error page's connection is drained before closing (ms). */
const LINGER = 1000;

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /**
   * The public base host: tunnels are `<name>.<host>`.
   * @default {"localhost"}
   */
  host?: string;
  /**
   * Port to listen on; 0 picks a free one.
   * @default {9999}
   */
  port?: number;
  /**
   * Address to bind.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** When set, clients must present it as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /**
   * Milliseconds a new connection has to send its head.
   * @default {10000}
   */
  peekTimeout?: number;
  /**
   * Largest request head, in bytes.
   * @default {32768}
   */
  peekMaxBytes?: number;
  /**
   * Tunnels at once.
   * @default {1000}
   */
  maxTunnels?: number;
  /**
   * Tunnels at once from one IP address.
   * @default {16}
   */
  maxTunnelsPerIp?: number;
  /**
   * Public connections at once through one tunnel.
   * @default {4096}
   */
  maxConnectionsPerTunnel?: number;
  /** Names no client may ask for (besides the control names). */
  reservedNames?: string[];
  /**
   * Milliseconds a released name is kept for its previous holder.
   * @default {600000}
   */
  nameHold?: number;
  /**
   * PING interval for clients that offer it, in ms.
   * @default {10000}
   */
  pingInterval?: number;
  /**
   * Silence before such a client is dropped, in ms.
   * @default {30000}
   */
  pingTimeout?: number;
  /** Where log lines go; default stderr with a timestamp. */
  log?: (line: string) => void;
}

/** A tunnel as the server lists it. */
export interface TunnelInfo {
  /** The subdomain. */
  name: string;
  /** The public host, `<name>.<host>[:port]`. */
  publicHost: string;
  /** The client's address. */
  client: string;
  /** When it started (ms since the epoch). */
  started: number;
}

interface Tunnel extends TunnelInfo {
  session: Session;
  secret: string;
  ip: string;
  connections: number;
}

/**
 * A running tunnel server; see {@linkcode startServer}.
 */
export class TunnelServer {
  /** The address the server listens on. */
  readonly addr: Deno.NetAddr;
  /** The public base host. */
  readonly host: string;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  #listener: Deno.TcpListener;
  #opts: Required<
    Omit<
      ServerOptions,
      "token" | "log" | "reservedNames" | "host" | "port" | "hostname"
    >
  >;
  #token: string | undefined;
  #reserved: Set<string>;
  #log: (line: string) => void;
  #routes = new Routes<Tunnel>();
  #tunnels = new Map<string, Tunnel>();
  #held = new Map<string, { secret: string; until: number }>();
  #perIp = new Map<string, number>();
  #conns = new Set<Deno.Conn>();
  #inFlight = 0;
  #closing = false;

  /** Starts listening; prefer {@linkcode startServer}. */
  constructor(options: ServerOptions = {}) {
    this.host = normaliseHost(options.host ?? "localhost");
    this.#token = options.token || undefined;
    this.#reserved = new Set(
      ["_new", ...(options.reservedNames ?? [])].map((n) => n.toLowerCase()),
    );
    this.#opts = {
      peekTimeout: options.peekTimeout ?? DEFAULT_PEEK_TIMEOUT,
      peekMaxBytes: options.peekMaxBytes ?? DEFAULT_PEEK_MAX_BYTES,
      maxTunnels: options.maxTunnels ?? DEFAULT_MAX_TUNNELS,
      maxTunnelsPerIp: options.maxTunnelsPerIp ?? DEFAULT_MAX_TUNNELS_PER_IP,
      maxConnectionsPerTunnel: options.maxConnectionsPerTunnel ??
        DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
      nameHold: options.nameHold ?? DEFAULT_NAME_HOLD,
      pingInterval: options.pingInterval ?? DEFAULT_PING_INTERVAL,
      pingTimeout: options.pingTimeout ?? DEFAULT_PING_TIMEOUT,
    };
    this.#log = options.log ??
      ((line) => console.error(`${new Date().toISOString()} ${line}`));
    this.#listener = Deno.listen({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 9999,
    });
    this.addr = this.#listener.addr;
    this.finished = this.#serve();
  }

  /** The tunnels open now. */
  get tunnels(): TunnelInfo[] {
    return [...this.#tunnels.values()].map((t) => ({
      name: t.name,
      publicHost: t.publicHost,
      client: t.client,
      started: t.started,
    }));
  }

  /**
   * Stops accepting, lets in-flight public requests finish for up to `grace`
   * ms, then closes every tunnel and connection.
   */
  async shutdown(grace: number = DEFAULT_SHUTDOWN_GRACE): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      closeQuietly(this.#listener);
      const until = Date.now() + grace;
      while (this.#inFlight > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const t of this.#tunnels.values()) t.session.close();
      for (const c of this.#conns) closeQuietly(c);
    }
    await this.finished;
  }

  /** Closes everything now. */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  async #serve(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closing) break;
        // Out of file descriptors and the like: wait, do not spin or die.
        this.#log(`accept failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      this.#handle(conn);
    }
    while (this.#conns.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async #handle(conn: Deno.TcpConn): Promise<void> {
    this.#conns.add(conn);
    try {
      conn.setNoDelay(true);
      let r: PeekResult;
      try {
        r = await peek(conn, {
          timeout: this.#opts.peekTimeout,
          maxBytes: this.#opts.peekMaxBytes,
        });
      } catch (err) {
        if (err instanceof PeekError) {
          await answer(conn, page(err.status, err.message));
        }
        return;
      }
      const tunnel = this.#routes.lookup(r.host, r.port);
      if (r.kind === "tls") {
        if (tunnel) await this.#public(tunnel, r);
        else await answer(conn, TLS_UNRECOGNIZED_NAME);
      } else if (r.host === this.host || r.host === `_new.${this.host}`) {
        await this.#control(conn, r);
      } else if (tunnel) {
        await this.#public(tunnel, r);
      } else {
        await answer(
          conn,
          page(
            404,
            `There is no tunnel at ${r.host}. Is the groktunnel client for it running?`,
            {
              headOnly: r.http?.method === "HEAD",
            },
          ),
        );
      }
    } catch (err) {
      this.#log(`connection error: ${(err as Error).message}`);
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  async #public(t: Tunnel, r: PeekResult): Promise<void> {
    if (t.session.channelCount >= this.#opts.maxConnectionsPerTunnel) {
      await answer(
        r.conn,
        page(
          503,
          `Too many connections to ${t.publicHost} at once; try again shortly.`,
        ),
      );
      return;
    }
    this.#inFlight++;
    try {
      let ch;
      try {
        ch = await t.session.open();
      } catch (err) {
        const why = err instanceof OpenFailedError
          ? err.message
          : "the tunnel closed";
        await answer(
          r.conn,
          page(
            502,
            `The tunnel's client did not accept the connection (${why}).`,
          ),
        );
        return;
      }
      t.connections++;
      await relay(r.conn, ch, r.conn.takeBuffered());
    } finally {
      this.#inFlight--;
    }
  }

  async #control(conn: Deno.TcpConn, r: PeekResult): Promise<void> {
    const http = r.http!;
    const header = (name: string) =>
      http.headers.find(([n]) => n === name)?.[1];
    const path = http.target.replace(/^https?:\/\/[^/]*/i, "") || "/";
    const isClient = http.method === "GET" && path === "/" &&
      (header(HEADER_CLIENT) !== undefined ||
        (header("user-agent") ?? "").startsWith("Go-http-client/"));
    if (!isClient) {
      const headOnly = http.method === "HEAD";
      await answer(
        conn,
        path === "/" && (http.method === "GET" || headOnly)
          ? page(
            200,
            `This is a groktunnel ${VERSION} server. Expose a local port with: groktunnel <port> -h ${this.host}${
              r.port ? ` -p ${r.port}` : ""
            }`,
            { headOnly },
          )
          : page(404, `Nothing here. Tunnels are at <name>.${this.host}.`, {
            headOnly,
          }),
      );
      return;
    }
    const ip = conn.remoteAddr.hostname;
    const refuse = (status: number, message: string) => {
      this.#log(`refused tunnel for ${ip}: ${status} ${message}`);
      return answer(conn, encodeRefusal(status, reason(status), message));
    };
    if (this.#closing) return refuse(503, "The server is shutting down");
    if (this.#token !== undefined) {
      const auth = header("authorization") ?? "";
      if (!constantTimeEqual(auth, `Bearer ${this.#token}`)) {
        return refuse(
          401,
          auth ? "Wrong token" : "This server requires a token (--token)",
        );
      }
    }
    // Which name: a resumed one, a requested one, or a fresh random one.
    let name: string | undefined;
    let secret = randomSecret();
    const [resumeName, resumeSecret] = (header(HEADER_RESUME) ?? "").split(" ");
    // A name the server no longer knows (it restarted) is free: the old holder
    // may have it back, as it could ask for it by --subdomain.
    if (
      resumeName && resumeSecret && isValidName(resumeName) &&
      !this.#reserved.has(resumeName) &&
      (this.#holdsFor(resumeName, resumeSecret) ||
        (!this.#tunnels.has(resumeName) && !this.#heldByOther(resumeName)))
    ) {
      name = resumeName;
      secret = resumeSecret;
      const old = this.#tunnels.get(name);
      if (old) {
        // The same client again: its old connection is dead but not yet noticed.
        this.#unregister(old, "replaced by a reconnect");
        old.session.close();
      }
    }
    const requested = header(HEADER_SUBDOMAIN)?.toLowerCase();
    if (!name && requested) {
      if (!isValidName(requested) || this.#reserved.has(requested)) {
        return refuse(
          400,
          `"${
            requested.slice(0, 80)
          }" is not an available name: use a DNS label (a-z, 0-9, inner hyphens)`,
        );
      }
      if (this.#tunnels.has(requested) || this.#heldByOther(requested)) {
        return refuse(409, `The name "${requested}" is in use`);
      }
      name = requested;
    }
    if (this.#tunnels.size >= this.#opts.maxTunnels) {
      return refuse(
        503,
        `The server is full (${this.#opts.maxTunnels} tunnels)`,
      );
    }
    if ((this.#perIp.get(ip) ?? 0) >= this.#opts.maxTunnelsPerIp) {
      return refuse(
        429,
        `Too many tunnels from ${ip} (limit ${this.#opts.maxTunnelsPerIp})`,
      );
    }
    name ??= this.#freshName();
    const publicHost = `${name}.${this.host}${
      r.port && r.port !== 80 ? `:${r.port}` : ""
    }`;
    const ping = (header(HEADER_FEATURES) ?? "").split(",").map((f) => f.trim())
      .includes(FEATURE_PING);
    const extra: Record<string, string> = { "X-Groktunnel-Secret": secret };
    if (ping) extra["X-Groktunnel-Features"] = FEATURE_PING;
    // The head is handled; bytes after it (if any) belong to the session.
    r.conn.skip(r.headLength);
    await writeAll(conn, encodeControlResponse(publicHost, extra));
    conn.setKeepAlive(true);
    const session = new Session(r.conn, {
      acceptChannels: false,
      maxChannels: this.#opts.maxConnectionsPerTunnel,
    });
    if (ping) {
      session.enablePing({
        interval: this.#opts.pingInterval,
        timeout: this.#opts.pingTimeout,
      });
    }
    const tunnel: Tunnel = {
      name,
      publicHost,
      client: `${ip}:${conn.remoteAddr.port}`,
      started: Date.now(),
      session,
      secret,
      ip,
      connections: 0,
    };
    this.#held.delete(name);
    this.#tunnels.set(name, tunnel);
    this.#routes.set(`${name}.${this.host}`, tunnel);
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    this.#log(`tunnel ${publicHost} started for ${tunnel.client}`);
    const why = await session.closed;
    this.#unregister(tunnel, why.message);
  }

  #unregister(t: Tunnel, why: string): void {
    if (this.#tunnels.get(t.name) !== t) return;
    this.#tunnels.delete(t.name);
    this.#routes.delete(`${t.name}.${this.host}`);
    const left = (this.#perIp.get(t.ip) ?? 1) - 1;
    if (left > 0) this.#perIp.set(t.ip, left);
    else this.#perIp.delete(t.ip);
    this.#held.set(t.name, {
      secret: t.secret,
      until: Date.now() + this.#opts.nameHold,
    });
    const secs = ((Date.now() - t.started) / 1000).toFixed(1);
    this.#log(
      `tunnel ${t.publicHost} ended after ${secs} s (${why}): ${t.connections} connections, ` +
        `${t.session.bytesIn} bytes from the client, ${t.session.bytesOut} to it`,
    );
  }

  /** True if `name` is (or was recently) held by the client that knows `secret`. */
  #holdsFor(name: string, secret: string): boolean {
    const active = this.#tunnels.get(name);
    if (active) return constantTimeEqual(active.secret, secret);
    const held = this.#held.get(name);
    return !!held && held.until > Date.now() &&
      constantTimeEqual(held.secret, secret);
  }

  #heldByOther(name: string): boolean {
    const held = this.#held.get(name);
    if (held && held.until <= Date.now()) this.#held.delete(name);
    return !!held && held.until > Date.now();
  }

  #freshName(): string {
    // Expired holds are dropped as we go; the map stays bounded by the churn.
    for (const [n, h] of this.#held) {
      if (h.until > Date.now()) break;
      this.#held.delete(n);
    }
    for (;;) {
      const name = randomName();
      if (
        !this.#tunnels.has(name) && !this.#held.has(name) &&
        !this.#reserved.has(name)
      ) {
        return name;
      }
    }
  }
}

/**
 * Starts a tunnel server.
 *
 * @example
 * ```ts
 * import { startServer } from "./server.ts";
 * const server = startServer({ host: "localhost", port: 0 });
 * console.log(`control endpoint: http://localhost:${server.addr.port}`);
 * await server.close();
 * ```
 */
export function startServer(options: ServerOptions = {}): TunnelServer {
  return new TunnelServer(options);
}

function normaliseHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  p: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < p.length) off += await conn.write(p.subarray(off));
}

/**
 * Writes a whole answer, shuts the write side, and drains what the client
 * still sends for a moment: closing with unread input would reset the
 * connection and could destroy the answer before the client reads it.
 */
async function answer(
  conn: {
    write(p: Uint8Array): Promise<number>;
    read(p: Uint8Array): Promise<number | null>;
    closeWrite(): Promise<void>;
  },
  bytes: Uint8Array,
): Promise<void> {
  try {
    await writeAll(conn, bytes);
    await conn.closeWrite();
    const sink = new Uint8Array(16 * 1024);
    const until = Date.now() + LINGER;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<null>((r) =>
      timer = setTimeout(() => r(null), LINGER)
    );
    try {
      while (Date.now() < until) {
        const reading = conn.read(sink);
        reading.catch(() => {});
        if (await Promise.race([reading, deadline]) === null) break;
      }
    } finally {
      clearTimeout(timer);
    }
  } catch {
    // The client is gone; nothing to answer.
  }
}
