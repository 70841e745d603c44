/**
 * The tunnel client: asks the server for a tunnel, then joins every channel
 * the server opens to a new connection to the local port. When the server
 * goes away it reconnects with exponential backoff and jitter, presenting
 * the secret of its last name to get the same name back.
 */

import { DialError, dialServer, isLoopback } from "./dial.ts";
import { Membership } from "../pool/mod.ts";
import {
  FEATURE_FACTS,
  FEATURE_PING,
  FEATURE_POOL,
  HandshakeError,
  PROCESS_BUDGET,
  releaseTunnel,
  requestTunnel,
  Session,
} from "../wire/mod.ts";
import {
  type ByteConn,
  closeQuietly,
  hostPort,
  IpFilter,
  PeekedConn,
} from "../net/mod.ts";
import { VERSION } from "../version.ts";
import { CLIENT_FEATURES } from "./stages.ts";
import { ClientStats, countEvent } from "./stats.ts";
import { LocalSide } from "./local.ts";
import {
  type ClientEvent,
  type ClientOptions,
  FATAL_STATUSES,
  RELEASE_TIMEOUT,
  type ResolvedOptions,
  withDefaults,
} from "./options.ts";
import { DEFAULT_HEALTH_INTERVAL } from "../pool/mod.ts";

export {
  CLIENT_PING_INTERVAL,
  CLIENT_PING_TIMEOUT,
  type ClientEvent,
  type ClientOptions,
  MAX_BACKOFF,
  MIN_BACKOFF,
  RELEASE_TIMEOUT,
} from "./options.ts";

/** A running client; see {@linkcode connect}. */
export class TunnelClient {
  /** What the client counts (its metrics read it). */
  readonly stats: ClientStats = new ClientStats();
  /** Resolves once the client stopped: `close()`, or a refusal retrying cannot fix (rejects then). */
  readonly finished: Promise<void>;
  /** Resolves with the first public URL; rejects if the server refuses. */
  readonly ready: Promise<string>;
  #o: ResolvedOptions;
  #url: string | undefined;
  #stopped = false;
  #session: Session | undefined;
  #conn: ByteConn | undefined;
  #everUp = false;
  /** The public port a TCP tunnel got last. */
  #tcpPort: number | undefined;
  /** What each channel is joined to. */
  #local: LocalSide;
  #wake: (() => void) | undefined;
  #resume: { name: string; secret: string } | undefined;
  /** A pool's member: its part of the pool. */
  #pool: Membership | undefined;
  #resolveReady!: (url: string) => void;
  #rejectReady!: (err: Error) => void;

