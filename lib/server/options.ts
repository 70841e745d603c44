/**
 * What a server is set up with: its options and the limits and timeouts
 * they default to.
 */

import type { LogFormat, LogSink } from "./log.ts";
import type { ServerTlsOptions } from "./entrances.ts";
import type { ClusterOptions } from "../cluster/mod.ts";

/** Tunnels open at once on a server. */
export const DEFAULT_MAX_TUNNELS = 1000;
/** Tunnels open at once from one client IP address. */
export const DEFAULT_MAX_TUNNELS_PER_IP = 16;
/** Public connections open at once through one tunnel. */
export const DEFAULT_MAX_CONNECTIONS_PER_TUNNEL = 4096;
/** How long a name stays reserved for a client that vanished (ms). */
export const DEFAULT_NAME_HOLD = 10 * 60_000;
/** PING interval on sessions that negotiated it (ms). */
export const DEFAULT_PING_INTERVAL = 10_000;
/** Silence after which a session that negotiated PING is dropped (ms). */
export const DEFAULT_PING_TIMEOUT = 30_000;
/** How long the server waits for in-flight requests on shutdown (ms). */
export const DEFAULT_SHUTDOWN_GRACE = 10_000;

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /**
   * The public base host: tunnels are `<name>.<host>`.
   * @default {"localhost"}
   */
  host?: string;
  /**
   * Port to listen on; 0 picks a free one.
   * @default {9999}
   */
  port?: number;
  /**
   * Address to bind.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * End TLS on `port` with this certificate: public URLs and the control
   * connection are https. Without it TLS is passed through by SNI.
   */
  tls?: ServerTlsOptions | undefined;
  /**
   * With `tls`: also listen for plain HTTP here. Visitors are redirected to
   * https (308); the control handshake is served in plain text for old
   * clients unless `httpsOnly`.
   */
  httpPort?: number | undefined;
  /** With `httpPort`: refuse tunnels over plain HTTP. */
  httpsOnly?: boolean;
  /** CIDR blocks of visitors allowed to reach any tunnel (empty: all). */
  allowIps?: string[];
  /** CIDR blocks of visitors refused for every tunnel. */
  denyIps?: string[];
  /** Offer TCP tunnels on public ports from this range (inclusive). */
  tcpPorts?: [number, number] | undefined;
  /**
   * TCP tunnels at once from one client IP.
   * @default {4}
   */
  maxTcpTunnelsPerIp?: number;
  /** When set, clients must present it as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /**
   * Milliseconds a new connection has to send its head (and its TLS handshake).
   * @default {10000}
   */
  peekTimeout?: number;
  /**
   * Largest request head, in bytes.
   * @default {32768}
   */
  peekMaxBytes?: number;
  /**
   * Tunnels at once.
   * @default {1000}
   */
  maxTunnels?: number;
  /**
   * Tunnels at once from one IP address.
   * @default {16}
   */
  maxTunnelsPerIp?: number;
  /**
   * Public connections at once through one tunnel.
   * @default {4096}
   */
  maxConnectionsPerTunnel?: number;
  /**
   * Clients at once in one pool (several clients behind one name).
   * @default {16}
   */
  maxPoolMembers?: number;
  /** Names no client may ask for (besides the control names). */
  reservedNames?: string[];
  /**
   * Milliseconds a name is kept for a client that vanished (a clean exit
   * frees it at once).
   * @default {600000}
   */
  nameHold?: number;
  /**
   * PING interval for clients that offer it, in ms.
   * @default {10000}
   */
  pingInterval?: number;
  /**
   * Silence before such a client is dropped, in ms.
   * @default {30000}
   */
  pingTimeout?: number;
  /**
   * Milliseconds a client may read nothing of what the server owes it
   * (answers to its messages) before its session ends.
   * @default {30000}
   */
  stallTimeout?: number;
  /**
   * Bytes of answers owed to one client past which the server stops reading
   * from it until they drain.
   * @default {262144}
   */
  maxOwed?: number;
  /**
   * New public connections a second, per tunnel and per visitor IP (each a
   * token bucket with a burst of as many); past it 429 with `Retry-After`.
   * Off by default.
   */
  rateLimit?: number | undefined;
  /**
   * Browsers (an `Accept` with text/html) see a warning page once per tunnel
   * name before the tunnel: who runs it, and not to enter passwords. API
   * clients, webhooks and `groktunnel-skip-browser-warning` never do.
   */
  browserWarning?: boolean | undefined;
  /**
   * Bytes a second per tunnel, each direction, shared by its public
   * connections. Off by default.
   */
  bandwidth?: number | undefined;
  /** A tunnel's longest life (ms); then it ends and its name is blocked for the name hold. */
  tunnelTtl?: number | undefined;
  /** A tunnel with no public connection for this long (ms) ends, as for `tunnelTtl`. */
  idleTimeout?: number | undefined;
  /**
   * Bytes all tunnels may hold unread at once (the process's budget): past
   * it windows stop growing and new public connections get 503.
   * @default {134217728}
   */
  memoryBudget?: number;
  /** Where log lines go; default stderr with a timestamp, as `logFormat` says. */
  log?: LogSink;
  /**
   * Text lines, or one JSON object per line with the fields of each event.
   * @default {"text"}
   */
  logFormat?: LogFormat;
  /**
   * Join a cluster: names shared through etcd, public connections for
   * another node's tunnels sent there (lib/cluster/).
   */
  cluster?: ClusterOptions | undefined;
}
