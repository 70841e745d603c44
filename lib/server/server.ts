/**
 * The tunnel server: listeners ("entrances"), each new connection peeked for
 * its name. The bare host (or the original's `_new.<host>`) goes to the
 * {@linkcode ControlEndpoint}; `<sub>.<host>` is relayed through that
 * tunnel's session as a new channel; anything else gets a short page.
 *
 * Entrances: the main port speaks plain TCP (TLS passed through by SNI), or,
 * with a certificate, ends TLS itself (lib/tls/). Beside a TLS port, an
 * optional plain HTTP port redirects visitors to https and still takes the
 * control handshake in plain text for the original Go client.
 */

import {
  closeQuietly,
  DEFAULT_PEEK_MAX_BYTES,
  DEFAULT_PEEK_TIMEOUT,
  type Handler,
  IpFilter,
} from "../net/mod.ts";
import type { Registry } from "./registry.ts";
import { PublicSide } from "./public.ts";
import { OpenConnections } from "./open_connections.ts";
import type { Tunnel } from "./control.ts";
import {
  acceptAll,
  openEntrances,
  type ServerTlsOptions,
} from "./entrances.ts";
import type {
  EntranceContext,
  Listener,
  MetricSeries,
  PluginContext,
  ServerPlugin,
} from "./plugin.ts";
import { SERVER_FEATURES } from "./features.ts";
import {
  controlEndpoint,
  kindsOf,
  normaliseHost,
  peekOrAnswer,
  registryOf,
  wrapAll,
} from "./assemble.ts";
import { ServerStats } from "./stats.ts";
import { type LogSink, stderrLog } from "./log.ts";
import {
  endedLine,
  infoOf,
  type MemberInfo,
  type TunnelInfo,
} from "./tunnel_info.ts";
import {
  DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
  DEFAULT_NAME_HOLD,
  DEFAULT_SHUTDOWN_GRACE,
  type ServerOptions,
} from "./options.ts";
export * from "./options.ts";
export type { ServerTlsOptions };
import {
  type Certificate,
  type CertificateReloader,
  short,
} from "../tls/mod.ts";
import { PROCESS_BUDGET } from "../wire/mod.ts";

export type { MemberInfo, TunnelInfo };

/**
 * A running tunnel server; see {@linkcode startServer}.
 */
export class TunnelServer {
  /** The address of the main port (TLS when `tls` is set). */
  readonly addr: Deno.NetAddr;
  /** The plain HTTP port beside a TLS one, if any. */
  readonly httpAddr: Deno.NetAddr | undefined;
  /** The public base host. */
  readonly host: string;
  /** Resolves once every port listens; rejects if one cannot be bound. */
  readonly ready: Promise<void>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** What the server counts (its metrics read it). */
  readonly stats: ServerStats = new ServerStats();
  #peek: { timeout: number; maxBytes: number };
  #log: LogSink;
  #registry: Registry<Tunnel>;
  #listeners: Listener[] = [];
  #reloader: CertificateReloader | undefined;
  #plugins: ServerPlugin[] = [];
  #entry: EntranceContext;
  #conns: OpenConnections;
  #mounts = new Map<string, Handler>();
  #context: PluginContext;
  #closing = false;

  /**
   * Starts listening; prefer {@linkcode startServer}. Throws if a port
   * cannot be bound, or a `CertificateError` for unusable certificate files.
   */
  constructor(options: ServerOptions = {}) {
    const host = this.host = normaliseHost(options.host ?? "localhost");
    if (options.memoryBudget !== undefined) {
      PROCESS_BUDGET.limit = options.memoryBudget;
    }
    this.#peek = {
      timeout: options.peekTimeout ?? DEFAULT_PEEK_TIMEOUT,
      maxBytes: options.peekMaxBytes ?? DEFAULT_PEEK_MAX_BYTES,
    };
    const log = this.#log = options.log ?? stderrLog(options.logFormat);
    this.#conns = new OpenConnections(log);
    const nameHold = options.nameHold ?? DEFAULT_NAME_HOLD;
    this.#registry = registryOf(options, host, nameHold);
    const context: PluginContext = this.#context = {
      host,
      log,
      nameHold,
      visitors: new IpFilter(options.allowIps, options.denyIps),
      maxConnections: options.maxConnectionsPerTunnel ??
        DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
      track: (conn) => this.#conns.track(conn),
      drop: (name, why) => this.#drop(name, why),
      tunnels: () => this.tunnels,
      wrapVisitor: (conn, t) => wrapAll(this.#plugins, conn, t),
      endTunnel: (name, ms, why, refusal) => {
        this.#registry.ban(name, ms, refusal);
        this.#drop(name, why);
      },
    };
    const loops: Array<Promise<void>> = [];
    try {
      const plugins = this.#plugins;
      for (const feature of SERVER_FEATURES) {
        const plugin = feature(options, context);
        if (plugin) plugins.push(plugin);
      }
      const kinds = kindsOf(plugins, host);
      const e = openEntrances({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 9999,
        tls: options.tls,
        httpPort: options.httpPort,
        handshakeTimeout: this.#peek.timeout,
        log,
      });
      this.addr = e.addr;
      this.httpAddr = e.httpAddr;
      this.#reloader = e.reloader;
      const entrances = [
        ...e.list,
        ...plugins.flatMap((p) => p.entrances ?? []),
      ];
      this.#listeners = entrances.map((x) => x.listener);
      this.#entry = {
        public: new PublicSide({
          ...context,
          elsewhere: plugins.find((p) => p.elsewhere)?.elsewhere,
          registry: this.#registry,
          control: controlEndpoint(options, context, {
            registry: this.#registry,
            kinds,
            closing: () => this.#closing,
            ended: (t, why) => this.#ended(t, why),
            stats: this.stats,
            mounts: this.#mounts,
          }),
          httpsOnly: options.httpsOnly ?? false,
          httpsPort: () => this.addr.port,
          stats: this.stats,
          gates: plugins.flatMap((p) => p.gates ?? []),
        }),
        peekTimeout: this.#peek.timeout,
        peek: (conn, answerTo) =>
          peekOrAnswer(conn, answerTo, this.#peek, this.stats),
      };
      this.ready = Promise.all([e.ready, ...plugins.map((p) => p.start?.())])
        .then(() => {});
      for (const x of entrances) {
        loops.push(
          acceptAll(x.listener, {
            closing: () => this.#closing,
            log,
            serve: (conn) => this.#conns.serve(conn, x, this.#entry),
          }).then(async () => {
            while (this.#conns.size > 0) {
              await new Promise((r) => setTimeout(r, 10));
            }
          }),
        );
      }
    } catch (err) {
      this.#closing = true;
      for (const l of this.#listeners) closeQuietly(l);
      this.#reloader?.close();
      for (const p of this.#plugins) {
        for (const x of p.entrances ?? []) closeQuietly(x.listener);
      }
      throw err;
    }
    this.finished = Promise.all(loops).then(() => {});
  }

