/**
 * HTTP tunnels: a name under the server's host. With a name authority
 * beyond this process (a cluster's etcd), the name is claimed there too,
 * and let go there when the client vanishes or releases it.
 */

import type { Refusal } from "../wire/mod.ts";
import { portSuffix } from "./control.ts";
import type { OpenedTunnel, TunnelKind, TunnelRequest } from "./tunnel_kind.ts";

/** Names held beyond this process (a cluster registers one). */
export interface NameAuthority {
  /** Claims `name` for `secret` (or confirms the secret holds it); a refusal if not. */
  claim(name: string, secret: string): Promise<Refusal | undefined>;
  /** The client of `name` vanished: its name stays held for its secret. */
  vanished(name: string): Promise<void>;
  /** The client released `name` (maybe through another node): true if it was held. */
  released(name: string, secret: string): Promise<boolean>;
  /** Claims `name` for a pool whose secret is `secret` (it may live elsewhere too). */
  claimPool?(
    name: string,
    secret: string,
    given: boolean,
  ): Promise<Refusal | undefined>;
  /**
   * This process has `n` members of the pool `name` now (0: none, the pool
   * ended here; `release`: by a clean exit).
   */
  poolMembers?(name: string, n: number, release: boolean): Promise<void>;
}

/** See the module doc. */
export class HttpTunnels implements TunnelKind {
  #host: string;
  #authority: NameAuthority | undefined;

  /** HTTP tunnels under `host`, their names also claimed with `authority`. */
  constructor(host: string, authority?: NameAuthority) {
    this.#host = host;
    this.#authority = authority;
  }

  async open(r: TunnelRequest): Promise<OpenedTunnel | Refusal> {
    const authority = this.#authority;
    const refused = r.pooled
      ? await authority?.claimPool?.(r.name, r.secret, r.pooled.withSecret)
      : await authority?.claim(r.name, r.secret);
    if (refused) return refused;
    const opened: OpenedTunnel = {
      publicHost: `${r.name}.${this.#host}${
        portSuffix(r.entrance.scheme, r.entrance.publicPort)
      }`,
      scheme: r.entrance.scheme,
      close: async (end) => {
        if (r.pooled) {
          await authority?.poolMembers?.(r.name, 0, end === "released");
        } else if (end === "vanished" || end === "failed") {
          await authority?.vanished(r.name);
        }
      },
    };
    if (r.pooled && authority?.poolMembers) {
      const told = authority.poolMembers.bind(authority);
      opened.members = (n) => told(r.name, n, false);
    }
    return opened;
  }

  released(name: string, secret: string): Promise<boolean> {
    return this.#authority?.released(name, secret) ?? Promise.resolve(false);
  }
}
