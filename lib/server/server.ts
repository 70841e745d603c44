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

import {
  answer,
  closeQuietly,
  DEFAULT_PEEK_MAX_BYTES,
  DEFAULT_PEEK_TIMEOUT,
  IpFilter,
  type NetConn,
  page,
  peek,
  PeekError,
  type PeekResult,
} from "../net/mod.ts";
import { DEFAULT_MAX_TCP_TUNNELS_PER_IP, TcpPorts } from "./tcp_ports.ts";
import { Registry } from "./registry.ts";
import { PublicSide } from "./public.ts";
import { ControlEndpoint, type Tunnel } from "./control.ts";
import { HttpTunnels } from "./http_tunnels.ts";
import {
  type Kind,
  type Listener,
  openEntrances,
  type ServerTlsOptions,
} from "./entrances.ts";

import {
  DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
  DEFAULT_MAX_TUNNELS,
  DEFAULT_MAX_TUNNELS_PER_IP,
  DEFAULT_NAME_HOLD,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PING_TIMEOUT,
  DEFAULT_SHUTDOWN_GRACE,
  type ServerOptions,
} from "./options.ts";
export * from "./options.ts";
export type { ServerTlsOptions };
import { TcpTunnels } from "./tcp_tunnels.ts";
import {
  type Certificate,
  type CertificateReloader,
  type NodeTlsConn,
  short,
} from "../tls/mod.ts";
import { ClusterNode } from "../cluster/mod.ts";
import {
  DEFAULT_MAX_OWED,
  DEFAULT_OWED_TIMEOUT,
  PROCESS_BUDGET,
} from "../wire/mod.ts";

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
  #public: PublicSide;
  #listeners: Listener[] = [];
  #reloader: CertificateReloader | undefined;
  #cluster: ClusterNode | undefined;
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
    if (options.memoryBudget !== undefined) {
      PROCESS_BUDGET.limit = options.memoryBudget;
    }
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
    if (options.cluster) {
      this.#cluster = new ClusterNode({
        ...options.cluster,
        host: this.host,
        nameHold: options.nameHold ?? DEFAULT_NAME_HOLD,
        log,
        // The client came back through another node: that one serves it.
        lost: (name) => {
          const t = this.#registry.get(name);
          if (!t) return;
          this.#registry.remove(t, true);
          this.#ended(t, "its client moved to another node");
          t.session.close();
        },
      });
    }
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
      session: {
        maxChannels: this.#maxConnections,
        maxOwed: options.maxOwed ?? DEFAULT_MAX_OWED,
        owedTimeout: options.stallTimeout ?? DEFAULT_OWED_TIMEOUT,
      },
      ended: (t, why) => this.#ended(t, why),
      kinds: {
        http: new HttpTunnels(this.host, this.#cluster?.names),
        tcp: options.tcpPorts
          ? new TcpTunnels(
            this.host,
            new TcpPorts({
              range: options.tcpPorts,
              hostname: options.hostname ?? "127.0.0.1",
              hold: options.nameHold ?? DEFAULT_NAME_HOLD,
              maxPerIp: options.maxTcpTunnelsPerIp ??
                DEFAULT_MAX_TCP_TUNNELS_PER_IP,
            }),
            {
              visitors: this.#visitors,
              maxConnections: this.#maxConnections,
              track: (conn) => this.#track(conn),
            },
          )
          : undefined,
      },
    });
    this.#public = new PublicSide({
      elsewhere: this.#cluster,
      host: this.host,
      registry: this.#registry,
      control: this.#control,
      visitors: this.#visitors,
      maxConnections: this.#maxConnections,
      httpsOnly: this.#httpsOnly,
      httpsPort: () => this.addr.port,
      track: (conn) => this.#track(conn),
    });
    const loops: Array<Promise<void>> = [];
    let ready: Promise<void>;
    try {
      const e = openEntrances({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 9999,
        tls: options.tls,
        httpPort: options.httpPort,
        handshakeTimeout: this.#peek.timeout,
        log,
      });
      this.addr = e.addr;
      this.httpAddr = e.httpAddr;
      this.#reloader = e.reloader;
      ready = e.ready;
      const list = [...e.list];
      if (this.#cluster) {
        list.push({ listener: this.#cluster.listener, kind: "hop" });
        ready = Promise.all([ready, this.#cluster.start()]).then(() => {});
      }
      for (const { listener, kind } of list) {
        this.#listeners.push(listener);
        loops.push(this.#serve(listener, kind));
      }
    } catch (err) {
      this.#closing = true;
      for (const l of this.#listeners) closeQuietly(l);
      this.#reloader?.close();
      this.#cluster?.listener.close();
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
      await this.#cluster?.close();
    }
    await this.finished;
  }

  /** Closes everything now. */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  /** Counts a relayed connection in flight (for shutdown); call the result when done. */
  #track(conn: NetConn): () => void {
    this.#conns.add(conn);
    this.#inFlight++;
    return () => {
      this.#inFlight--;
      this.#conns.delete(conn);
    };
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
      // A hop from another node starts with its signed line.
      const hop = kind === "hop"
        ? await this.#cluster!.accept(conn, this.#peek.timeout)
        : undefined;
      if (kind === "hop" && !hop) return;
      let r: PeekResult;
      try {
        r = await peek(hop?.conn ?? conn, this.#peek);
      } catch (err) {
        if (err instanceof PeekError) {
          await answer(conn, page(err.status, err.message));
        }
        return;
      }
      if (hop) await this.#public.hopped(conn, r, hop.visitor);
      else if (kind === "plain") await this.#public.plain(conn, r);
      else if (kind === "tls") {
        await this.#public.terminated(conn as NodeTlsConn, r);
      } else await this.#public.redirect(conn, r);
    } catch (err) {
      this.#log(`connection error: ${(err as Error).message}`);
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
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
