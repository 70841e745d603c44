/**
 * One channel of a session: a byte stream each way with its own flow-control
 * window and half-close. The session owns the socket; a channel only turns
 * reads and writes into frames and frames into bytes.
 *
 * Receive side: payloads are copied out of the session's read buffer into a
 * queue, so a stalled reader holds at most the window it granted. Window is
 * granted back in batches of half the window as the reader consumes.
 * Send side: writes wait for the peer's window, split at the peer's max
 * packet, and each frame is awaited before the next so channels take turns
 * on the socket in FIFO order.
 */

import { ChannelClosedError, ProtocolError } from "./errors.ts";
import type { BufferBudget } from "./budget.ts";
import { Received } from "./received.ts";
import { release } from "../../net/mod.ts";
import { CopyingChannel, Signal } from "./channel_base.ts";
import { ReceiveWindow } from "./window.ts";
import {
  DATA_HEADER_SIZE,
  encodeRecipientOnly,
  encodeWindowAdjust,
  MSG_CLOSE,
  MSG_EOF,
  writeDataHeader,
} from "./frames.ts";

export { WRITE_PIECE } from "./channel_base.ts";

/**
 * A bidirectional byte stream inside a multiplexed session, shaped like a
 * `Deno.Conn`: `read`/`write`, `closeWrite` for half-close, `close`.
 */
export interface Channel {
  /** This side's channel number. */
  readonly id: number;
  /** Payload bytes received so far. */
  readonly bytesRead: number;
  /** Payload bytes sent so far. */
  readonly bytesWritten: number;
  /**
   * Reads into `p`; resolves to the byte count, or `null` at the peer's EOF or
   * CLOSE. Rejects with `SessionClosedError` when the session died, and with
   * `ChannelClosedError` when this side closed the channel before the call.
   */
  read(p: Uint8Array): Promise<number | null>;
  /**
   * Like `read`, but returns received bytes without copying them out: a view
   * that stays valid until the next `read`/`readChunk`/`close` of this channel
   * (its memory is then reused). At most `max` bytes when given.
   */
  readChunk(max?: number): Promise<Uint8Array | null>;
  /**
   * Like `readChunk`, but never waits: `undefined` when nothing is there
   * yet (then {@linkcode Channel.whenReadable}). Throws where `readChunk`
   * rejects.
   */
  poll(max?: number): Uint8Array | null | undefined;
  /**
   * Calls `wake` once, in a microtask, when `poll` may have something new
   * to say (bytes, EOF, close). One waiter at a time; a later call replaces
   * it. Nothing waits on the caller's behalf meanwhile: a reader at rest
   * costs this one reference.
   */
  whenReadable(wake: () => void): void;
  /**
   * Writes all of `p`, waiting for window as needed; resolves to `p.length`.
   * Rejects with `ChannelClosedError` after `closeWrite`/`close` or the peer's
   * CLOSE, and with `SessionClosedError` when the session died.
   */
  write(p: Uint8Array): Promise<number>;
  /**
   * Writes `length` payload bytes stored at `buf[9 .. 9+length)` without
   * copying: the first 9 bytes of `buf` are room for the frame header. `buf`
   * must stay untouched until the promise settles. With `level`, `buf` came
   * from the buffer pool at that level and goes back to it once written
   * (after a failure it is left to the GC).
   */
  writeFramed(buf: Uint8Array, length: number, level?: number): Promise<void>;
  /** Sends EOF after all pending writes: the peer reads `null`; reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes both directions; later calls to `read`/`write` reject. Idempotent. */
  close(): void;
  /** Resolves when CLOSE has gone both ways or the session ended. */
  readonly closed: Promise<void>;
}

/** What a channel needs from its session. */
export interface ChannelHost {
  /** Queues a control frame. */
  send(frame: Uint8Array): void;
  /** Queues a DATA frame; resolves once it was written to the socket. */
  sendData(frame: Uint8Array): Promise<void>;
  /** Where received bytes are counted until read. */
  readonly budget: BufferBudget;
}

