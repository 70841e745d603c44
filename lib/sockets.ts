/**
 * Closing sockets exactly once. Several owners may close one socket (the
 * relay, the connection handler, a session); a second `close()` throws
 * `BadResource`, and building that error on every connection is measurable,
 * so closes are remembered instead of caught.
 */

const closed = new WeakSet<object>();

/** Closes `conn` unless this module already closed it; never throws. */
export function closeQuietly(conn: { close(): void }): void {
  if (closed.has(conn)) return;
  closed.add(conn);
  try {
    conn.close();
  } catch { /* closed elsewhere */ }
}