  /** The tunnels open now. */
  get tunnels(): TunnelInfo[] {
    return [...this.#registry.values()].map(infoOf);
  }

  /** The tunnels served beyond this process (a cluster's other nodes), by name and node. */
  get tunnelsElsewhere(): Array<{ name: string; node: string }> {
    return this.#plugins.flatMap((p) => p.tunnelsElsewhere?.() ?? []);
  }

  /** The plug-ins' own metrics now (a cluster's etcd state and hops). */
  get pluginMetrics(): MetricSeries[] {
    return this.#plugins.flatMap((p) => p.metrics?.() ?? []);
  }

  /** One open tunnel, by name. */
  tunnel(name: string): TunnelInfo | undefined {
    const t = this.#registry.get(name);
    return t && infoOf(t);
  }

  /**
   * An operator's stop: ends `name`'s tunnel, if one is open, and blocks
   * the name for `blockMs` (Infinity: until a restart) so that its client
   * cannot come straight back; in a cluster, on every node. True if a
   * tunnel was open (here or on another node).
   */
  endTunnel(name: string, blockMs: number): boolean {
    const why = `The name "${name}" is blocked by the server's operator`;
    const open = this.#registry.get(name) !== undefined ||
      this.tunnelsElsewhere.some((t) => t.name === name);
    this.#context.endTunnel(
      name,
      blockMs,
      "ended by the server's operator",
      why,
    );
    for (const p of this.#plugins) {
      p.banned?.(name, blockMs, why).catch(() => {});
    }
    return open;
  }

  /**
   * Serves `handler` on the bare host under `prefix` (`/admin`: requests
   * to `/admin/…`, seen by the handler without the prefix), one request per
   * connection, before the control endpoint's own answers. The handler
   * checks who may ask.
   */
  mount(prefix: string, handler: Handler): void {
    this.#mounts.set(prefix.replace(/\/+$/, ""), handler);
  }

  /** The certificate served now, when the server ends TLS. */
  get certificate(): Certificate | undefined {
    return this.#reloader?.current;
  }

  /**
   * Reads the certificate files again (as on SIGHUP). New handshakes use the
   * new pair; open connections keep theirs. A bad pair is logged and the
   * current one stays. True if a new certificate is now served.
   */
  reloadCertificate(): boolean {
    return this.#reloader?.reload() ?? false;
  }

  /**
   * Stops accepting, lets in-flight public requests finish for up to `grace`
   * ms, then closes every tunnel and connection.
   */
  async shutdown(grace: number = DEFAULT_SHUTDOWN_GRACE): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const l of this.#listeners) closeQuietly(l);
      this.#reloader?.close();
      const until = Date.now() + grace;
      while (this.#conns.inFlight > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const t of this.#registry.values()) t.session.close();
      this.#conns.closeAll();
      await Promise.all(this.#plugins.map((p) => p.close?.()));
    }
    await this.finished;
  }

  /** Closes everything now. */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  /** Ends this process's tunnel for `name`, if any (its name went elsewhere). */
  #drop(name: string, why: string): void {
    const t = this.#registry.get(name);
    if (!t) return;
    this.#registry.remove(t, true);
    this.#ended(t, why);
    t.session.close();
  }

  #ended(t: Tunnel, why: string): void {
    this.stats.endedBytesIn += t.session.bytesIn;
    this.stats.endedBytesOut += t.session.bytesOut;
    const [line, fields] = endedLine(t, why);
    this.#log(line, fields);
  }
}

/**
 * Starts a tunnel server.
 *
 * @example
 * ```ts
 * import { startServer } from "./server.ts";
 * const server = startServer({ host: "localhost", port: 0 });
 * console.log(`control endpoint: http://localhost:${server.addr.port}`);
 * await server.close();
 * ```
 */
export function startServer(options: ServerOptions = {}): TunnelServer {
  return new TunnelServer(options);
}

/** A certificate in one line, for logs. */
export { short as describeCertificate };
export type { Certificate };
