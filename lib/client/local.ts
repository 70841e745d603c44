/**
 * The client's local side: what each channel the server opens is joined to.
 * It reads the channel's facts (when negotiated), dials the local app
 * (127.0.0.1, then ::1, remembering which answered), lets the stages set
 * the connection up (stage.ts: a PROXY header, filter rules, a capture tap)
 * and relays, through the request filter for HTTP, untouched for TCP.
 */

import {
  type Channel,
  type ChannelFacts,
  PROCESS_BUDGET,
  readFacts,
  relay,
} from "../wire/mod.ts";
import { closeQuietly, hostPort, page } from "../net/mod.ts";
import { filterIsNoop, RequestFilter } from "./request_filter.ts";
import type { ClientStage, LocalConnection } from "./stage.ts";
import type { ClientEvent } from "./options.ts";
import type { ClientStats } from "./stats.ts";

export type { ConnectionWatch } from "./stage.ts";

/** Local hosts tried in turn when none is given. */
const LOCAL_HOSTS = ["127.0.0.1", "::1"];

/** What the local side reports (the client's events). */
export type LocalEvent = Extract<
  ClientEvent,
  { type: "local-error" | "notice" | "tcp-connection" }
>;

/** Options of {@linkcode LocalSide}. */
export interface LocalSideOptions {
  /** The local port. */
  port: number;
  /** The local host, if given (else 127.0.0.1, then ::1). */
  localHost: string | undefined;
  /** HTTP (filtered, captured) or raw TCP. */
  protocol: "http" | "tcp";
  /** What sets up each connection, in order (stages.ts). */
  stages: readonly ClientStage[];
  /** Reports. */
  emit: (e: LocalEvent) => void;
  /** What the client counts. */
  stats: ClientStats;
  /** A visitor's connection could not reach the app (a pool's member's health hears it). */
  refused?: (why: string) => void;
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

  /** A TCP tunnel's connection: raw bytes, a line when it opens and closes. */
  async #tcp(local: Deno.TcpConn, ch: Channel, visitor: string): Promise<void> {
    const emit = this.#o.emit, started = Date.now(), before = ch.bytesRead;
    emit({ type: "tcp-connection", state: "opened", visitor });
    try {
      await relay(local, ch);
    } finally {
      emit({
        type: "tcp-connection",
        state: "closed",
        visitor,
        ms: Date.now() - started,
        bytesIn: ch.bytesRead - before,
        bytesOut: ch.bytesWritten,
      });
    }
  }

  /** Joins one channel to a new local connection; `facts`: read them first. */
  serve(ch: Channel, withFacts: boolean): Promise<void> {
    const stats = this.#o.stats;
    stats.connections++;
    stats.open++;
    const end = () => {
      stats.open--;
      stats.bytesIn += ch.bytesRead;
      stats.bytesOut += ch.bytesWritten;
    };
    // Chained, not awaited: a connection at rest holds no waiting call.
    return this.#serve(ch, withFacts).then(end, (err) => {
      end();
      throw err;
    });
  }

  async #serve(ch: Channel, withFacts: boolean): Promise<void> {
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
    const visitor = facts ? hostPort(facts.ip, facts.port) : "";
    if (PROCESS_BUDGET.spent) {
      // Visitors' unread bytes fill the budget: no new connection adds more.
      o.emit({
        type: "local-error",
        visitor,
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
      o.refused?.(why);
      if (o.protocol === "tcp") {
        // No page to show over raw TCP: the visitor's connection just closes.
        o.emit({
          type: "local-error",
          visitor,
          message:
            `Local service ${target} is not answering (${why}): closed a visitor's connection`,
        });
        ch.close();
        return;
      }
      o.emit({
        type: "local-error",
        visitor,
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
    const http = o.protocol === "http";
    const c: LocalConnection = {
      facts,
      app: local,
      rules: { forwarded: "off", host: undefined, basicAuth: [] },
      watch: undefined,
    };
    try {
      for (const stage of o.stages) {
        if (http || !stage.httpOnly) await stage.join(c);
      }
    } catch {
      closeQuietly(local);
      ch.close();
      return;
    }
    if (!http) return this.#tcp(local, ch, visitor);
    const rules = c.rules;
    return relay(
      local,
      ch,
      undefined,
      filterIsNoop(rules) ? undefined : new RequestFilter({
        ...rules,
        facts,
        watch: c.watch?.requests,
        counter: o.stats,
      }),
      c.watch,
    );
  }
}
