/**
 * What the server counts as it works, for its metrics: plain numbers the
 * core adds to (an add per connection, not per byte), read when someone
 * scrapes. Bytes are counted by the sessions already; a tunnel's are added
 * here when it ends.
 */

import { Histogram } from "../metrics/mod.ts";
import type { ByteConn } from "../net/mod.ts";

/** What became of a public connection. */
export type Outcome =
  /** Relayed to a tunnel of this node. */
  | "routed"
  /** No tunnel has the name (404, or a TLS alert). */
  | "not_found"
  /** Unreadable, too slow, too large or misdirected (400/408/421/431). */
  | "bad_request"
  /** Refused by a limit or a visitor list (403/503). */
  | "refused"
  /** The tunnel's client did not take it (502). */
  | "bad_gateway"
  /** Sent to the node that holds the tunnel. */
  | "elsewhere"
  /** Redirected to https (308). */
  | "redirected"
  /** For the control endpoint (a client, or the server's own page). */
  | "control"
  /** Too many new connections (429, `--rate-limit`). */
  | "rate_limited"
  /** Shown the warning page first (`--browser-warning`). */
  | "warned";

/** Every outcome, in the order metrics list them. */
export const OUTCOMES: readonly Outcome[] = [
  "routed",
  "not_found",
  "bad_request",
  "refused",
  "bad_gateway",
  "elsewhere",
  "redirected",
  "control",
  "rate_limited",
  "warned",
];

/** See the module doc. */
export class ServerStats {
  /** Public connections by outcome, since start. */
  readonly outcomes: Record<Outcome, number> = Object.fromEntries(
    OUTCOMES.map((o) => [o, 0]),
  ) as Record<Outcome, number>;
  /** Tunnels started since start. */
  tunnelsStarted = 0;
  /** Tunnel clients refused at the handshake since start. */
  tunnelsRefused = 0;
  /** Bytes from the clients of tunnels that ended. */
  endedBytesIn = 0;
  /** Bytes to the clients of tunnels that ended. */
  endedBytesOut = 0;
  /** Seconds from a control request's head to the tunnel's start. */
  readonly handshake: Histogram = new Histogram([
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1,
    5,
  ]);
  /** Seconds to open a channel to the client for a public connection. */
  readonly channelOpen: Histogram = new Histogram([
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
    1,
  ]);

  /**
   * Seconds from opening a public connection's channel to the first byte
   * back to its visitor: the tunnel's, the client's and the app's time.
   */
  readonly firstByte: Histogram = new Histogram([
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    10,
  ]);

  /**
   * The first answer on each public HTTP connection, by status class: its
   * head is the first bytes back, read as they pass. Later answers on a
   * keep-alive connection are not read (the data path stays bytes).
   */
  readonly responses: Record<StatusClass, number> = {
    "1xx": 0,
    "2xx": 0,
    "3xx": 0,
    "4xx": 0,
    "5xx": 0,
  };

  /**
   * `conn`, whose first write (the first byte back to the visitor) is
   * timed from `since` (a `performance.now()`) into `firstByte` and, when
   * it is `http`, read for its status class.
   */
  timeFirstByte(conn: ByteConn, since: number, http: boolean): ByteConn {
    return new FirstByteConn(conn, this, since, http);
  }

  /** Counts one public connection's outcome. */
  count(outcome: Outcome): void {
    this.outcomes[outcome]++;
  }
}

/** A status class of HTTP answers. */
export type StatusClass = "1xx" | "2xx" | "3xx" | "4xx" | "5xx";

const CLASSES: readonly StatusClass[] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/** The class of the status line `bytes` start with (`HTTP/1.x NNN`), if they do. */
export function statusClass(bytes: Uint8Array): StatusClass | undefined {
  // "HTTP/1." then a digit, a space and the status's first digit.
  if (
    bytes.length < 12 || bytes[0] !== 0x48 || bytes[4] !== 0x2f ||
    bytes[8] !== 0x20 ||
    String.fromCharCode(...bytes.subarray(0, 7)) !== "HTTP/1."
  ) return undefined;
  return CLASSES[bytes[9]! - 0x31];
}

/**
 * A visitor's connection whose first write is observed (see
 * {@linkcode ServerStats.timeFirstByte}): one object with its methods on
 * the prototype, and a check per write, not a closure per method.
 */
class FirstByteConn implements ByteConn {
  #conn: ByteConn;
  #stats: ServerStats | undefined;
  #since: number;
  #http: boolean;

  constructor(
    conn: ByteConn,
    stats: ServerStats,
    since: number,
    http: boolean,
  ) {
    this.#conn = conn;
    this.#stats = stats;
    this.#since = since;
    this.#http = http;
  }

  read(p: Uint8Array): Promise<number | null> {
    return this.#conn.read(p);
  }

  write(p: Uint8Array): Promise<number> {
    const stats = this.#stats;
    if (stats) {
      this.#stats = undefined;
      stats.firstByte.observe((performance.now() - this.#since) / 1000);
      const kind = this.#http ? statusClass(p) : undefined;
      if (kind) stats.responses[kind]++;
    }
    return this.#conn.write(p);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    this.#conn.close();
  }
}