  /** Starts connecting; prefer {@linkcode connect}. */
  constructor(options: ClientOptions) {
    if (
      !Number.isInteger(options.port) || options.port < 1 ||
      options.port > 65535
    ) {
      throw new RangeError(`Invalid local port: ${options.port}`);
    }
    this.#local = new LocalSide({
      port: options.port,
      localHost: options.localHost,
      protocol: options.protocol ?? "http",
      stages: CLIENT_FEATURES.map((f) => f(options)).filter((s) => !!s),
      emit: (e) => this.#emit(e),
      stats: this.stats,
      refused: (why) => this.#pool?.refused(why),
    });
    if (options.pool) {
      this.#pool = membership(options, this.#local, (e) => this.#emit(e));
    }
    if (options.memoryBudget !== undefined) {
      PROCESS_BUDGET.limit = options.memoryBudget;
    }
    new IpFilter(options.allowIps, options.denyIps); // throws on a bad block
    this.#o = withDefaults(options);
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
    if (
      this.#o.token && !this.#o.tls && !this.#o.insecure &&
      !isLoopback(this.#o.server)
    ) {
      const err = new HandshakeError(
        `Refusing to send the token in the clear to ${this.#o.server}: use https (--server https://${this.#o.server}) or --insecure`,
      );
      this.#rejectReady(err);
      this.finished = Promise.reject(err);
      this.finished.catch(() => {});
      return;
    }
    options.signal?.addEventListener("abort", () => this.close(), {
      once: true,
    });
    this.finished = this.#run();
  }

  /** A pool's member: the pool's secret and how many members it has now. */
  get pool(): { secret: string; members: number } | undefined {
    return this.#pool?.pool;
  }

  /** The public URL now (it changes only if the server forgot the name). */
  get url(): string | undefined {
    return this.#url;
  }

  /**
   * Stops: tells the server to free the name at once (a clean exit, unlike
   * a lost connection, after which the name is held for this client), then
   * ends the session.
   */
  close(): Promise<void> {
    if (this.#stopped) return this.finished.catch(() => {});
    this.#stopped = true;
    this.#wake?.();
    this.#rejectReady(new HandshakeError("Closed before the tunnel was up"));
    const resume = this.#session ? this.#resume : undefined;
    const done = (async () => {
      // A pool's member drains first, and frees the name only when it is
      // the last: the others go on serving it.
      const last = await this.#pool?.drain(this.#o.shutdownGrace) ?? true;
      if (resume && last) await this.#release(resume).catch(() => {});
      this.#session?.close();
      if (this.#conn) closeQuietly(this.#conn);
    })();
    return done.then(() => this.finished.catch(() => {}));
  }

  /** `DELETE /` with the name and secret: the server frees the name. */
  async #release(resume: { name: string; secret: string }): Promise<void> {
    const conn = await serverConnection(this.#o, RELEASE_TIMEOUT);
    try {
      await releaseTunnel(conn, this.#o.server, this.#o.serverPort, {
        ...resume,
        version: VERSION,
        timeout: RELEASE_TIMEOUT,
      });
    } finally {
      closeQuietly(conn);
    }
  }

  #emit(event: ClientEvent): void {
    countEvent(this.stats, event);
    this.#o.onEvent?.(event);
  }

  async #run(): Promise<void> {
    const server = `${
      this.#o.tls ? "https" : "http"
    }://${this.#o.server}:${this.#o.serverPort}`;
    for (let attempt = 0; !this.#stopped;) {
      this.#emit({ type: "connecting", server, attempt });
      let reason: string;
      try {
        const up = await this.#connectOnce();
        if (up) attempt = 0;
        reason = up ?? "closed";
        if (up !== undefined && !this.#stopped) {
          this.#emit({ type: "disconnected", reason });
        }
      } catch (err) {
        if (this.#stopped) break;
        // Before the server was ever reached, any failure ends the client
        // (a typo, DNS, a certificate, nobody listening): retrying would
        // hide it. Once it was up, only refusals retrying cannot fix do.
        const refusedForGood = err instanceof HandshakeError &&
          err.status !== undefined && FATAL_STATUSES.has(err.status);
        const neverUp = !this.#everUp &&
          !(err instanceof HandshakeError && err.status !== undefined);
        if (
          refusedForGood || neverUp ||
          (err instanceof DialError && err.permanent) ||
          !this.#o.reconnect
        ) {
          this.#stopped = true;
          const why = schemeHint(err as Error, this.#o);
          this.#rejectReady(why);
          this.#pool?.close();
          throw why;
        }
        reason = (err as Error).message;
      }
      if (this.#stopped || !this.#o.reconnect) break;
      const base = Math.min(
        this.#o.maxBackoff,
        this.#o.minBackoff * 2 ** attempt++,
      );
      const delay = Math.round(base * (0.5 + Math.random() * 0.5));
      this.#emit({ type: "retrying", delay, reason });
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    this.#rejectReady(new HandshakeError("Stopped before the tunnel was up"));
    this.#pool?.close();
  }

  /** One connection's life; resolves with why it ended (after it was up). */
  async #connectOnce(): Promise<string | undefined> {
    const conn = await serverConnection(
      this.#o,
      this.#o.connectTimeout,
      this.#o.signal,
    );
    this.#conn = conn;
    try {
      if (this.#stopped) return undefined;
      const granted = await requestTunnel(conn, {
        host: this.#o.server,
        port: this.#o.serverPort,
        version: VERSION,
        token: this.#o.token,
        subdomain: this.#o.subdomain,
        resume: this.#resume,
        features: this.#pool
          ? [FEATURE_PING, FEATURE_FACTS, FEATURE_POOL]
          : [FEATURE_PING, FEATURE_FACTS],
        pool: this.#pool?.request,
        protocol: this.#o.protocol,
        // A TCP tunnel asks for its port again: after a server restart too.
        remotePort: this.#o.remotePort ?? this.#tcpPort,
        allowIps: this.#o.allowIps,
        denyIps: this.#o.denyIps,
      }, { timeout: this.#o.connectTimeout, tls: this.#o.tls });
      const session = new Session(new PeekedConn(conn, granted.rest), {
        owedTimeout: this.#o.stallTimeout,
        maxChannels: this.#o.maxConnections,
      });
      this.#session = session;
      if (this.#stopped) session.close();
      if (granted.features.includes(FEATURE_PING)) {
        session.enablePing(this.#o.ping);
      }
      const facts = granted.features.includes(FEATURE_FACTS);
      if (this.#pool && granted.pool) this.#pool.joined(session, granted.pool);
      this.#tcpPort = granted.tcpPort ?? this.#tcpPort;
      const { name, secret } = granted;
      const resumed = this.#resume?.name === name;
      this.#resume = secret ? { name, secret } : undefined;
      this.#everUp = true;
      const url = this.#url = granted.url;
      this.#emit({
        type: "connected",
        url,
        resumed,
        local: `${this.#o.protocol === "tcp" ? "tcp" : "http"}://${
          localAuthority(this.#o)
        }`,
      });
      this.#resolveReady(url);
      for await (const ch of session) this.#local.serve(ch, facts);
      return (await session.closed).message;
    } finally {
      closeQuietly(conn);
    }
  }

  /**
   * A new connection to the local app, as visitors' connections are made
   * (127.0.0.1, then ::1, unless `localHost` was given).
   */
  connectLocal(): Promise<Deno.TcpConn> {
    return this.#local.dial();
  }
}

/** A connection to the server, as the options say (TLS, CA, insecure). */
function serverConnection(
  o: ResolvedOptions,
  timeout: number,
  signal?: AbortSignal,
): Promise<ByteConn> {
  return dialServer({
    host: o.server,
    port: o.serverPort,
    tls: o.tls,
    caCerts: o.caCerts,
    insecure: o.insecure,
    timeout,
    signal,
  });
}

/** Where the local app is, as a URL's authority. */
function localAuthority(o: ClientOptions): string {
  return o.localHost ? hostPort(o.localHost, o.port) : `localhost:${o.port}`;
}

/** A pool member's part, for a client with these options. */
function membership(
  o: ClientOptions,
  local: LocalSide,
  emit: (e: ClientEvent) => void,
): Membership {
  return new Membership({
    secret: o.poolSecret,
    dial: () => local.dial(),
    healthPath: o.healthPath,
    host: localAuthority(o),
    interval: o.healthInterval ?? DEFAULT_HEALTH_INTERVAL,
    onPool: (secret, members) => emit({ type: "pool", secret, members }),
    onHealth: (up, reason) => emit({ type: "health", up, reason }),
  });
}

/**
 * A plain handshake the server closed (or answered with bytes that are not
 * HTTP) is most often plain HTTP sent to a TLS port: say so.
 */
function schemeHint(err: Error, o: ResolvedOptions): Error {
  if (
    o.tls || !(err instanceof HandshakeError) ||
    !/closed the connection during the handshake|did not answer with HTTP/
      .test(err.message)
  ) return err;
  return new HandshakeError(
    `${err.message}. If the server ends TLS on this port, use --server https://${o.server}:${o.serverPort}`,
  );
}

/**
 * Connects to a groktunnel server and exposes a local port; resolves once the
 * tunnel is up (retrying while the server is unreachable).
 *
 * @example Expose a local Deno.serve on a public URL
 * ```ts ignore
 * import { connect } from "jsr:@x/groktunnel";
 * Deno.serve({ hostname: "127.0.0.1", port: 3000 }, () => new Response("hello"));
 * const tunnel = await connect({ port: 3000, server: "localhost", serverPort: 9999 });
 * console.log(tunnel.url); // http://k3x9q….localhost:9999
 * await tunnel.close();
 * ```
 */
export async function connect(options: ClientOptions): Promise<TunnelClient> {
  const client = new TunnelClient(options);
  client.finished.catch(() => {});
  await client.ready;
  return client;
}
