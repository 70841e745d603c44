/**
 * The tunnel server: listeners ("entrances"), each new connection peeked for
 * its name. The bare host (or the original's `_new.<host>`) goes to the
 * {@linkcode ControlEndpoint}; `<sub>.<host>` is relayed through that
 * tunnel's session as a new channel; anything else gets a short page.
 *
 * Entrances: the main port speaks plain TCP (TLS passed through by SNI), or,
 * with a certificate, ends TLS itself (lib/tls/). Beside a TLS port, an
 * optional plain HTTP port redirects visitors to https and still takes the
 * control handshake in plain text for the original Go client.
 */

import { OpenFailedError } from "./mux/errors.ts";
import { relay } from "./relay.ts";
import { answer, closeQuietly, type NetConn } from "./sockets.ts";
import { page, TLS_ACCESS_DENIED, TLS_UNRECOGNIZED_NAME } from "./pages.ts";
import { type ChannelFacts, encodeFacts } from "./facts.ts";
import { IpFilter } from "./ip_filter.ts";
import {
  DEFAULT_MAX_TCP_TUNNELS_PER_IP,
  serveTcpTunnel,
  TcpPorts,
} from "./tcp.ts";
import {
  DEFAULT_PEEK_MAX_BYTES,
  DEFAULT_PEEK_TIMEOUT,
  peek,
  PeekError,
  type PeekResult,
} from "./peek.ts";
import { Registry } from "./registry.ts";
import {
  ControlEndpoint,
  type Entrance,
  portSuffix,
  type Tunnel,
} from "./control.ts";
import { type Certificate, readCertificate } from "./tls/certificate.ts";
import { TlsListener } from "./tls/listener.ts";
import { CertificateReloader, short } from "./tls/reloader.ts";
import type { NodeTlsConn } from "./tls/node_conn.ts";

/** Tunnels open at once on a server. */
export const DEFAULT_MAX_TUNNELS = 1000;
/** Tunnels open at once from one client IP address. */
export const DEFAULT_MAX_TUNNELS_PER_IP = 16;
/** Public connections open at once through one tunnel. */
export const DEFAULT_MAX_CONNECTIONS_PER_TUNNEL = 4096;
/** How long a name stays reserved for a client that vanished (ms). */
export const DEFAULT_NAME_HOLD = 10 * 60_000;
/** PING interval on sessions that negotiated it (ms). */
export const DEFAULT_PING_INTERVAL = 10_000;
/** Silence after which a session that negotiated PING is dropped (ms). */
export const DEFAULT_PING_TIMEOUT = 30_000;
/** How long the server waits for in-flight requests on shutdown (ms). */
export const DEFAULT_SHUTDOWN_GRACE = 10_000;

/** Certificate files for a server that ends TLS itself. */
export interface ServerTlsOptions {
  /** PEM certificate chain, leaf first (normally `*.<host>` and `<host>`). */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
  /**
   * Milliseconds between looks at the files for a new pair; 0: only on
   * {@linkcode TunnelServer.reloadCertificate}.
   * @default {5000}
   */
  reloadInterval?: number;
}

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
  /**
   * End TLS on `port` with this certificate: public URLs and the control
   * connection are https. Without it TLS is passed through by SNI.
   */
  tls?: ServerTlsOptions | undefined;
  /**
   * With `tls`: also listen for plain HTTP here. Visitors are redirected to
   * https (308); the control handshake is served in plain text for old
   * clients unless `httpsOnly`.
   */
  httpPort?: number | undefined;
  /** With `httpPort`: refuse tunnels over plain HTTP. */
  httpsOnly?: boolean;
  /** CIDR blocks of visitors allowed to reach any tunnel (empty: all). */
  allowIps?: string[];
  /** CIDR blocks of visitors refused for every tunnel. */
  denyIps?: string[];
  /** Offer TCP tunnels on public ports from this range (inclusive). */
  tcpPorts?: [number, number] | undefined;
  /**
   * TCP tunnels at once from one client IP.
   * @default {4}
   */
  maxTcpTunnelsPerIp?: number;
  /** When set, clients must present it as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /**
   * Milliseconds a new connection has to send its head (and its TLS handshake).
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
   * Milliseconds a name is kept for a client that vanished (a clean exit
   * frees it at once).
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

type Listener = { accept(): Promise<NetConn>; close(): void };
type Kind = "plain" | "tls" | "redirect";

/**
 * A running tunnel server; see {@linkcode startServer}.
 */
