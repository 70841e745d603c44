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
  /** `http` (also over https) or `tcp`. */
  kind: "http" | "tcp";
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
      kind: t.opened.scheme === "tcp" ? "tcp" : "http",
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
  return {
    name: t.name,
    publicHost: t.publicHost,
    kind: t.opened.scheme === "tcp" ? "tcp" : "http",
    client: t.client,
    started: t.started,
    connections: t.connections,
    openConnections: t.session.channelCount,
    bytesIn: t.session.bytesIn,
    bytesOut: t.session.bytesOut,
  };
}
