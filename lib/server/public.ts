/**
 * The public side of the server: what a peeked connection gets, by the port
 * it came in on. The plain port routes HTTP by Host and passes TLS through
 * by SNI; the TLS port (the server ended TLS) routes by Host and answers an
 * SNI/Host mismatch with 421; the plain port beside TLS redirects to https
 * (308) and takes old clients' plain handshakes. A tunnel's visitor is
 * checked against the visitor lists, then relayed through a new channel
 * (with channel facts first when the client asked); a name this process
 * does not serve may go elsewhere (another node). TCP tunnels serve their
 * own ports (tcp_tunnels.ts).
 */

import {
  answer,
  type ByteConn,
  type IpFilter,
  type NetConn,
  page,
  type PeekResult,
  TLS_UNRECOGNIZED_NAME,
} from "../net/mod.ts";
import type { ChannelFacts } from "../wire/mod.ts";
import type { Registry } from "./registry.ts";
import {
  type ControlEndpoint,
  type Entrance,
  portSuffix,
  type Tunnel,
} from "./control.ts";
import type { NodeTlsConn } from "../tls/mod.ts";
import type { Outcome, ServerStats } from "./stats.ts";
import { refuse, relayVisitor, visitorOf } from "./visitor_relay.ts";
import type { Gate } from "./plugin.ts";

/** What the public side needs from the server. */
export interface PublicSideOptions {
  /** The public base host. */
  host: string;
  /** The name table. */
  registry: Registry<Tunnel>;
  /** Where the bare host's requests go. */
  control: ControlEndpoint;
  /** The operator's visitor lists. */
  visitors: IpFilter;
  /** Public connections at once per tunnel. */
  maxConnections: number;
  /** Refuse tunnels over the plain port beside TLS. */
  httpsOnly: boolean;
  /** The https port (for redirects and public URLs). */
  httpsPort: () => number;
  /** Counts a relayed connection in flight (for shutdown); call the result when done. */
  track: (conn: NetConn) => () => void;
  /** Where connections for names this process does not serve may go. */
  elsewhere?: Elsewhere | undefined;
  /** What the server counts. */
  stats: ServerStats;
  /** Checks before a tunnel (plug-ins': rate limits, a warning page). */
  gates: Gate[];
  /** A visitor's connection as the plug-ins wrap it (a bandwidth limit). */
  wrapVisitor(conn: ByteConn, t: Tunnel): ByteConn;
}

/** Who a visitor is, as the entrance they came in at saw them. */
export interface Visitor {
  /** Visitor IP. */
  ip: string;
  /** Visitor port. */
  port: number;
  /** How TLS was handled at the entrance. */
  tls: ChannelFacts["tls"];
  /** The host they asked for (`Host` or SNI), as routed, with its port. */
  host: string;
}

/**
 * Another place that may serve a name this process does not (a node of a
 * cluster registers one): the public side names no such feature.
 */
export interface Elsewhere {
  /**
   * Sends the visitor's connection on, or answers it: true; false when no
   * other place serves `r.host` (the visitor then gets 404 here).
   */
  take(conn: NetConn, r: PeekResult, who: Visitor): Promise<boolean>;
  /**
   * A visitor of the pool `name`, which has `local` members up here: sent
   * to another place that has members too (true), or left here (false).
   */
  share?(
    conn: NetConn,
    r: PeekResult,
    who: Visitor,
    name: string,
    local: number,
  ): Promise<boolean>;
}

/** What a name no tunnel has gets: a TLS alert, or a 404 page. */
function noTunnel(
  conn: NetConn,
  r: PeekResult,
  stats: ServerStats,
): Promise<void> {
  stats.count("not_found");
  return answer(
    conn,
    r.kind === "tls" ? TLS_UNRECOGNIZED_NAME : page(
      404,
      `There is no tunnel at ${r.host}. Is the groktunnel client for it running?`,
      { headOnly: r.http?.method === "HEAD" },
    ),
  );
}

/** The public side; see the module doc. */
export class PublicSide {
  #o: PublicSideOptions;

  /** A public side over `options`. */
  constructor(options: PublicSideOptions) {
    this.#o = options;
  }

