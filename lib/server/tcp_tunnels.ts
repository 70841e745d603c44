/**
 * TCP tunnels: a public port from the operator's range for each, served
 * by the public side as raw bytes; held for a client that vanished, freed
 * at once when it releases its name.
 */

import type { Refusal } from "../wire/mod.ts";
import type { Tunnel } from "./control.ts";
import {
  type ByteConn,
  closeQuietly,
  type IpFilter,
  type NetConn,
  unmapIpv4,
} from "../net/mod.ts";
import { encodeFacts, PROCESS_BUDGET, relay } from "../wire/mod.ts";
import {
  DEFAULT_MAX_TCP_TUNNELS_PER_IP,
  serveTcpTunnel,
  TcpPorts,
} from "./tcp_ports.ts";
import type { ServerFeature } from "./plugin.ts";
import type { OpenedTunnel, TunnelKind, TunnelRequest } from "./tunnel_kind.ts";

/** What serving a TCP tunnel's port needs from the server. */
export interface TcpServing {
  /** The operator's visitor lists. */
  visitors: IpFilter;
  /** Public connections at once per tunnel. */
  maxConnections: number;
  /** Counts a relayed connection in flight (for shutdown); call the result when done. */
  track: (conn: NetConn) => () => void;
  /** A visitor's connection as the plug-ins wrap it (a bandwidth limit). */
  wrapVisitor(conn: ByteConn, t: Tunnel): ByteConn;
}

/** TCP tunnels as a plug-in: on when the operator gave a port range. */
export const tcpFeature: ServerFeature = (o, c) =>
  o.tcpPorts
    ? {
      kinds: {
        tcp: new TcpTunnels(
          c.host,
          new TcpPorts({
            range: o.tcpPorts,
            hostname: o.hostname ?? "127.0.0.1",
            hold: c.nameHold,
            maxPerIp: o.maxTcpTunnelsPerIp ?? DEFAULT_MAX_TCP_TUNNELS_PER_IP,
          }),
          c,
        ),
      },
    }
    : undefined;

/** See the module doc. */
export class TcpTunnels implements TunnelKind {
  #host: string;
  #ports: TcpPorts;
  #s: TcpServing;

  /** TCP tunnels under `host` on `ports`. */
  constructor(host: string, ports: TcpPorts, serving: TcpServing) {
    this.#host = host;
    this.#ports = ports;
    this.#s = serving;
  }

  open(r: TunnelRequest): Promise<OpenedTunnel | Refusal> {
    const wanted = r.header("x-groktunnel-remote-port");
    if (
      wanted !== undefined &&
      (!/^[0-9]{1,5}$/.test(wanted) || Number(wanted) > 65535)
    ) {
      return Promise.resolve({
        status: 400,
        message: `"${wanted.slice(0, 20)}" is not a port number`,
      });
    }
    const opened = this.#ports.open(
      r.name,
      r.ip,
      wanted === undefined ? undefined : Number(wanted),
    );
    if ("status" in opened) return Promise.resolve(opened);
    const { port, listener } = opened;
    return Promise.resolve({
      publicHost: `${this.#host}:${port}`,
      scheme: "tcp",
      headers: { "X-Groktunnel-Name": r.name },
      start: (t) => this.#serve(listener, t),
      // A port follows its name: held for a client that vanished (or
      // came back), freed at once on a clean exit or a failed start.
      close: (end) =>
        this.#ports.close(
          port,
          listener,
          end === "released" || end === "failed",
        ),
    });
  }

  forget(name: string): void {
    this.#ports.releaseName(name);
  }

  poolName(header: (name: string) => string | undefined): string | undefined {
    const port = Number(header("x-groktunnel-remote-port"));
    return Number.isInteger(port) ? this.#ports.nameOf(port) : undefined;
  }

  /** A TCP tunnel's port: each connection becomes a channel, no peek. */
  #serve(listener: Deno.TcpListener, t: Tunnel): void {
    const s = this.#s;
    serveTcpTunnel(listener, {
      allows: (ip) =>
        s.visitors.allows(ip) && t.visitors.allows(ip) &&
        !PROCESS_BUDGET.spent,
      maxConnections: s.maxConnections,
      channelCount: () => t.session.channelCount,
      ended: t.session.closed,
      relay: async (conn) => {
        const done = s.track(conn);
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
              ip: unmapIpv4(conn.remoteAddr.hostname),
              port: conn.remoteAddr.port,
              tls: "none",
              host: t.publicHost,
              dstIp: conn.localAddr.hostname,
              dstPort: conn.localAddr.port,
            }, new Uint8Array(0))
            : undefined;
          await relay(s.wrapVisitor(conn, t), ch, first);
        } finally {
          done();
          closeQuietly(conn);
        }
      },
    });
  }
}
