/**
 * Where a head is found: the blank line that ends it (every LF after a
 * CR), within a size limit, in one chunk (no copy, the usual case) or
 * gathered across chunks in a buffer that grows to the limit at most.
 */

import { Http1Error } from "./head.ts";

/** No bytes: what a buffer at rest holds (shared, never written). */
const EMPTY = new Uint8Array(0);

/** See the module doc. */
export class HeadBuffer {
  #max: number;
  #buf = EMPTY;
  #len = 0;
  /** After a `read` that found the end: the head is `bytes[from, to)`. */
  bytes: Uint8Array = EMPTY;
  /** Where the head starts in `bytes`. */
  from = 0;
  /** Where it ends (after its blank line). */
  to = 0;

  /** A buffer for heads of at most `max` bytes. */
  constructor(max: number) {
    this.#max = max;
  }

  /**
   * The head found last is handled: its bytes are let go, and a buffer that
   * gathered it too (a head cut across chunks, rare), so that a connection
   * at rest holds none.
   */
  done(): void {
    this.bytes = this.#buf = EMPTY;
  }

  /** True when no part of a head is gathered. */
  get empty(): boolean {
    return this.#len === 0;
  }

  /**
   * Looks for the end of a head in `chunk[at, to)`: returns the offset just
   * after it (the head is then `bytes[from, to)`), or -1 when all of it was
   * taken and the head goes on. Throws {@linkcode Http1Error} (bare LF, 431).
   */
  read(chunk: Uint8Array, at: number, to: number): number {
    const len = this.#len;
    const buffered = this.#buf;
    let end = -1;
    // A plain loop: a typed array's indexOf is a call into the runtime,
    // several times dearer for the few bytes between two LFs.
    for (let i = at; i < to; i++) {
      if (chunk[i] !== 10) continue;
      const k = len + i - at; // this LF's offset in the whole head
      // The 3 bytes before it, from this chunk or the buffered start.
      const b1 = i - 1 >= at ? chunk[i - 1] : buffered[k - 1];
      if (k === 0 || b1 !== 13) throw new Http1Error("Bare LF in the head");
      if (k < 3) continue;
      const b2 = i - 2 >= at ? chunk[i - 2] : buffered[k - 2];
      const b3 = i - 3 >= at ? chunk[i - 3] : buffered[k - 3];
      if (b2 === 10 && b3 === 13) {
        end = i + 1;
        break;
      }
    }
    const take = end < 0 ? to - at : end - at;
    if (len + take > this.#max) {
      throw new Http1Error(`Head exceeds ${this.#max} bytes`, 431);
    }
    if (len === 0 && end >= 0) {
      this.bytes = chunk;
      this.from = at;
      this.to = end;
      return end;
    }
    if (this.#buf.length < len + take) {
      const bigger = new Uint8Array(
        Math.min(this.#max, Math.max(len + take, this.#buf.length * 2, 512)),
      );
      bigger.set(this.#buf.subarray(0, len));
      this.#buf = bigger;
    }
    this.#buf.set(chunk.subarray(at, at + take), len);
    this.#len = len + take;
    if (end < 0) return -1;
    this.bytes = this.#buf;
    this.from = 0;
    this.to = this.#len;
    this.#len = 0;
    return end;
  }
}