  /** A connection for the control endpoint. */
  #control(conn: NetConn, r: PeekResult, entrance: Entrance): Promise<void> {
    this.#o.stats.count("control");
    return this.#o.control.handle(conn, r, entrance);
  }

  /** Answers `conn` with `bytes`, counting the outcome. */
  #refuse(
    conn: Parameters<typeof answer>[0],
    bytes: Uint8Array,
    outcome: Outcome,
  ): Promise<void> {
    return refuse(this.#o.stats, conn, bytes, outcome);
  }

  /** The bare host, the original's `_new.<host>`, or an IP literal (no tunnel has one). */
  #isControl(host: string): boolean {
    return host === this.#o.host || host === `_new.${this.#o.host}` ||
      /^\[[0-9a-f:.]+\]$|^\d+\.\d+\.\d+\.\d+$/.test(host);
  }

  /**
   * The main port without certificates: HTTP by Host, TLS passed through by
   * SNI. (Like the other routes, it hands on the relay's promise rather than
   * waiting in it: a connection at rest holds no waiting calls.)
   */
  plain(conn: NetConn, r: PeekResult): Promise<void> {
    const tunnel = this.#o.registry.lookup(r.host, r.port);
    if (r.kind === "tls") {
      return tunnel
        ? this.#relayPublic(conn, tunnel, r, "passthrough")
        : this.#noneHere(conn, r, "passthrough");
    }
    if (this.#isControl(r.host)) {
      return this.#control(conn, r, {
        scheme: "http",
        publicPort: r.port ?? 80,
      });
    }
    return this.#routeHttp(conn, r, tunnel, "none");
  }

  /** No tunnel here: another node's, or the not-found answer. */
  async #noneHere(
    conn: NetConn,
    r: PeekResult,
    tls: ChannelFacts["tls"],
  ): Promise<void> {
    if (!(await this.#elsewhere(conn, r, tls))) {
      await noTunnel(conn, r, this.#o.stats);
    }
  }

  /** The main port with certificates: TLS ended, then HTTP by Host. */
  terminated(conn: NodeTlsConn, r: PeekResult): Promise<void> {
    if (r.kind === "tls") {
      return this.#refuse(
        conn,
        page(400, "TLS inside TLS: send HTTP over this port"),
        "bad_request",
      );
    }
    // RFC 6066 allows only DNS names in SNI; an IP literal (some tools send
    // one) names no tunnel, so it cannot be misdirected.
    const sni = conn.serverName;
    if (sni !== undefined && sni !== r.host && !/^[0-9.]+$|:/.test(sni)) {
      return this.#refuse(
        conn,
        page(
          421,
          `This connection was opened for ${sni}, not ${r.host}: open a new one for ${r.host}.`,
          { headOnly: r.http?.method === "HEAD" },
        ),
        "bad_request",
      );
    }
    if (this.#isControl(r.host)) {
      return this.#control(conn, r, {
        scheme: "https",
        publicPort: r.port ?? 443,
      });
    }
    return this.#routeHttp(
      conn,
      r,
      this.#o.registry.lookup(r.host, r.port),
      "terminated",
    );
  }

  /** The plain port beside TLS: 308 to https; the control handshake for old clients. */
  async redirect(conn: NetConn, r: PeekResult): Promise<void> {
    if (r.kind === "tls") {
      return this.#refuse(conn, TLS_UNRECOGNIZED_NAME, "not_found");
    }
    const httpsPort = this.#o.httpsPort();
    if (this.#isControl(r.host)) {
      const entrance: Entrance = { scheme: "https", publicPort: httpsPort };
      if (this.#o.httpsOnly) {
        entrance.refuseTunnels =
          `This server takes tunnels over https only: use --server https://${this.#o.host}${
            portSuffix("https", httpsPort)
          }`;
      }
      // Browsers asking the bare host go to https too; clients stay here.
      const http = r.http!;
      const isClient = http.headers.some(([n, v]) =>
        n === "x-groktunnel-client" ||
        (n === "user-agent" && v.startsWith("Go-http-client/"))
      );
      if (isClient) return this.#control(conn, r, entrance);
    }
    const http = r.http!;
    const path = http.target.startsWith("/")
      ? http.target
      : http.target.replace(/^https?:\/\/[^/]*/i, "") || "/";
    const location = `https://${r.host}${
      portSuffix("https", httpsPort)
    }${path}`;
    await this.#refuse(
      conn,
      page(308, `This server is served over https: ${location}`, {
        headOnly: http.method === "HEAD",
        headers: [`Location: ${location}`],
      }),
      "redirected",
    );
  }

  #routeHttp(
    conn: NetConn,
    r: PeekResult,
    tunnel: Tunnel | undefined,
    tls: ChannelFacts["tls"],
  ): Promise<void> {
    if (tunnel?.pool && this.#o.elsewhere?.share) {
      return this.#routePooled(conn, r, tunnel, tls);
    }
    if (tunnel) return this.#relayPublic(conn, tunnel, r, tls);
    return this.#noneHere(conn, r, tls);
  }

  /** A pool with members on other nodes too: here, or there. */
  async #routePooled(
    conn: NetConn,
    r: PeekResult,
    tunnel: Tunnel,
    tls: ChannelFacts["tls"],
  ): Promise<void> {
    const up = tunnel.pool!.up;
    if (await this.#elsewhere(conn, r, tls, tunnel.name, up)) return;
    return this.#relayPublic(conn, tunnel, r, tls);
  }

  /**
   * A tunnel this process does not serve, which another may (a node of a
   * cluster): true if the connection went there (or was answered).
   */
  async #elsewhere(
    conn: NetConn,
    r: PeekResult,
    tls: ChannelFacts["tls"],
    pool?: string,
    local = 0,
  ): Promise<boolean> {
    const elsewhere = this.#o.elsewhere;
    if (!elsewhere) return false;
    const who: Visitor = {
      ...visitorOf(conn),
      tls,
      host: r.port ? `${r.host}:${r.port}` : r.host,
    };
    const done = this.#o.track(conn);
    try {
      const taken = pool === undefined
        ? await elsewhere.take(conn, r, who)
        : await elsewhere.share!(conn, r, who, pool, local);
      if (taken) this.#o.stats.count("elsewhere");
      return taken;
    } finally {
      done();
    }
  }

  /**
   * A public connection another node sent here (a hop): served from this
   * node's tunnels only, never sent on again.
   */
  async hopped(conn: NetConn, r: PeekResult, who: Visitor): Promise<void> {
    // Only for the host the entry node signed: a hop is no way in to
    // another tunnel.
    const signed = r.port ? `${r.host}:${r.port}` : r.host;
    if (who.host !== signed) {
      return this.#refuse(
        conn,
        page(403, "Not a hop for this host."),
        "refused",
      );
    }
    const tunnel = this.#o.registry.lookup(r.host, r.port);
    if (tunnel) return this.#relayPublic(conn, tunnel, r, who.tls, who);
    await noTunnel(conn, r, this.#o.stats);
  }

  #relayPublic(
    conn: NetConn,
    t: Tunnel,
    r: PeekResult,
    tls: ChannelFacts["tls"],
    who: { ip: string; port: number } = visitorOf(conn),
  ): Promise<void> {
    return relayVisitor(this.#o, conn, t, r, tls, who);
  }
}
