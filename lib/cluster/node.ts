/**
 * One server as a node of a cluster: its share of the name table in etcd
 * (lib/cluster/names.ts), its internal port where other nodes send the
 * public connections of its tunnels (lib/cluster/hop.ts), and the way out
 * to the node that holds a tunnel this one does not.
 */

import { EtcdClient } from "./etcd.ts";
import { CLUSTER_PREFIX, ClusterNames } from "./names.ts";
import { ClusterPools } from "./pools.ts";
import { ClusterBans } from "./bans.ts";
import {
  forward,
  HopError,
  HopSigner,
  type HopVisitor,
  readHopLine,
} from "./hop.ts";
import {
  answer,
  type ByteConn,
  type NetConn,
  page,
  PeekedConn,
  type PeekResult,
  TLS_UNRECOGNIZED_NAME,
} from "../net/mod.ts";

/** How a server joins a cluster. */
export interface ClusterOptions {
  /** etcd endpoints, `http://host:port`. */
  etcd: string[];
  /** This node's id, unique in the cluster. */
  nodeId: string;
  /** Where other nodes reach this one (`host:port`); it listens there. */
  nodeAddr: string;
  /** The secret all nodes share; signs hops. */
  secret: string;
  /**
   * Hops over TLS: this node's certificate and key (PEM; they must cover
   * the host of `nodeAddr`) and the CA (PEM) the other nodes' are checked
   * against. Without it hops are plain TCP.
   */
  tls?: { cert: string; key: string; ca: string } | undefined;
}

/** A TLS connection as the server's connection type (no socket options to set). */
function tlsHopConn(c: Deno.TlsConn): NetConn {
  return {
    get remoteAddr() {
      return c.remoteAddr;
    },
    get localAddr() {
      return c.localAddr;
    },
    read: (p) => c.read(p),
    write: (p) => c.write(p),
    closeWrite: () => c.closeWrite(),
    close: () => c.close(),
    setNoDelay() {},
    setKeepAlive() {},
  };
}

/** See the module doc. */
export class ClusterNode {
  /** The cluster's names. */
  readonly names: ClusterNames;
  /** The cluster's pools. */
  readonly pools: ClusterPools;
  /** The operators' stops, on every node. */
  readonly bans: ClusterBans;
  /** The internal port for hops (TLS with `tls`). */
  readonly listener: { accept(): Promise<NetConn>; close(): void };
  #signer: HopSigner;
  #o: ClusterOptions & { host: string; log: (line: string) => void };

  /** Binds the internal port (throws if it cannot); {@linkcode start} joins. */
  constructor(
    o: ClusterOptions & {
      /** The public base host: tunnels are `<name>.<host>`. */
      host: string;
      nameHold: number;
      log: (line: string) => void;
      lost: (name: string) => void;
      /** An operator ended `name` (at any node): end it here, refuse it for `ms`. */
      banned: (name: string, ms: number, why: string) => void;
    },
  ) {
    this.#o = o;
    const colon = o.nodeAddr.lastIndexOf(":");
    const at = {
      hostname: o.nodeAddr.slice(0, colon).replace(/^\[|\]$/g, ""),
      port: Number(o.nodeAddr.slice(colon + 1)),
    };
    if (o.tls) {
      const tls = Deno.listenTls({ ...at, cert: o.tls.cert, key: o.tls.key });
      this.listener = {
        accept: async () => tlsHopConn(await tls.accept()),
        close: () => tls.close(),
      };
    } else this.listener = Deno.listen(at);
    this.#signer = new HopSigner(o.secret);
    const etcd = new EtcdClient(o.etcd);
    this.names = new ClusterNames({
      etcd,
      nodeId: o.nodeId,
      nodeAddr: o.nodeAddr,
      nameHold: o.nameHold,
      log: o.log,
      lost: o.lost,
    });
    this.pools = new ClusterPools({
      etcd,
      prefix: CLUSTER_PREFIX,
      me: { node: o.nodeId, addr: o.nodeAddr },
      nameHold: o.nameHold,
      leases: () => this.names.leases(),
      down: () => {},
    });
    this.bans = new ClusterBans(etcd, CLUSTER_PREFIX, o.banned, () => {});
  }

  /** The tunnels other nodes serve: each name (a pool's once per node) and its node. */
  elsewhere(): Array<{ name: string; node: string }> {
    const out = this.pools.elsewhere();
    for (const [name, h] of this.names.holders()) {
      if (h.node !== this.#o.nodeId) out.push({ name, node: h.node });
    }
    return out;
  }

  /** Joins: leases, the name table and the pools (etcd down: keeps trying). */
  async start(): Promise<void> {
    await Promise.all([
      this.names.start(),
      this.pools.start(),
      this.bans.start(),
    ]);
  }

  /**
   * A visitor for a tunnel another node holds: sent there (a hop), or
   * answered 502 when that node cannot be reached. False when no node
   * holds the name.
   */
  async take(conn: NetConn, r: PeekResult, who: HopVisitor): Promise<boolean> {
    const suffix = `.${this.#o.host}`;
    if (!r.host.endsWith(suffix)) return false;
    const name = r.host.slice(0, -suffix.length);
    const holder = this.names.remote(name) ?? this.pools.route(name, 0);
    if (!holder) return false;
    await this.#hop(conn, r, who, holder);
    return true;
  }

  /**
   * A visitor of a pool with `local` members up on this node: sent to
   * another node that has members, in turn by members (true), or left to
   * this node (false).
   */
  async share(
    conn: NetConn,
    r: PeekResult,
    who: HopVisitor,
    name: string,
    local: number,
  ): Promise<boolean> {
    const holder = this.pools.route(name, local);
    if (!holder) return false;
    await this.#hop(conn, r, who, holder);
    return true;
  }

  /** Sends the visitor to `holder`'s node, or answers 502 when it cannot be reached. */
  async #hop(
    conn: NetConn,
    r: PeekResult,
    who: HopVisitor,
    holder: { node: string; addr: string },
  ): Promise<void> {
    try {
      const first = r.conn.takeBuffered();
      await forward(
        r.conn,
        first,
        holder.addr,
        this.#signer.line(who),
        this.#o.tls?.ca,
      );
    } catch {
      await answer(
        conn,
        r.kind === "tls" ? TLS_UNRECOGNIZED_NAME : page(
          502,
          `The node serving ${r.host} (${holder.node}) cannot be reached; try again shortly.`,
          { headOnly: r.http?.method === "HEAD" },
        ),
      ).catch(() => {});
    }
  }

  /**
   * Reads and checks the line a hop starts with: the visitor, and the
   * connection from just after the line. A forged, stale or missing line is
   * logged and answered 403 (undefined then).
   */
  async accept(
    conn: ByteConn & { remoteAddr: Deno.NetAddr },
    timeout: number,
  ): Promise<{ visitor: HopVisitor; conn: PeekedConn } | undefined> {
    try {
      const { line, rest } = await readHopLine(conn, timeout);
      const visitor = this.#signer.verify(line);
      return { visitor, conn: new PeekedConn(conn, rest) };
    } catch (err) {
      if (!(err instanceof HopError)) throw err;
      this.#o.log(
        `refused a hop from ${conn.remoteAddr.hostname}: ${err.message}`,
      );
      await answer(conn, page(403, "Not a hop from a node of this cluster."));
      return undefined;
    }
  }

  /** Leaves: this node's names are freed now. */
  async close(): Promise<void> {
    try {
      this.listener.close();
    } catch { /* closed */ }
    this.pools.close();
    this.bans.close();
    await this.names.close();
  }
}
