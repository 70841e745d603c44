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
  levelFor,
  nextLevel,
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

/** Swallows a rejection that is awaited later (no closure per chunk). */
const IGNORE = () => {};

/** How long a refused visitor's answer waits for the app to finish earlier answers (ms). */
export const REPLY_WAIT = 5_000;

/**
 * Relays between `conn` and `channel` (sending `first` into the channel
 * before anything read from `conn`), then closes both. With `filter`, what
 * comes from the channel passes through it on the way to `conn`; when it
 * refuses, `conn` gets EOF, and once the app has sent what it still had
 * (or after {@linkcode REPLY_WAIT}), the refusal goes back on the channel.
 */
export function relay(
  conn: ByteConn,
  channel: Channel,
  first?: Uint8Array,
  filter?: InboundFilter,
  tap?: RelayTap,
): Promise<void> {
  return new Promise((done) =>
    new Relay(conn, channel, filter, tap, done).start(first)
  );
}

/**
 * One relay's state. A connection at rest costs what it holds, not a stack
 * of waiting calls: the socket-to-channel way is one loop waiting in its
 * read; the channel-to-socket way runs only while the channel has bytes,
 * and otherwise leaves a wake-up with the channel.
 */
class Relay {
  #conn: ByteConn;
  #channel: Channel;
  #filter: InboundFilter | undefined;
  #tap: RelayTap | undefined;
  #done: () => void;
  #reply: Uint8Array | undefined;
  /** The socket-to-channel loop, for a refusal to wait on. */
  #toChannel: Promise<void> | undefined;
  #inDone = false;
  #outDone = false;
  #closedBoth = false;
  #channelClosed = false;
  #watchingClose = false;
  #ended = false;
  // The app's chunk the watcher is still to see (one at most: see below),
  // as a buffer and a length: no view is made for it.
  #appSeen: Uint8Array | undefined;
  #appSeenLength = 0;
  #wakeToConn = () => this.#runToConn();

  constructor(
    conn: ByteConn,
    channel: Channel,
    filter: InboundFilter | undefined,
    tap: RelayTap | undefined,
    done: () => void,
  ) {
    this.#conn = conn;
    this.#channel = channel;
    this.#filter = filter;
    this.#tap = tap;
    this.#done = done;
    if (tap) this.#tapAppSeen = () => this.#showAppSeen();
  }

  start(first: Uint8Array | undefined): void {
    this.#toChannel = this.#runToChannel(first);
    this.#runToConn();
  }

  /** Either direction may tear down: both closes are idempotent. */
  #teardown(): void {
    closeQuietly(this.#conn);
    this.#channel.close();
  }