/** The session's implementation of {@linkcode Channel}. */
export class MuxChannel extends CopyingChannel implements Channel {
  readonly id: number;
  remoteId = 0;
  bytesRead = 0;
  bytesWritten = 0;
  #host: ChannelHost;
  // Made when first asked for: most channels end without anyone waiting.
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #ended = false;

  // Receiving.
  #window: ReceiveWindow;
  #received = new Received(); // also counted in the host's budget
  #readable: Signal | undefined; // made when a read first waits
  #wake: (() => void) | null = null;

  // Sending.
  #remoteWindow = 0;
  #remoteMaxPacket = 0;
  #writable: Signal | undefined; // made when a write first waits
  // The writes in flight, in turn: the last one's settling, or undefined
  // when none is (a channel at rest holds no promise).
  #writeChain: Promise<unknown> | undefined;
  #writes = 0;
  #wrote = (): void => {
    if (--this.#writes === 0) this.#writeChain = undefined;
  };

  // States.
  #recvEOF = false;
  #recvClose = false;
  #sentEOF = false;
  #sentClose = false;
  #error: Error | null = null;

  constructor(
    host: ChannelHost,
    id: number,
    windowSize: number,
    maxPacket: number,
    maxWindow: number = windowSize,
  ) {
    super();
    this.#host = host;
    this.id = id;
    this.#window = new ReceiveWindow(windowSize, maxPacket, maxWindow);
  }

  /** Resolves when CLOSE has gone both ways or the session ended. */
  get closed(): Promise<void> {
    return this.#closed ??= this.#ended
      ? Promise.resolve()
      : new Promise((r) => this.#resolveClosed = r);
  }

  /** Sets what the peer told us in OPEN or OPEN_CONFIRM. */
  setRemote(remoteId: number, window: number, maxPacket: number): void {
    this.remoteId = remoteId;
    this.#remoteWindow = window;
    this.#remoteMaxPacket = maxPacket;
  }

  /** True once this side sent CLOSE: late frames from the peer are dropped. */
  get localClosed(): boolean {
    return this.#sentClose;
  }

  // ---- called by the session ----

  /** Checks a DATA header against the window and max packet we granted. */
  onDataHeader(length: number): void {
    if (this.#recvEOF || this.#recvClose) {
      throw new ProtocolError(`DATA after EOF on channel ${this.id}`);
    }
    this.#window.take(length, this.id);
  }

  /**
   * Queues payload. `chunk` is a view of the session's read buffer, so it is
   * copied: small pieces are appended to the last segment, big ones fill
   * pooled segments. Memory held is what the window allows, not more.
   */
  onData(chunk: Uint8Array): void {
    if (this.#sentClose) return;
    this.bytesRead += chunk.length;
    this.#host.budget.used += chunk.length;
    this.#received.push(chunk);
    this.#notifyReadable();
  }

  /** Drops everything queued (close, or the session died). */
  #dropAll(): void {
    this.#host.budget.used -= this.#received.drop();
  }

  onWindowAdjust(bytes: number): void {
    const next = this.#remoteWindow + bytes;
    if (next > 0xffffffff) {
      throw new ProtocolError(`Window overflow on channel ${this.id}`);
    }
    this.#remoteWindow = next;
    this.#writable?.notify();
  }

  onEOF(): void {
    this.#recvEOF = true;
    this.#notifyReadable();
  }

  onClose(): void {
    this.#recvClose = true;
    if (!this.#sentClose) {
      this.#sentClose = true;
      this.#host.send(encodeRecipientOnly(MSG_CLOSE, this.remoteId));
    }
    this.#finish();
  }

  /** The session ended: everything pending fails with `err`. */
  abort(err: Error): void {
    this.#error ??= err;
    this.#dropAll();
    this.#finish();
  }

  #finish(): void {
    this.#notifyReadable();
    this.#writable?.notify();
    this.#ended = true;
    this.#resolveClosed?.();
  }

