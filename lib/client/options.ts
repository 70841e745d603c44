/**
 * What a client is set up with: its options (the public API's), their
 * defaults, and the limits and timeouts they fall back to.
 */

import { DEFAULT_HEALTH_INTERVAL } from "../pool/mod.ts";
import { DEFAULT_CONNECT_TIMEOUT } from "./dial.ts";
import { DEFAULT_MAX_CHANNELS, DEFAULT_OWED_TIMEOUT } from "../wire/mod.ts";
import type { ForwardedMode } from "./forwarded.ts";
import type { ProxyProtocolVersion } from "./proxy_protocol.ts";
import type { CaptureStore } from "../inspector/mod.ts";

/** First reconnect delay (ms); it doubles per failed attempt. */
export const MIN_BACKOFF = 500;
/** Longest reconnect delay (ms). */
export const MAX_BACKOFF = 30_000;
/** PING interval offered to the server (ms). */
export const CLIENT_PING_INTERVAL = 10_000;
/** Silence after which the client gives the connection up (ms). */
export const CLIENT_PING_TIMEOUT = 30_000;
/** Server answers that retrying cannot fix: the client stops. */
export const FATAL_STATUSES = new Set([400, 401, 403, 404, 409]);
/** How long a pool's member lets open connections finish when it stops (ms). */
export const DEFAULT_CLIENT_GRACE = 10_000;
/** How long a clean stop waits for the server to free the name (ms). */
export const RELEASE_TIMEOUT = 2_000;

/** Options of {@linkcode connect}. */
export interface ClientOptions {
  /** The local port to expose. */
  port: number;
  /**
   * `http` (a name, `https://<name>.<host>`) or `tcp` (a public port,
   * `tcp://<host>:<port>`, any bytes).
   * @default {"http"}
   */
  protocol?: "http" | "tcp";
  /** TCP: the public port to ask for (else any free one in the server's range). */
  remotePort?: number | undefined;
  /**
   * The local host to connect to. When left out, `127.0.0.1` and then `::1`
   * are tried (as browsers do for `localhost`), and the one that answered
   * is kept.
   */
  localHost?: string | undefined;
  /**
   * The server's host name (the bare host of its tunnels).
   * @default {"localhost"}
   */
  server?: string;
  /**
   * The server's port.
   * @default {9999}
   */
  serverPort?: number;
  /**
   * Reach the server over TLS (`https://` URLs), verified against the
   * runtime's root store or `caCerts`.
   * @default {false}
   */
  tls?: boolean;
  /** PEM CA certificates to trust for the server instead of the root store. */
  caCerts?: string[] | undefined;
  /**
   * Skip TLS verification, and allow a token over plain TCP to a remote
   * server. Only when asked: it gives up what TLS is for.
   * @default {false}
   */
  insecure?: boolean;
  /**
   * Milliseconds to connect (TCP and TLS) and to get the server's answer.
   * @default {10000}
   */
  connectTimeout?: number;
  /** Aborting it stops the client (as {@linkcode TunnelClient.close}). */
  signal?: AbortSignal | undefined;
  /** Token for a server started with `--token`. */
  token?: string | undefined;
  /** A subdomain to ask for. */
  subdomain?: string | undefined;
  /**
   * `X-Forwarded-*` and `Forwarded` on every request: `replace` drops what
   * the visitor sent and adds what the server saw; `append` keeps theirs
   * (another proxy in front); `off` leaves them alone.
   * @default {"replace"}
   */
  forwardedHeaders?: ForwardedMode;
  /**
   * `Host` sent to the local app: `"rewrite"` for `localhost:<port>`, or a
   * value; unchanged when left out.
   */
  hostHeader?: string | undefined;
  /** `user:password` pairs; visitors without one of them get 401. */
  basicAuth?: string[] | undefined;
  /** CIDR blocks of visitors allowed in (the server checks them). */
  allowIps?: string[] | undefined;
  /** CIDR blocks of visitors refused (the server checks them). */
  denyIps?: string[] | undefined;
  /**
   * Send a PROXY protocol header (`v1` or `v2`) to the local app first, on
   * every connection: for apps that read it (TLS passed through, say).
   */
  proxyProtocol?: ProxyProtocolVersion | undefined;
  /**
   * Where captured requests and responses go (the inspector's store, a
   * request log); each tunnelled connection gets a tap that never slows it.
   */
  capture?: CaptureStore | undefined;
  /**
   * Whether to reconnect when the server goes away.
   * @default {true}
   */
  reconnect?: boolean;
  /**
   * First reconnect delay in ms (doubles up to `maxBackoff`).
   * @default {500}
   */
  minBackoff?: number;
  /**
   * Longest reconnect delay in ms.
   * @default {30000}
   */
  maxBackoff?: number;
  /**
   * PING interval and silence timeout in ms, if the server agrees.
   * @default {{ interval: 10000, timeout: 30000 }}
   */
  ping?: { interval: number; timeout: number };
  /**
   * Milliseconds the server may read nothing of what the client owes it
   * before the session ends (and the client reconnects).
   * @default {30000}
   */
  stallTimeout?: number;
  /**
   * Visitor connections this client serves at once. Past it, it refuses
   * the server's next channel, and that visitor gets a 502 page that says
   * so. (The server's `--max-connections` usually refuses first: 4096.)
   * @default {8192}
   */
  maxConnections?: number;
  /**
   * Bytes all channels may hold unread at once (the process's budget):
   * past it windows stop growing and new connections get 503.
   * @default {134217728}
   */
  memoryBudget?: number;
  /**
   * Join the pool of the name (`subdomain`): several clients behind one
   * name, the server balancing new connections over them.
   * @default {false}
   */
  pool?: boolean;
  /** The pool's secret, to join a pool another client started (else the server makes one). */
  poolSecret?: string | undefined;
  /** A pool's member also probes `GET <healthPath>` on the app (2xx or 3xx: up). */
  healthPath?: string | undefined;
  /**
   * Milliseconds between a pool member's probes of its app.
   * @default {5000}
   */
  healthInterval?: number;
  /**
   * Milliseconds a pool's member lets its open connections finish when it
   * stops (it gets no new ones meanwhile).
   * @default {10000}
   */
  shutdownGrace?: number;
  /** Called on every state change, for status output. */
  onEvent?: (event: ClientEvent) => void;
}

