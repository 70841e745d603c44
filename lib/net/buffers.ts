/**
 * Reusable byte buffers for relays and received data. Most connections move a
 * few kilobytes, so a relay starts small and grows only when reads fill its
 * buffer; freed buffers are kept (a bounded number per size) for the next
 * connection, so a burst of connections neither zeroes nor collects megabytes
 * each.
 *
 * The first size is 1 KiB: an idle connection (a read waiting for a next
 * request) holds that much, not more.
 *
 * Every buffer of a level has the same length, `SIZES[level] + HEADROOM`:
 * whoever released it, the next user gets exactly what it asks for.
 */

/** Usable sizes, smallest first: a relay grows through them. */
export const SIZES = [1024, 4 * 1024, 32 * 1024, 256 * 1024] as const;
/** Bytes in front of the usable part: room for a DATA header (relays). */
export const HEADROOM = 9;
/** Buffers kept per size: at most ~4 MiB of each size stays allocated. */
const KEEP = [4096, 1024, 128, 16];

const free: Uint8Array[][] = SIZES.map(() => []);

/** A buffer of `HEADROOM + SIZES[level]` bytes (contents undefined). */
export function acquire(level: number): Uint8Array {
  return free[level]!.pop() ?? new Uint8Array(HEADROOM + SIZES[level]!);
}

/** Returns a buffer from `acquire(level)` for reuse. */
export function release(level: number, buf: Uint8Array): void {
  const list = free[level]!;
  if (list.length < KEEP[level]!) list.push(buf);
}

/** The smallest level whose buffers hold `n` bytes; -1 if none does. */
export function levelFor(n: number): number {
  for (let level = 0; level < SIZES.length; level++) {
    if (SIZES[level]! >= n) return level;
  }
  return -1;
}

/**
 * The level of a reader's next buffer, after a read at `level` that
 * `filled` its buffer or not; `high` is the largest level it reached. A
 * full read moves up one (or, from a small wait, straight back to `high`);
 * one that is not full drained the socket, so the next, which may wait
 * long, waits in the smallest.
 */
export function nextLevel(
  level: number,
  high: number,
  filled: boolean,
): number {
  if (!filled) return 0;
  return level === 0 && high > 0 ? high : Math.min(level + 1, SIZES.length - 1);
}

/**
 * A read buffer from the pool that starts at the smallest size and moves up
 * one whenever a read fills it: an idle reader holds 1 KiB, a bulk one
 * reads in big pieces. A read that does not fill it drained the socket, and
 * the next may wait long (a connection at rest after a transfer): that one
 * waits in the smallest size, and if it fills, the size reached before comes
 * straight back. Read into `buf`; call `read(n)` once done with the bytes;
 * `release()` at the end.
 */
export class GrowingBuffer {
  #level = 0;
  #high = 0;
  /** The buffer to read into now. */
  buf: Uint8Array = acquire(0);

  /** A read of `n` bytes is done with: the buffer for the next read. */
  read(n: number): void {
    const level = this.#level;
    const next = nextLevel(level, this.#high, n === this.buf.length);
    if (next > this.#high) this.#high = next;
    if (next === level) return;
    release(level, this.buf);
    this.buf = acquire(next);
    this.#level = next;
  }

  /** Gives the buffer back to the pool. */
  release(): void {
    release(this.#level, this.buf);
  }
}
