/**
 * The cluster as a plug-in of the server: its names claimed in etcd, the
 * other nodes as the elsewhere of names this node does not serve, and its
 * hop port as one more entrance. The shapes the server asks for are written
 * out here (the server's folder is above this one).
 */

import type { ByteConn, NetConn, PeekResult } from "../net/mod.ts";
import { ClusterNode, type ClusterOptions } from "./node.ts";
import type { ClusterNames } from "./names.ts";
import type { HopVisitor } from "./hop.ts";

/** What the cluster's hop entrance uses of the server. */
export interface HopContext {
  /** Milliseconds a hop's signed line may take. */
  peekTimeout: number;
  /** Reads what a connection wants; answers `answerTo` when it cannot tell. */
  peek(conn: ByteConn, answerTo: NetConn): Promise<PeekResult | undefined>;
  /** Where a hop is served: this node's tunnels only. */
  public: {
    hopped(conn: NetConn, r: PeekResult, who: HopVisitor): Promise<void>;
  };
}

/** The cluster's plug-in; see the module doc. */
export interface ClusterPlugin {
  /** The hop port. */
  entrances: Array<{
    listener: ClusterNode["listener"];
    serve(conn: NetConn, context: HopContext): Promise<void>;
  }>;
  /** The cluster's names and pools, claimed in etcd. */
  names: {
    claim: ClusterNames["claim"];
    vanished: ClusterNames["vanished"];
    released: ClusterNames["released"];
    claimPool(
      name: string,
      secret: string,
      given: boolean,
    ): ReturnType<ClusterNames["claim"]>;
    poolMembers(name: string, n: number, release: boolean): Promise<void>;
  };
  /** The other nodes. */
  elsewhere: ClusterNode;
  /** The tunnels other nodes serve. */
  tunnelsElsewhere(): Array<{ name: string; node: string }>;
  /** An operator ended `name` here: every node ends and refuses it for `ms`. */
  banned(name: string, ms: number, why: string): Promise<void>;
  /** Joins. */
  start(): Promise<void>;
  /** Leaves. */
  close(): Promise<void>;
  /** The cluster's metrics: etcd reachable, hops taken in. */
  metrics(): Array<
    { name: string; type: "counter" | "gauge"; help: string; value: number }
  >;
}

/** Joins a cluster when the options ask for it; binds the hop port now. */
export function clusterFeature(
  options: { cluster?: ClusterOptions | undefined },
  context: {
    host: string;
    nameHold: number;
    log: (line: string) => void;
    drop(name: string, why: string): void;
    endTunnel(name: string, ms: number, why: string, refusal: string): void;
  },
): ClusterPlugin | undefined {
  if (!options.cluster) return undefined;
  const node = new ClusterNode({
    ...options.cluster,
    host: context.host,
    nameHold: context.nameHold,
    log: context.log,
    // The client came back through another node: that one serves it.
    lost: (name) => context.drop(name, "its client moved to another node"),
    banned: (name, ms, why) =>
      context.endTunnel(name, ms, "ended by the operator (cluster-wide)", why),
  });
  let hopsIn = 0;
  const names = node.names, pools = node.pools;
  return {
    names: {
      // A name some node's pool has is the pool's, whatever the hold says.
      claim: (name, secret) =>
        pools.has(name)
          ? Promise.resolve({
            status: 409,
            message: `The name "${name}" is a pool's`,
          })
          : names.claim(name, secret),
      vanished: (name) => names.vanished(name),
      // A pool's name is freed by its last node's leaving, not by one client.
      released: (name, secret) =>
        pools.has(name)
          ? Promise.resolve(pools.owns(name, secret))
          : names.released(name, secret),
      claimPool: (name, secret, given) => pools.claim(name, secret, given),
      poolMembers: (name, n, release) => pools.members(name, n, release),
    },
    elsewhere: node,
    tunnelsElsewhere: () => node.elsewhere(),
    banned: (name, ms, why) => node.bans.ban(name, ms, why),
    metrics: () => [
      {
        name: "groktunnel_cluster_etcd_up",
        type: "gauge",
        help: "1 while etcd answers this node.",
        value: node.names.healthy ? 1 : 0,
      },
      {
        name: "groktunnel_cluster_hops_in_total",
        type: "counter",
        help:
          "Public connections other nodes sent here (hops out count as outcome elsewhere).",
        value: hopsIn,
      },
    ],
    start: () => node.start(),
    close: () => node.close(),
    entrances: [{
      listener: node.listener,
      async serve(conn, c) {
        // A hop from another node starts with its signed line.
        const hop = await node.accept(conn, c.peekTimeout);
        if (!hop) return;
        hopsIn++;
        const r = await c.peek(hop.conn, conn);
        if (r) await c.public.hopped(conn, r, hop.visitor);
      },
    }],
  };
}