/** What the client reports through `onEvent`. */
export type ClientEvent =
  | { type: "connecting"; server: string; attempt: number }
  | { type: "connected"; url: string; resumed: boolean; local: string }
  | { type: "disconnected"; reason: string }
  | { type: "retrying"; delay: number; reason: string }
  | {
    type: "local-error";
    message: string;
    /** The visitor's `ip:port`, when the server told it ("" if not). */
    visitor?: string;
  }
  | { type: "notice"; message: string }
  | {
    /** A pool's member: the pool's secret and how many members it has now. */
    type: "pool";
    secret: string;
    members: number;
  }
  | {
    /** A pool's member: its app answers (`up`) or not, and why not. */
    type: "health";
    up: boolean;
    reason: string;
  }
  | {
    /** A TCP tunnel's visitor connected (`opened`) or left (`closed`). */
    type: "tcp-connection";
    state: "opened" | "closed";
    /** The visitor's `ip:port`, when the server told it ("" if not). */
    visitor: string;
    /** Closed: milliseconds it was open, bytes from and to the visitor. */
    ms?: number;
    bytesIn?: number;
    bytesOut?: number;
  };

/** The options with every default filled in. */
export type ResolvedOptions =
  & Required<
    Omit<
      ClientOptions,
      | "token"
      | "subdomain"
      | "onEvent"
      | "caCerts"
      | "signal"
      | "localHost"
      | "hostHeader"
      | "basicAuth"
      | "allowIps"
      | "denyIps"
      | "proxyProtocol"
      | "capture"
      | "remotePort"
      | "memoryBudget"
      | "poolSecret"
      | "healthPath"
    >
  >
  & ClientOptions;

/** `options` with every default filled in. */
export function withDefaults(options: ClientOptions): ResolvedOptions {
  return {
    server: "localhost",
    serverPort: 9999,
    tls: false,
    insecure: false,
    forwardedHeaders: "replace",
    protocol: "http",
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    reconnect: true,
    minBackoff: MIN_BACKOFF,
    maxBackoff: MAX_BACKOFF,
    ping: { interval: CLIENT_PING_INTERVAL, timeout: CLIENT_PING_TIMEOUT },
    stallTimeout: DEFAULT_OWED_TIMEOUT,
    maxConnections: DEFAULT_MAX_CHANNELS,
    pool: false,
    healthInterval: DEFAULT_HEALTH_INTERVAL,
    shutdownGrace: DEFAULT_CLIENT_GRACE,
    ...options,
  };
}