export class TunnelServer {
  /** The address of the main port (TLS when `tls` is set). */
  readonly addr: Deno.NetAddr;
  /** The plain HTTP port beside a TLS one, if any. */
  readonly httpAddr: Deno.NetAddr | undefined;
  /** The public base host. */
  readonly host: string;
  /** Resolves once every port listens; rejects if one cannot be bound. */
  readonly ready: Promise<void>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  #peek: { timeout: number; maxBytes: number };
  #maxConnections: number;
  #log: (line: string) => void;
  #registry: Registry<Tunnel>;
  #control: ControlEndpoint;
  #listeners: Listener[] = [];
  #tls: TlsListener | undefined;
  #reloader: CertificateReloader | undefined;
  #httpsOnly: boolean;
  #visitors: IpFilter;
  #conns = new Set<NetConn>();
  #inFlight = 0;
  #closing = false;

  /**
   * Starts listening; prefer {@linkcode startServer}. Throws if a port
   * cannot be bound, or a `CertificateError` for unusable certificate files.
   */
  constructor(options: ServerOptions = {}) {
    this.host = normaliseHost(options.host ?? "localhost");
    this.#peek = {
      timeout: options.peekTimeout ?? DEFAULT_PEEK_TIMEOUT,
      maxBytes: options.peekMaxBytes ?? DEFAULT_PEEK_MAX_BYTES,
    };
    this.#maxConnections = options.maxConnectionsPerTunnel ??
      DEFAULT_MAX_CONNECTIONS_PER_TUNNEL;
    this.#httpsOnly = options.httpsOnly ?? false;
    this.#visitors = new IpFilter(options.allowIps, options.denyIps);
    const log = this.#log = options.log ??
      ((line) => console.error(`${new Date().toISOString()} ${line}`));
    this.#registry = new Registry<Tunnel>({
      host: this.host,
      maxTunnels: options.maxTunnels ?? DEFAULT_MAX_TUNNELS,
      maxTunnelsPerIp: options.maxTunnelsPerIp ?? DEFAULT_MAX_TUNNELS_PER_IP,
      nameHold: options.nameHold ?? DEFAULT_NAME_HOLD,
      reserved: new Set(
        ["_new", ...(options.reservedNames ?? [])].map((n) => n.toLowerCase()),
      ),
    });
    this.#control = new ControlEndpoint({
      host: this.host,
      token: options.token || undefined,
      registry: this.#registry,
      log,
      closing: () => this.#closing,
      ping: {
        interval: options.pingInterval ?? DEFAULT_PING_INTERVAL,
        timeout: options.pingTimeout ?? DEFAULT_PING_TIMEOUT,
      },
      maxChannels: this.#maxConnections,
      ended: (t, why) => this.#ended(t, why),
      tcp: options.tcpPorts
        ? {
          ports: new TcpPorts({
            range: options.tcpPorts,
            hostname: options.hostname ?? "127.0.0.1",
            hold: options.nameHold ?? DEFAULT_NAME_HOLD,
            maxPerIp: options.maxTcpTunnelsPerIp ??
              DEFAULT_MAX_TCP_TUNNELS_PER_IP,
          }),
          serve: (listener, t) => this.#serveTcp(listener, t),
        }
        : undefined,
    });
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? 9999;
    const loops: Array<Promise<void>> = [];
    let ready: Promise<void> = Promise.resolve();
    try {
      if (options.tls) {
        const cert = readCertificate(options.tls);
        // Bind once with Deno to fail now (and learn the port for 0), then
        // let node:tls take the address: its listen() only fails later.
        const probe = Deno.listen({ hostname, port });
        this.addr = probe.addr;
        probe.close();
        const tls = this.#tls = new TlsListener({
          hostname,
          port: this.addr.port,
          certificate: cert,
          handshakeTimeout: this.#peek.timeout,
        });
        this.#reloader = new CertificateReloader(
          {
            ...options.tls,
            interval: options.tls.reloadInterval,
            current: cert,
            apply: (c) => tls.setCertificate(c),
            log,
          } as ConstructorParameters<typeof CertificateReloader>[0],
        );
        ready = tls.ready;
        this.#listeners.push(tls);
        loops.push(this.#serve(tls, "tls"));
        if (options.httpPort !== undefined) {
          const http = Deno.listen({ hostname, port: options.httpPort });
          this.httpAddr = http.addr;
          this.#listeners.push(http);
          loops.push(this.#serve(http, "redirect"));
        }
      } else {
        const plain = Deno.listen({ hostname, port });
        this.addr = plain.addr;
        this.#listeners.push(plain);
        loops.push(this.#serve(plain, "plain"));
      }
    } catch (err) {
      this.#closing = true;
      for (const l of this.#listeners) closeQuietly(l);
      this.#reloader?.close();
      throw err;
    }
    this.ready = ready;
    this.finished = Promise.all(loops).then(() => {});
  }

  /** The tunnels open now. */
  get tunnels(): TunnelInfo[] {
    return [...this.#registry.values()].map((t) => ({
      name: t.name,
      publicHost: t.publicHost,
      client: t.client,
      started: t.started,
    }));
  }

  /** The certificate served now, when the server ends TLS. */
  get certificate(): Certificate | undefined {
    return this.#reloader?.current;
  }

  /**
   * Reads the certificate files again (as on SIGHUP). New handshakes use the
   * new pair; open connections keep theirs. A bad pair is logged and the
   * current one stays. True if a new certificate is now served.
   */
  reloadCertificate(): boolean {
    return this.#reloader?.reload() ?? false;
  }

  /**
   * Stops accepting, lets in-flight public requests finish for up to `grace`
   * ms, then closes every tunnel and connection.
   */
  async shutdown(grace: number = DEFAULT_SHUTDOWN_GRACE): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const l of this.#listeners) closeQuietly(l);
      this.#reloader?.close();
      const until = Date.now() + grace;
      while (this.#inFlight > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const t of this.#registry.values()) t.session.close();
      for (const c of this.#conns) closeQuietly(c);
    }
    await this.finished;
  }

  /** Closes everything now. */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  async #serve(listener: Listener, kind: Kind): Promise<void> {
    for (;;) {
      let conn: NetConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#closing) break;
        // Out of file descriptors and the like: wait, do not spin or die.
        this.#log(`accept failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      this.#handle(conn, kind);
    }
    while (this.#conns.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async #handle(conn: NetConn, kind: Kind): Promise<void> {
    this.#conns.add(conn);
    try {
      conn.setNoDelay(true);
      let r: PeekResult;
      try {
        r = await peek(conn, this.#peek);
      } catch (err) {
        if (err instanceof PeekError) {
          await answer(conn, page(err.status, err.message));
        }
        return;
      }
      if (kind === "plain") await this.#plain(conn, r);
      else if (kind === "tls") await this.#terminated(conn as NodeTlsConn, r);
      else await this.#redirect(conn, r);
    } catch (err) {
      this.#log(`connection error: ${(err as Error).message}`);
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  /** The bare host, the original's `_new.<host>`, or an IP literal (no tunnel has one). */
  #isControl(host: string): boolean {
    return host === this.host || host === `_new.${this.host}` ||
      /^\[[0-9a-f:.]+\]$|^\d+\.\d+\.\d+\.\d+$/.test(host);
  }

  /** The main port without certificates: HTTP by Host, TLS passed through by SNI. */
  async #plain(conn: NetConn, r: PeekResult): Promise<void> {
    const tunnel = this.#registry.lookup(r.host, r.port);
    if (r.kind === "tls") {
      if (tunnel) await this.#public(conn, tunnel, r, "passthrough");
      else await answer(conn, TLS_UNRECOGNIZED_NAME);
    } else if (this.#isControl(r.host)) {
      await this.#control.handle(conn, r, {
        scheme: "http",
        publicPort: r.port ?? 80,
      });
    } else await this.#routeHttp(conn, r, tunnel, "none");
  }

  /** The main port with certificates: TLS ended, then HTTP by Host. */
  async #terminated(conn: NodeTlsConn, r: PeekResult): Promise<void> {
    if (r.kind === "tls") {
      return answer(
        conn,
        page(400, "TLS inside TLS: send HTTP over this port"),
      );
    }
    // RFC 6066 allows only DNS names in SNI; an IP literal (some tools send
    // one) names no tunnel, so it cannot be misdirected.
    const sni = conn.serverName;
    if (sni !== undefined && sni !== r.host && !/^[0-9.]+$|:/.test(sni)) {
      return answer(
        conn,
        page(
          421,
          `This connection was opened for ${sni}, not ${r.host}: open a new one for ${r.host}.`,
          { headOnly: r.http?.method === "HEAD" },
        ),
      );
    }
    if (this.#isControl(r.host)) {
      return this.#control.handle(conn, r, {
        scheme: "https",
        publicPort: r.port ?? 443,
      });
    }
    await this.#routeHttp(
      conn,
      r,
      this.#registry.lookup(r.host, r.port),
      "terminated",
    );
  }

  /** The plain port beside TLS: 308 to https; the control handshake for old clients. */
  async #redirect(conn: NetConn, r: PeekResult): Promise<void> {
    if (r.kind === "tls") return answer(conn, TLS_UNRECOGNIZED_NAME);
    const httpsPort = this.addr.port;
    if (this.#isControl(r.host)) {
      const entrance: Entrance = { scheme: "https", publicPort: httpsPort };
      if (this.#httpsOnly) {
        entrance.refuseTunnels =
          `This server takes tunnels over https only: use --server https://${this.host}${
            portSuffix("https", httpsPort)
          }`;
      }
      // Browsers asking the bare host go to https too; clients stay here.
      const http = r.http!;
      const isClient = http.headers.some(([n, v]) =>
        n === "x-groktunnel-client" ||
        (n === "user-agent" && v.startsWith("Go-http-client/"))
      );
      if (isClient) return this.#control.handle(conn, r, entrance);
    }
    const http = r.http!;
    const path = http.target.startsWith("/")
      ? http.target
      : http.target.replace(/^https?:\/\/[^/]*/i, "") || "/";
    const location = `https://${r.host}${
      portSuffix("https", httpsPort)
    }${path}`;
    await answer(
      conn,
      page(308, `This server is served over https: ${location}`, {
        headOnly: http.method === "HEAD",
        headers: [`Location: ${location}`],
      }),
    );
  }

  async #routeHttp(
    conn: NetConn,
    r: PeekResult,
    tunnel: Tunnel | undefined,
    tls: ChannelFacts["tls"],
  ): Promise<void> {
    if (tunnel) return this.#public(conn, tunnel, r, tls);
    await answer(
      conn,
      page(
        404,
        `There is no tunnel at ${r.host}. Is the groktunnel client for it running?`,
        { headOnly: r.http?.method === "HEAD" },
      ),
    );
  }

  async #public(
    conn: NetConn,
    t: Tunnel,
    r: PeekResult,
    tls: ChannelFacts["tls"],
  ): Promise<void> {
    // A dual-stack listener reports IPv4 visitors as ::ffff:a.b.c.d.
    const raw = conn.remoteAddr.hostname;
    const ip = /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(raw) ? raw.slice(7) : raw;
    if (!this.#visitors.allows(ip) || !t.visitors.allows(ip)) {
      await answer(
        conn,
        r.kind === "tls" ? TLS_ACCESS_DENIED : page(
          403,
          `Your address (${ip}) may not reach ${t.publicHost}.`,
          { headOnly: r.http?.method === "HEAD" },
        ),
      );
      return;
    }
    if (t.session.channelCount >= this.#maxConnections) {
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
      let first = r.conn.takeBuffered();
      if (t.facts) {
        first = encodeFacts({
          ip,
          port: conn.remoteAddr.port,
          tls,
          host: r.port ? `${r.host}:${r.port}` : r.host,
          dstIp: conn.localAddr.hostname,
          dstPort: conn.localAddr.port,
        }, first);
      }
      await relay(r.conn, ch, first);
    } finally {
      this.#inFlight--;
    }
  }

  /** A TCP tunnel's port: each connection becomes a channel, no peek. */
  #serveTcp(listener: Deno.TcpListener, t: Tunnel): void {
    serveTcpTunnel(listener, {
      allows: (ip) => this.#visitors.allows(ip) && t.visitors.allows(ip),
      maxConnections: this.#maxConnections,
      channelCount: () => t.session.channelCount,
      ended: t.session.closed,
      relay: async (conn) => {
        this.#conns.add(conn);
        this.#inFlight++;
        try {
          let ch;
          try {
            ch = await t.session.open();
          } catch {
            return; // the client refused or went away: close the visitor
          }
          t.connections++;
          const first = t.facts
            ? encodeFacts({
              ip: conn.remoteAddr.hostname.replace(/^::ffff:(?=\d+\.)/i, ""),
              port: conn.remoteAddr.port,
              tls: "none",
              host: t.publicHost,
              dstIp: conn.localAddr.hostname,
              dstPort: conn.localAddr.port,
            }, new Uint8Array(0))
            : undefined;
          await relay(conn, ch, first);
        } finally {
          this.#inFlight--;
          this.#conns.delete(conn);
          closeQuietly(conn);
        }
      },
    });
  }

  #ended(t: Tunnel, why: string): void {
    const secs = ((Date.now() - t.started) / 1000).toFixed(1);
    this.#log(
      `tunnel ${t.publicHost} ended after ${secs} s (${why}): ${t.connections} connections, ` +
        `${t.session.bytesIn} bytes from the client, ${t.session.bytesOut} to it`,
    );
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

/** A certificate in one line, for logs. */
export { short as describeCertificate };
export type { Certificate };

function normaliseHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}
