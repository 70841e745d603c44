/**
 * The relay: joins a socket and a channel until both directions are done.
 *
 * EOF travels both ways (socket EOF → channel EOF → the other socket's write
 * side shut), so half-closed and close-delimited exchanges work. Any error
 * tears down both sides: a cut-off transfer must look cut off, never complete.
 * Read loops, not `conn.readable`: Deno closes the whole socket once
 * `readable` sees EOF, which would break half-close.
 */

import type { Channel } from "./mux/channel.ts";
import { DATA_HEADER_SIZE } from "./mux/frames.ts";
import { ChannelClosedError } from "./mux/errors.ts";
import {
  acquire,
  type ByteConn,
  closeQuietly,
  release,
  SIZES,
  writeAll,
} from "../net/mod.ts";

/** What the relay does with a chunk from the visitor. */
export interface InboundResult {
  /** Bytes for the local app, in order (views; write before the next push). */
  out: Uint8Array[];
  /** If set: forward nothing more; answer the visitor with this and close. */
  reply?: Uint8Array;
  /**
   * If set: the rest of the chunk waits for the app's answer; once this
   * resolves, {@linkcode InboundFilter.resume} hands on what follows.
   * Until then the relay reads nothing more from the visitor.
   */
  hold?: Promise<void>;
}

/** A transform of the visitor-to-app bytes, as the relay uses it. */
export interface InboundFilter {
  /** Takes the next chunk. */
  push(chunk: Uint8Array): InboundResult;
  /** After a hold: what the held rest of the chunk gives. */
  resume?(): InboundResult;
  /** The app's bytes `b[from, to)`, on their way to the visitor. */
  fromApp?(b: Uint8Array, from: number, to: number): void;
  /** The app sent its last byte. */
  appEnded?(): void;
  /** What the last push (and its resumes) gave is written: its pieces are free. */
  written?(): void;
}

/** What the relay shows a watcher (the inspector's tap): views, never waited on. */
export interface RelayTap {
  /** Bytes from the channel's side (the visitor), before any filter. */
  fromVisitor(chunk: Uint8Array): void;
  /** Bytes from the socket's side (the app): `bytes[from, to)`. */
  fromApp(bytes: Uint8Array, from: number, to: number): void;
  /** Both ways are done. */
  end(): void;
}

/** How long a refused visitor's answer waits for the app to finish earlier answers (ms). */
export const REPLY_WAIT = 5_000;

/**
 * Relays between `conn` and `channel` (sending `first` into the channel
 * before anything read from `conn`), then closes both. With `filter`, what
 * comes from the channel passes through it on the way to `conn`; when it
 * refuses, `conn` gets EOF, and once the app has sent what it still had
 * (or after {@linkcode REPLY_WAIT}), the refusal goes back on the channel.
 */
export async function relay(
  conn: ByteConn,
  channel: Channel,
  first?: Uint8Array,
  filter?: InboundFilter,
  tap?: RelayTap,
): Promise<void> {
  // A watcher that throws is dropped: relaying never depends on it.
  const tapVisitor = (bytes: Uint8Array) => {
    try {
      tap?.fromVisitor(bytes);
    } catch {
      tap = undefined;
    }
  };
  // The app's chunk the watcher is still to see (one at most: see below),
  // as a buffer and a length: no view is made for it.
  let appSeen: Uint8Array | undefined;
  let appSeenLength = 0;
  const tapAppSeen = () => {
    const seen = appSeen;
    appSeen = undefined;
    try {
      if (seen) {
        tap?.fromApp(seen, DATA_HEADER_SIZE, DATA_HEADER_SIZE + appSeenLength);
      }
    } catch {
      tap = undefined;
    }
  };
  let reply: Uint8Array | undefined;
  // Both are idempotent, so either direction may tear down.
  const teardown = () => {
    closeQuietly(conn);
    channel.close();
  };
  const toChannel = (async () => {
    // A buffer from the pool for each read, back to the pool once its write
    // is done: one is read into while the last is written, and a connection
    // at rest holds only the one its read waits in. They start small and
    // grow when a read fills one (a bulk transfer).
    let level = 0, bufAt = 0;
    let buf: Uint8Array | undefined;
    let writing: Promise<void> = Promise.resolve();
    try {
      if (first && first.length) {
        await channel.write(first);
      }
      for (;;) {
        const at = bufAt = level;
        const b = buf = acquire(at);
        const n = await conn.read(b.subarray(DATA_HEADER_SIZE));
        await writing;
        if (n === null) break;
        buf = undefined;
        writing = channel.writeFramed(b, n).then(() => release(at, b));
        // The filter looks for the answer to an upgrade (after the write
        // has started; it only reads).
        filter?.fromApp?.(b, DATA_HEADER_SIZE, DATA_HEADER_SIZE + n);
        // After the write has started (the session writes in a microtask
        // queued just now): the watcher is never in the bytes' path. `b`
        // goes back to the pool only once this write is done.
        if (tap) {
          // At most one chunk waits: the next read ends after the microtask.
          appSeen = b;
          appSeenLength = n;
          queueMicrotask(tapAppSeen);
        }
        // Awaited on the next turn; until then a rejection must not count as
        // unhandled (Deno would end the process).
        writing.catch(() => {});
        if (n === SIZES[level] && level < SIZES.length - 1) level++;
      }
      filter?.appEnded?.();
      // A refusal still to send: it goes after the app's last bytes.
      if (!reply) await channel.closeWrite();
    } catch (err) {
      filter?.appEnded?.();
      await writing.catch(() => {});
      // The peer closed the channel: it wants no more; the other way may go on.
      if (err instanceof ChannelClosedError) return;
      teardown();
    } finally {
      // The one a read waited in (no write uses it).
      if (buf) release(bufAt, buf);
    }
  })();
  const toConn = (async () => {
    try {
      for (;;) {
        const chunk = await channel.readChunk();
        if (chunk === null) break;
        if (!filter) {
          // With a filter, the tap hears the filter's parse instead. After
          // the write below has started (microtasks run at its await).
          if (tap) tapVisitor(chunk);
          let off = 0;
          while (off < chunk.length) {
            off += await conn.write(chunk.subarray(off));
          }
          continue;
        }
        let r = filter.push(chunk);
        for (;;) {
          for (const piece of r.out) await writeAll(conn, piece);
          if (r.reply || !r.hold) break;
          // The rest waits for the app's answer (the chunk's view stays
          // valid: nothing more is read from the channel meanwhile), or
          // for the visitor to leave (then the rest goes nowhere).
          await Promise.race([r.hold, channel.closed]);
          r = filter.resume!();
        }
        filter.written?.();
        if (r.reply) {
          reply = r.reply;
          break;
        }
      }
      await conn.closeWrite();
      if (reply) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          toChannel,
          new Promise((r) => timer = setTimeout(r, REPLY_WAIT)),
        ]);
        clearTimeout(timer);
        await channel.write(reply);
        await channel.closeWrite();
        teardown();
      }
    } catch {
      teardown();
    }
  })();
  // Done when both ways are done, or when the peer closed the channel and
  // everything it sent was delivered (nothing more can go either way).
  await Promise.race([
    Promise.all([toChannel, toConn]),
    Promise.all([channel.closed, toConn]),
  ]);
  closeQuietly(conn);
  channel.close();
  await Promise.allSettled([toChannel, toConn]);
  try {
    tap?.end();
  } catch { /* a watcher's failure is its own */ }
}
