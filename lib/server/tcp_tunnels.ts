/**
 * TCP tunnels: a public port from the operator's range for each, served
 * by the public side as raw bytes; held for a client that vanished, freed
 * at once when it releases its name.
 */

import type { Refusal } from "../wire/mod.ts";
import type { Tunnel } from "./control.ts";
import type { TcpPorts } from "./tcp_ports.ts";
import type { OpenedTunnel, TunnelKind, TunnelRequest } from "./tunnel_kind.ts";

/** See the module doc. */
export class TcpTunnels implements TunnelKind {
  #host: string;
  #ports: TcpPorts;
  #serve: (listener: Deno.TcpListener, t: Tunnel) => void;

  /** TCP tunnels on `ports`, served by `serve`. */
  constructor(
    host: string,
    ports: TcpPorts,
    serve: (listener: Deno.TcpListener, t: Tunnel) => void,
  ) {
    this.#host = host;
    this.#ports = ports;
    this.#serve = serve;
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
}
