/**
 * Closing sockets exactly once. Several owners may close one socket (the
 * relay, the connection handler, a session); a second `close()` throws
 * `BadResource`, and building that error on every connection is measurable,
 * so closes are remembered instead of caught.
 */

import { Deadline, TIMED_OUT } from "./deadline.ts";

const closed = new WeakSet<object>();

/** Closes `conn` unless this module already closed it; never throws. */
export function closeQuietly(conn: { close(): void }): void {
  if (closed.has(conn)) return;
  closed.add(conn);
  try {
    conn.close();
  } catch { /* closed elsewhere */ }
}

/**
 * A byte stream both ways with half-close: all that relaying, peeking,
 * hopping and dialing need of a connection (TCP, TLS, a peeked one).
 */
export interface ByteConn {
  /** Reads into `p`; `null` at EOF. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`. */
  write(p: Uint8Array): Promise<number>;
  /** Shuts the write side. */
  closeWrite(): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** A connection as the server handles it: a TCP socket or a TLS-terminated one. */
export interface NetConn extends ByteConn {
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** Our address. */
  readonly localAddr: Deno.NetAddr;
  /** Disables Nagle's algorithm. */
  setNoDelay(on?: boolean): void;
  /** Turns TCP keepalive on. */
  setKeepAlive(on?: boolean): void;
}

/** How long an error page's connection is drained before closing (ms). */
export const ANSWER_LINGER = 1000;

/** Writes all of `p`. */
export async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  p: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < p.length) off += await conn.write(p.subarray(off));
}

/**
 * Writes a whole answer, shuts the write side, and drains what the client
 * still sends for a moment: closing with unread input would reset the
 * connection and could destroy the answer before the client reads it.
 */
export async function answer(
  conn: {
    write(p: Uint8Array): Promise<number>;
    read(p: Uint8Array): Promise<number | null>;
    closeWrite(): Promise<void>;
  },
  bytes: Uint8Array,
): Promise<void> {
  try {
    await writeAll(conn, bytes);
    await conn.closeWrite();
    const sink = new Uint8Array(16 * 1024);
    const deadline = new Deadline(ANSWER_LINGER);
    try {
      for (;;) {
        const n = await deadline.read(conn, sink);
        if (n === null || n === TIMED_OUT) break;
      }
    } finally {
      deadline.clear();
    }
  } catch {
    // The client is gone; nothing to answer.
  }
}
