/**
 * A channel's received bytes, waiting for its reader: copied out of the
 * session's read buffer into pooled segments (small pieces appended to the
 * last one), and handed to the reader as views that stay valid until its
 * next read. Counted, so the channel can give the count back to the
 * process's budget.
 */

import { acquire, levelFor, release, SIZES } from "../../net/mod.ts";

/** Received bytes `buf[start .. end)` in a pooled buffer of `level`. */
interface Segment {
  buf: Uint8Array;
  level: number;
  start: number;
  end: number;
}

/** See the module doc. */
export class Received {
  #segs: Segment[] = [];
  #lent: Segment | null = null; // the last view came from it; see returnLent
  /** Bytes queued and not yet taken. */
  size = 0;

  /** Copies `chunk` in (it is a view of someone else's buffer). */
  push(chunk: Uint8Array): void {
    this.size += chunk.length;
    let off = 0;
    const tail = this.#segs[this.#segs.length - 1];
    if (tail && tail.end < tail.buf.length) {
      off = Math.min(chunk.length, tail.buf.length - tail.end);
      tail.buf.set(chunk.subarray(0, off), tail.end);
      tail.end += off;
    }
    while (off < chunk.length) {
      const left = chunk.length - off;
      const found = levelFor(left);
      const level = found < 0 ? SIZES.length - 1 : found;
      const buf = acquire(level); // its headroom is simply more room here
      const end = Math.min(left, buf.length);
      buf.set(chunk.subarray(off, off + end));
      off += end;
      this.#segs.push({ buf, level, start: 0, end });
    }
  }

  /**
   * The next bytes, at most `max`, as a view lent until the next
   * `take`/`returnLent`/`drop`; undefined when nothing waits.
   */
  take(max: number): Uint8Array | undefined {
    const seg = this.#segs[0];
    if (!seg) return undefined;
    const n = Math.min(seg.end - seg.start, max);
    const out = seg.buf.subarray(seg.start, seg.start + n);
    seg.start += n;
    // Lent until the next call; once read to the end it leaves the
    // queue, so nothing more is appended to it.
    this.#lent = seg;
    if (seg.start === seg.end) this.#segs.shift();
    this.size -= n;
    return out;
  }

  /**
   * The reader is done with its last view: pool that view's segment if it
   * was read to the end (else it stays queued).
   */
  returnLent(): void {
    const seg = this.#lent;
    if (seg && seg !== this.#segs[0]) release(seg.level, seg.buf);
    this.#lent = null;
  }

  /**
   * Drops everything queued; returns how many bytes that was. A segment the
   * reader holds a view of is left to the GC, never pooled: the reader may
   * still be writing that view to a socket, and a pooled buffer could be
   * refilled with another channel's bytes under it.
   */
  drop(): number {
    for (const seg of this.#segs) {
      if (seg !== this.#lent) release(seg.level, seg.buf);
    }
    this.#segs = [];
    this.#lent = null;
    const dropped = this.size;
    this.size = 0;
    return dropped;
  }
}
