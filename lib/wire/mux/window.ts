/**
 * A channel's receive window: what the peer may still send, checked on
 * every DATA header, and what is granted back as the reader consumes (in
 * batches of half the window; a reader that keeps up earns a window that
 * doubles up to its maximum).
 */

import { ProtocolError } from "./errors.ts";

/** See the module doc. */
export class ReceiveWindow {
  /** Granted now; grows toward the maximum as data is read. */
  #size: number;
  #max: number;
  #maxPacket: number;
  /** What the peer may still send. */
  #left: number;
  /** Consumed but not yet granted back. */
  #unacked = 0;

  /** A window of `size` bytes that may grow to `max`, for DATA of at most `maxPacket`. */
  constructor(size: number, maxPacket: number, max: number) {
    this.#size = size;
    this.#max = Math.max(size, max);
    this.#maxPacket = maxPacket;
    this.#left = size;
  }

  /** Takes a DATA frame of `length` bytes on channel `id`, or throws. */
  take(length: number, id: number): void {
    if (length > this.#maxPacket) {
      throw new ProtocolError(
        `DATA of ${length} bytes exceeds max packet ${this.#maxPacket} on channel ${id}`,
      );
    }
    if (length > this.#left) {
      throw new ProtocolError(
        `DATA of ${length} bytes exceeds window ${this.#left} on channel ${id}`,
      );
    }
    this.#left -= length;
  }

  /**
   * The reader consumed `n` bytes: the grant to send now (0: none yet).
   * With `grow` false (past the process's budget) the window stays its size.
   */
  consumed(n: number, grow: boolean): number {
    this.#unacked += n;
    if (this.#unacked < this.#size / 2) return 0;
    // One that stalls never gets here and holds only what it has.
    const growth = grow ? Math.min(this.#size, this.#max - this.#size) : 0;
    this.#size += growth;
    const grant = this.#unacked + growth;
    this.#left += grant;
    this.#unacked = 0;
    return grant;
  }
}
