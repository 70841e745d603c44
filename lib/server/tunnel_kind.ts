/**
 * What differs between kinds of tunnel (a name on HTTP, a public TCP
 * port): a plug-in of the control endpoint. The endpoint claims the name,
 * then asks the kind the client wants to open the rest (a port, a claim in
 * the cluster) and to close it when the tunnel ends; it names no kind.
 */

import type { Refusal } from "../wire/mod.ts";
import type { Entrance, Tunnel } from "./control.ts";

/** How a tunnel ended, as its kind needs to know. */
export type TunnelEnd =
  /** The client said goodbye (`DELETE /`): free everything now. */
  | "released"
  /** The client went silent: keep what it had for its return. */
  | "vanished"
  /** The same client came back on a new connection. */
  | "replaced"
  /** The handshake's answer could not be written. */
  | "failed";

/** A new tunnel's kind-specific part, once opened. */
export interface OpenedTunnel {
  /** The public host visitors use: `<name>.<host>[:port]` or `<host>:<port>`. */
  publicHost: string;
  /** The public URL's scheme. */
  scheme: "http" | "https" | "tcp";
  /** More handshake headers for the client. */
  headers?: Record<string, string>;
  /** The tunnel is registered and its session is up: start serving. */
  start?(t: Tunnel): void;
  /** A pool's: how many members it has here now (as each joins or leaves). */
  members?(n: number): Promise<void> | void;
  /** The tunnel ended. */
  close(end: TunnelEnd): Promise<void> | void;
}

/** What a new tunnel of a kind is asked for. */
export interface TunnelRequest {
  /** The name claimed for it. */
  name: string;
  /** Its secret. */
  secret: string;
  /** The client's address. */
  ip: string;
  /** Where the client came in. */
  entrance: Entrance;
  /** A handshake header's value, by lower-case name. */
  header(name: string): string | undefined;
  /**
   * The first member of a pool asks (others join without opening), and
   * whether it gave the pool's secret (else the server made one).
   */
  pooled: { withSecret: boolean } | undefined;
}

/** A kind of tunnel; see the module doc. */
export interface TunnelKind {
  /** Opens what a tunnel of this kind needs, or refuses. */
  open(request: TunnelRequest): Promise<OpenedTunnel | Refusal>;
  /**
   * A client's clean exit for `name`, checked against its `secret` where
   * this kind holds names beyond this process: true if it held it there.
   */
  released?(name: string, secret: string): Promise<boolean>;
  /** A release of `name` was confirmed: free what is still held for it. */
  forget?(name: string): void;
  /**
   * The name of the tunnel a pool's member asks to join by something other
   * than a name (a TCP tunnel's port), if there is one.
   */
  poolName?(header: (name: string) => string | undefined): string | undefined;
}
