/**
 * How a feature plugs into the server, so the core names none: a plug-in
 * may add entrances (ports and how their connections are served), kinds of
 * tunnel, a name authority beyond this process, an elsewhere for names this
 * process does not serve, gates (checks on each public connection) and
 * wrappers of visitors' connections. The features are listed in
 * features.ts.
 */

import type { ByteConn, IpFilter, NetConn, PeekResult } from "../net/mod.ts";
import type { ServerOptions } from "./options.ts";
import type { PublicSide } from "./public.ts";
import type { NameAuthority } from "./http_tunnels.ts";
import type { Elsewhere } from "./public.ts";
import type { TunnelKind } from "./tunnel_kind.ts";
import type { LogSink } from "./log.ts";
import type { Series } from "../metrics/mod.ts";
import type { Tunnel } from "./control.ts";
import type { Outcome } from "./stats.ts";
import type { TunnelInfo } from "./tunnel_info.ts";

/** One metric a feature adds (one sample, no labels). */
export type MetricSeries = Series;

/** A listening port. */
export type Listener = { accept(): Promise<NetConn>; close(): void };

/** What an entrance may use to serve a connection. */
export interface EntranceContext {
  /** Where routed connections go. */
  public: PublicSide;
  /** Milliseconds a connection may take to show what it wants. */
  peekTimeout: number;
  /**
   * Reads what `conn` wants (its Host or SNI); answers `answerTo` (the
   * socket under it) with a page and gives undefined when it cannot tell.
   */
  peek(conn: ByteConn, answerTo: NetConn): Promise<PeekResult | undefined>;
}

/** A port and how its connections are served. */
export interface Entrance {
  /** The port. */
  listener: Listener;
  /** Serves one connection accepted there (the server closes it after). */
  serve(conn: NetConn, context: EntranceContext): Promise<void>;
}

/** What a plug-in is given. */
export interface PluginContext {
  /** The public base host. */
  host: string;
  /** Log sink. */
  log: LogSink;
  /** The operator's visitor lists. */
  visitors: IpFilter;
  /** Public connections at once per tunnel. */
  maxConnections: number;
  /** Milliseconds a name stays held for a client that vanished. */
  nameHold: number;
  /** Counts a relayed connection in flight (for shutdown); call the result when done. */
  track(conn: NetConn): () => void;
  /** A visitor's connection to `t` as the features wrap it (see `wrapVisitor`). */
  wrapVisitor(conn: ByteConn, t: Tunnel): ByteConn;
  /** Ends this process's tunnel for `name`, if any, saying `why`. */
  drop(name: string, why: string): void;
  /** The tunnels up now. */
  tunnels(): TunnelInfo[];
  /**
   * Ends `name`'s tunnel (logged with `why`) and blocks the name for
   * `blockMs`, telling its client `refusal` when it comes back.
   */
  endTunnel(name: string, blockMs: number, why: string, refusal: string): void;
}

/**
 * A check on each public connection before it reaches a tunnel (a rate
 * limit, a warning page): an answer instead, or undefined to let it pass.
 */
export interface Gate {
  /** The answer for visitor `ip` of `t`, or undefined to let it through. */
  check(t: Tunnel, r: PeekResult, ip: string): GateAnswer | undefined;
}

/** A gate's answer: the bytes, and how the metrics count it. */
export interface GateAnswer {
  /** What the visitor gets (a page, or a TLS alert). */
  bytes: Uint8Array;
  /** The outcome it counts as. */
  outcome: Outcome;
}

/** What a feature adds to the server. */
export interface ServerPlugin {
  /** More ports. */
  entrances?: Entrance[];
  /** More kinds of tunnel, by the protocol a client asks for. */
  kinds?: Record<string, TunnelKind>;
  /** Where HTTP tunnel names are also claimed (one at most). */
  names?: NameAuthority;
  /** Where visitors for names this process does not serve may go (one at most). */
  elsewhere?: Elsewhere;
  /** Checks on public connections, in the order features are listed. */
  gates?: Gate[];
  /**
   * Wraps a visitor's connection to `t` before it is relayed (a bandwidth
   * limit paces it); the wrappers of all features apply, in order.
   */
  wrapVisitor?(conn: ByteConn, t: Tunnel): ByteConn;
  /** The tunnels served beyond this process (other nodes'), by name and node. */
  tunnelsElsewhere?(): Array<{ name: string; node: string }>;
  /**
   * The operator ended `name` here and blocks it for `ms` (Infinity: for
   * good), telling clients `why`: the feature tells the places beyond.
   */
  banned?(name: string, ms: number, why: string): Promise<void>;
  /** The feature's own metrics, read at each scrape. */
  metrics?(): MetricSeries[];
  /** Resolves once the feature is ready (the server's `ready` waits for it). */
  start?(): Promise<void>;
  /** Stops it (at shutdown). */
  close?(): Promise<void> | void;
}

/**
 * A feature: its plug-in for these options, or undefined when they do not
 * turn it on. Throws when it cannot start (a port it cannot bind).
 */
export type ServerFeature = (
  options: ServerOptions,
  context: PluginContext,
) => ServerPlugin | undefined;
