/**
 * The client's local side: what each channel the server opens is joined to.
 * It reads the channel's facts (when negotiated), dials the local app
 * (127.0.0.1, then ::1, remembering which answered), sends a PROXY header if
 * asked, and relays, through the request filter (forwarded headers, Host,
 * basic auth) and the capture tap for HTTP, untouched for TCP.
 */

import {
  type Channel,
  type ChannelFacts,
  PROCESS_BUDGET,
  readFacts,
  relay,
  type RelayTap,
  type RequestWatcher,
} from "../wire/mod.ts";
import type { ForwardedMode } from "./forwarded.ts";
import { closeQuietly, page, writeAll } from "../net/mod.ts";
import { proxyHeader, type ProxyProtocolVersion } from "./proxy_protocol.ts";
import { filterIsNoop, RequestFilter } from "./request_filter.ts";

/**
 * A watcher of one connection: it hears the requests as the request filter
 * parses them (`requests`), or, with no filter, the visitor's bytes from
 * the relay, and the app's answers from the relay: it never holds them up.
 */
export interface ConnectionWatch extends RelayTap {
  /** The requests, from the request filter's parse (one parse for both). */
  readonly requests: RequestWatcher;
}

/** Local hosts tried in turn when none is given. */
const LOCAL_HOSTS = ["127.0.0.1", "::1"];

/** What the local side reports (the client's events). */
export type LocalEvent =
  | { type: "local-error"; message: string }
  | { type: "notice"; message: string };

/** Options of {@linkcode LocalSide}. */
export interface LocalSideOptions {
  /** The local port. */
  port: number;
  /** The local host, if given (else 127.0.0.1, then ::1). */
  localHost: string | undefined;
  /** HTTP (filtered, captured) or raw TCP. */
  protocol: "http" | "tcp";
  /** A PROXY header to send first. */
  proxyProtocol: ProxyProtocolVersion | undefined;
  /**
   * Who watches each HTTP connection (the inspector registers its capture
   * tap here), if anyone: made per connection with the visitor's
   * `ip:port`.
   */
  watch: ((visitor: string) => ConnectionWatch) | undefined;
  /** Forwarded-headers mode. */
  forwarded: ForwardedMode;
  /** `rewrite`, a Host value, or nothing. */
  hostHeader: string | undefined;
  /** Credentials visitors must give. */
  basicAuth: string[];
  /** Reports. */
  emit: (e: LocalEvent) => void;
}

/** `host:port`, with IPv6 addresses in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The local side; see the module doc. */
export class LocalSide {
  #o: LocalSideOptions;
  /** Local hosts to try, the one that answered last first. */
  #hosts: string[];

  /** A local side for `options.port`. */
  constructor(options: LocalSideOptions) {
    this.#o = options;
    this.#hosts = options.localHost ? [options.localHost] : [...LOCAL_HOSTS];
  }

  /** A new connection to the local app, trying each local host in turn. */
  async dial(): Promise<Deno.TcpConn> {
    const port = this.#o.port;
    let first: unknown;
    for (const host of this.#hosts) {
      try {
        const conn = await Deno.connect({ hostname: host, port });
        if (host !== this.#hosts[0]) {
          // Remember it: the next connection tries it first.
          this.#o.emit({
            type: "notice",
            message: `The local server answers on http://${
              hostPort(host, port)
            }, not ${hostPort(this.#hosts[0]!, port)}: using that`,
          });
          this.#hosts = [host, ...this.#hosts.filter((h) => h !== host)];
        }
        return conn;
      } catch (err) {
        first ??= err;
      }
    }
    throw first;
  }

  /** Joins one channel to a new local connection; `facts`: read them first. */
  async serve(ch: Channel, withFacts: boolean): Promise<void> {
    const o = this.#o;
    let facts: ChannelFacts | undefined;
    if (withFacts) {
      try {
        facts = await readFacts(ch);
      } catch (err) {
        o.emit({
          type: "local-error",
          message: `Dropped a connection: ${(err as Error).message}`,
        });
        ch.close();
        return;
      }
    }
    if (PROCESS_BUDGET.spent) {
      // Visitors' unread bytes fill the budget: no new connection adds more.
      o.emit({
        type: "local-error",
        message:
          "Refused a connection: unread bytes fill --memory-budget (the local app reads too slowly)",
      });
      if (o.protocol === "http") {
        await ch.write(
          page(503, "The tunnel is busy; try again shortly."),
        ).catch(() => {});
      }
      ch.close();
      return;
    }
    let local: Deno.TcpConn;
    try {
      local = await this.dial();
    } catch (err) {
      const target = this.#hosts.map((h) => hostPort(h, o.port)).join(" or ");
      const why = (err as Error).message;
      if (o.protocol === "tcp") {
        // No page to show over raw TCP: the visitor's connection just closes.
        o.emit({
          type: "local-error",
          message:
            `Local service ${target} is not answering (${why}): closed a visitor's connection`,
        });
        ch.close();
        return;
      }
      o.emit({
        type: "local-error",
        message: `Local server ${target} is not answering (${why}): sent 502`,
      });
      try {
        await ch.write(
          page(
            502,
            `The local server at ${target} is not answering. Is it running?`,
          ),
        );
      } catch { /* the public side is gone */ }
      ch.close();
      return;
    }
    local.setNoDelay(true);
    if (o.proxyProtocol) {
      try {
        await writeAll(local, proxyHeader(o.proxyProtocol, facts));
      } catch {
        closeQuietly(local);
        ch.close();
        return;
      }
    }
    if (o.protocol === "tcp") return relay(local, ch);
    const tap = o.watch && facts?.tls !== "passthrough"
      ? o.watch(facts ? hostPort(facts.ip, facts.port) : "")
      : undefined;
    const filterOptions = {
      watch: tap?.requests,
      forwarded: o.forwarded,
      host: o.hostHeader === "rewrite" ? `localhost:${o.port}` : o.hostHeader,
      basicAuth: o.basicAuth,
      facts,
    };
    await relay(
      local,
      ch,
      undefined,
      filterIsNoop(filterOptions)
        ? undefined
        : new RequestFilter(filterOptions),
      tap,
    );
  }
}