  #notifyReadable(): void {
    this.#readable?.notify();
    const wake = this.#wake;
    if (wake) {
      this.#wake = null;
      queueMicrotask(wake);
    }
  }

  // ---- the public API ----

  poll(max = Infinity): Uint8Array | null | undefined {
    this.#received.returnLent();
    if (this.#error) throw this.#error;
    const out = this.#received.take(max);
    if (out) {
      this.#consumed(out.length);
      return out;
    }
    if (this.#sentClose && !this.#recvClose) {
      throw new ChannelClosedError("Cannot read: the channel is closed");
    }
    if (this.#recvEOF || this.#recvClose) return null;
    return undefined;
  }

  whenReadable(wake: () => void): void {
    this.#wake = wake;
  }

  async readChunk(max = Infinity): Promise<Uint8Array | null> {
    for (;;) {
      const out = this.poll(max);
      if (out !== undefined) return out;
      await (this.#readable ??= new Signal()).wait();
    }
  }

  protected returnLent(): void {
    this.#received.returnLent();
  }

  #consumed(n: number): void {
    const budget = this.#host.budget;
    budget.used -= n;
    // Nothing more comes after EOF or CLOSE: no window to grant back.
    if (this.#recvEOF || this.#recvClose || this.#sentClose) return;
    // Past the process's budget no window grows.
    const grant = this.#window.consumed(n, !budget.spent);
    if (grant > 0) this.#host.send(encodeWindowAdjust(this.remoteId, grant));
  }

  writeFramed(buf: Uint8Array, length: number, level?: number): Promise<void> {
    const before = this.#writeChain;
    const run = before
      ? before.then(() => this.#sendFramed(buf, length, level))
      : this.#sendFramed(buf, length, level);
    this.#writes++;
    this.#writeChain = run.then(this.#wrote, this.#wrote);
    return run;
  }

  async #sendFramed(
    buf: Uint8Array,
    length: number,
    level: number | undefined,
  ): Promise<void> {
    let off = 0;
    while (off < length) {
      this.#checkWritable();
      if (this.#remoteWindow === 0) {
        await (this.#writable ??= new Signal()).wait();
        continue;
      }
      const k = Math.min(
        length - off,
        this.#remoteWindow,
        this.#remoteMaxPacket,
      );
      // The header goes right before the unsent payload, over bytes already
      // sent (or the 9 reserved ones): one write, no copy.
      const frame = buf.subarray(off, off + DATA_HEADER_SIZE + k);
      writeDataHeader(frame, this.remoteId, k);
      this.#remoteWindow -= k;
      this.bytesWritten += k;
      await this.#host.sendData(frame);
      off += k;
    }
    // Written: the socket has it.
    if (level !== undefined) release(level, buf);
    this.#checkWritable();
  }

  #checkWritable(): void {
    if (this.#error) throw this.#error;
    if (this.#sentEOF || this.#sentClose) {
      throw new ChannelClosedError(
        "Cannot write: the channel is closed for writing",
      );
    }
    if (this.#recvClose) {
      throw new ChannelClosedError("Cannot write: the peer closed the channel");
    }
  }

  closeWrite(): Promise<void> {
    const run = (this.#writeChain ?? Promise.resolve()).then(() => {
      if (this.#sentEOF || this.#sentClose || this.#error) return;
      this.#sentEOF = true;
      this.#host.send(encodeRecipientOnly(MSG_EOF, this.remoteId));
    });
    this.#writes++;
    this.#writeChain = run.then(this.#wrote, this.#wrote);
    return run;
  }

  close(): void {
    if (!this.#sentClose && !this.#error) {
      this.#sentClose = true;
      this.#host.send(encodeRecipientOnly(MSG_CLOSE, this.remoteId));
    }
    this.#dropAll();
    this.#notifyReadable();
    this.#writable?.notify();
  }
}
