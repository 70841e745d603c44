/**
 * How a feature plugs into the client's local side: an ordered list of
 * stages, each setting up every visitor's connection to the local app
 * before the relay starts. A stage may write to the app first (a PROXY
 * header), add rules to the request filter (basic auth, forwarded headers,
 * Host) or watch the connection (the inspector's capture). The stages are
 * listed, in order, in stages.ts.
 */

import type { ChannelFacts, RelayTap, RequestWatcher } from "../wire/mod.ts";
import type { ForwardedMode } from "./forwarded.ts";
import type { ClientOptions } from "./options.ts";

/**
 * A watcher of one connection: it hears the requests as the request filter
 * parses them (`requests`), or, with no filter, the visitor's bytes from
 * the relay, and the app's answers from the relay: it never holds them up.
 */
export interface ConnectionWatch extends RelayTap {
  /** The requests, from the request filter's parse (one parse for both). */
  readonly requests: RequestWatcher;
}

/** What the request filter does to each request (HTTP tunnels). */
export interface FilterRules {
  /** Forwarded headers ("off": none). */
  forwarded: ForwardedMode;
  /** A replacement Host value. */
  host: string | undefined;
  /** `user:password` pairs visitors must give one of; empty: no auth. */
  basicAuth: readonly string[];
}

/** One visitor's connection to the local app, as the stages set it up. */
export interface LocalConnection {
  /** What the server saw of the visitor, when the client asked for it. */
  readonly facts: ChannelFacts | undefined;
  /** The local app's socket (a stage may write to it first). */
  readonly app: Deno.TcpConn;
  /** The request filter's rules: stages add theirs (HTTP tunnels). */
  readonly rules: FilterRules;
  /** Who watches the connection both ways, if anyone (one at most). */
  watch: ConnectionWatch | undefined;
}

/** A step in setting up each local connection. */
export interface ClientStage {
  /** For HTTP tunnels only (it filters or parses), or for TCP ones too. */
  readonly httpOnly: boolean;
  /** Sets up one connection; a throw drops it (both sides are closed). */
  join(c: LocalConnection): Promise<void> | void;
}

/**
 * A feature of the client: its stage for these options, or undefined when
 * they do not turn it on. Throws on options it cannot take.
 */
export type ClientFeature = (options: ClientOptions) => ClientStage | undefined;
