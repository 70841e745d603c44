/**
 * The server's open public connections, for its shutdown: it waits for
 * those relayed to a tunnel (in flight) to finish, then closes them all.
 * Each is served by its entrance, chained rather than awaited, so that a
 * connection at rest holds no waiting call.
 */

import { closeQuietly, type NetConn } from "../net/mod.ts";
import type { Entrance, EntranceContext } from "./plugin.ts";

/** See the module doc. */
export class OpenConnections {
  #all = new Set<NetConn>();
  #inFlight = 0;
  #log: (line: string) => void;
  #failed = (err: unknown): void =>
    this.#log(`connection error: ${(err as Error).message}`);

  /** Connections whose errors go to `log`. */
  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  /** Open now. */
  get size(): number {
    return this.#all.size;
  }

  /** Relayed to a tunnel now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Serves `conn` through `entrance`; forgets and closes it once served. */
  serve(conn: NetConn, entrance: Entrance, entry: EntranceContext): void {
    this.#all.add(conn);
    let served: Promise<void>;
    try {
      conn.setNoDelay(true);
      served = entrance.serve(conn, entry);
    } catch (err) {
      served = Promise.reject(err);
    }
    served.catch(this.#failed).then(() => {
      this.#all.delete(conn);
      closeQuietly(conn);
    });
  }

  /** Counts a relayed connection in flight; call the result when done. */
  track(conn: NetConn): () => void {
    this.#all.add(conn);
    this.#inFlight++;
    return () => {
      this.#inFlight--;
      this.#all.delete(conn);
    };
  }

  /** Closes every one. */
  closeAll(): void {
    for (const c of this.#all) closeQuietly(c);
  }
}
