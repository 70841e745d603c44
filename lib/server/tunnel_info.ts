/**
 * A tunnel as the server lists it to its embedder, its admin API and its
 * metrics: plain data, made when asked.
 */

import type { Tunnel } from "./control.ts";
import type { LogFields } from "./log.ts";

/** A tunnel as the server lists it. */
export interface TunnelInfo {
  /** The subdomain. */
  name: string;
  /** The public host, `<name>.<host>[:port]` (`<host>:<port>` for TCP). */
  publicHost: string;
  /** `http` (also over https), `tcp`, or `pooled` (several clients share it). */
  kind: "http" | "tcp" | "pooled";
  /** The client's address. */
  client: string;
  /** When it started (ms since the epoch). */
  started: number;
  /** Public connections relayed so far. */
  connections: number;
  /** Public connections open now. */
  openConnections: number;
  /** Bytes from the client so far. */
  bytesIn: number;
  /** Bytes to the client so far. */
  bytesOut: number;
  /** A pool's members, in the order they joined. */
  members?: MemberInfo[];
}

/** One client of a pool, as the server lists it. */
export interface MemberInfo {
  /** Its address. */
  client: string;
  /** When it joined (ms since the epoch). */
  started: number;
  /** What it said last: `up`, `down` (its app does not answer) or `draining`. */
  state: "up" | "down" | "draining";
  /** Public connections open on it now. */
  openConnections: number;
}

/** A tunnel's kind as listed and counted. */
function kindOf(t: Tunnel): TunnelInfo["kind"] {
  return t.pool ? "pooled" : t.opened.scheme === "tcp" ? "tcp" : "http";
}

/** The log line (and its fields) of a tunnel that ended. */
export function endedLine(t: Tunnel, why: string): [string, LogFields] {
  const seconds = (Date.now() - t.started) / 1000;
  return [
    `tunnel ${t.publicHost} ended after ${
      seconds.toFixed(1)
    } s (${why}): ${t.connections} connections, ` +
    `${t.session.bytesIn} bytes from the client, ${t.session.bytesOut} to it`,
    {
      event: "tunnel_end",
      name: t.name,
      host: t.publicHost,
      kind: kindOf(t),
      client: t.client,
      seconds: Math.round(seconds * 10) / 10,
      connections: t.connections,
      bytes_in: t.session.bytesIn,
      bytes_out: t.session.bytesOut,
      reason: why,
    },
  ];
}

/** The listing of one tunnel. */
export function infoOf(t: Tunnel): TunnelInfo {
  const info: TunnelInfo = {
    name: t.name,
    publicHost: t.publicHost,
    kind: kindOf(t),
    client: t.client,
    started: t.started,
    connections: t.connections,
    openConnections: t.session.channelCount,
    bytesIn: t.session.bytesIn,
    bytesOut: t.session.bytesOut,
  };
  if (t.pool) {
    info.members = t.pool.members.map((m) => ({
      client: m.client,
      started: m.started,
      state: m.state,
      openConnections: m.session.channelCount,
    }));
  }
  return info;
}