  // A watcher that throws is dropped: relaying never depends on it.
  #tapVisitor(bytes: Uint8Array): void {
    try {
      this.#tap?.fromVisitor(bytes);
    } catch {
      this.#tap = undefined;
    }
  }

  /**
   * Shows the watcher the app's chunk (in a microtask after its write
   * began); made only for a relay with a watcher.
   */
  #tapAppSeen: (() => void) | undefined;
  #showAppSeen(): void {
    const seen = this.#appSeen;
    this.#appSeen = undefined;
    try {
      if (seen) {
        this.#tap?.fromApp(
          seen,
          DATA_HEADER_SIZE,
          DATA_HEADER_SIZE + this.#appSeenLength,
        );
      }
    } catch {
      this.#tap = undefined;
    }
  }

  async #runToChannel(first: Uint8Array | undefined): Promise<void> {
    const conn = this.#conn, channel = this.#channel;
    // A buffer from the pool for each read, back to the pool once its write
    // is done: one is read into while the last is written, and a connection
    // at rest holds only the one its read waits in. Sized as a
    // GrowingBuffer is (nextLevel): small at rest, big in a transfer.
    let level = 0, high = 0, bufAt = 0;
    let buf: Uint8Array | undefined;
    let writing: Promise<void> | undefined;
    try {
      if (first && first.length) {
        const size = first.length;
        const at = levelFor(size);
        if (at < 0) await channel.write(first);
        else {
          // Framed in a pooled buffer: nothing is allocated per connection.
          const b = acquire(at);
          b.set(first, DATA_HEADER_SIZE);
          await channel.writeFramed(b, size, at);
        }
        // Not kept for the connection's life (this call's frame would).
        first = undefined;
      }
      for (;;) {
        const at = bufAt = level;
        const b = buf = acquire(at);
        const n = await conn.read(b.subarray(DATA_HEADER_SIZE));
        if (writing) await writing;
        if (n === null) break;
        buf = undefined;
        // Back to the pool once written (the channel gives it back).
        writing = channel.writeFramed(b, n, at);
        // The filter looks for the answer to an upgrade (after the write
        // has started; it only reads).
        this.#filter?.fromApp?.(b, DATA_HEADER_SIZE, DATA_HEADER_SIZE + n);
        // After the write has started (the session writes in a microtask
        // queued just now): the watcher is never in the bytes' path. `b`
        // goes back to the pool only once this write is done.
        if (this.#tap) {
          // At most one chunk waits: the next read ends after the microtask.
          this.#appSeen = b;
          this.#appSeenLength = n;
          queueMicrotask(this.#tapAppSeen!);
        }
        // Awaited on the next turn; until then a rejection must not count as
        // unhandled (Deno would end the process).
        writing.catch(IGNORE);
        level = nextLevel(at, high, n === SIZES[at]);
        if (level > high) high = level;
      }
      this.#filter?.appEnded?.();
      // A refusal still to send: it goes after the app's last bytes.
      if (!this.#reply) await channel.closeWrite();
    } catch (err) {
      this.#filter?.appEnded?.();
      await writing?.catch(() => {});
      // The peer closed the channel: it wants no more; the other way may
      // go on.
      if (!(err instanceof ChannelClosedError)) this.#teardown();
    } finally {
      // The one a read waited in (no write uses it).
      if (buf) release(bufAt, buf);
      this.#inDone = true;
      this.#check();
    }
  }

  /**
   * The channel-to-socket way, while the channel has bytes: once it has
   * none, it returns and the channel wakes it again.
   */
  async #runToConn(): Promise<void> {
    const conn = this.#conn, channel = this.#channel, filter = this.#filter;
    try {
      for (;;) {
        const chunk = channel.poll();
        if (chunk === undefined) {
          channel.whenReadable(this.#wakeToConn);
          return;
        }
        if (chunk === null) break;
        if (!filter) {
          // With a filter, the tap hears the filter's parse instead. After
          // the write below has started (microtasks run at its await).
          if (this.#tap) this.#tapVisitor(chunk);
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
          this.#reply = r.reply;
          break;
        }
      }
      await conn.closeWrite();
      if (this.#reply) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          this.#toChannel,
          new Promise((r) => timer = setTimeout(r, REPLY_WAIT)),
        ]);
        clearTimeout(timer);
        await channel.write(this.#reply);
        await channel.closeWrite();
        this.#teardown();
      }
    } catch {
      this.#teardown();
    }
    this.#outDone = true;
    this.#check();
  }

  /**
   * Done when both ways are done, or when the peer closed the channel and
   * everything it sent was delivered (nothing more can go either way):
   * then both are closed, and once the socket's way has ended too, the
   * watcher hears the end.
   */
  #check(): void {
    if (!this.#outDone) return;
    if (!this.#inDone && !this.#channelClosed) {
      if (!this.#watchingClose) {
        this.#watchingClose = true;
        this.#channel.closed.then(() => {
          this.#channelClosed = true;
          this.#check();
        });
      }
      return;
    }
    if (!this.#closedBoth) {
      this.#closedBoth = true;
      closeQuietly(this.#conn);
      this.#channel.close();
    }
    if (!this.#inDone || this.#ended) return;
    this.#ended = true;
    try {
      this.#tap?.end();
    } catch { /* a watcher's failure is its own */ }
    this.#done();
  }
}
