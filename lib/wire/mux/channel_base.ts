/**
 * What a channel is built on: a signal that can be awaited again and again,
 * and the copying `read` and `write` of any channel, made of its own
 * `readChunk` and `writeFramed`.
 */

import { DATA_HEADER_SIZE } from "./frames.ts";

/** Largest piece {@linkcode CopyingChannel.write} copies into a frame at a time. */
export const WRITE_PIECE = 256 * 1024;

/** A promise that can be awaited repeatedly and woken from outside. */
export class Signal {
  #wake: (() => void) | null = null;
  #promise: Promise<void> | null = null;
  wait(): Promise<void> {
    return this.#promise ??= new Promise<void>((r) => this.#wake = r);
  }
  notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    this.#promise = null;
    wake?.();
  }
}

/**
 * The copying `read` and `write` of a channel, in terms of its own
 * `readChunk` and `writeFramed`.
 */
export abstract class CopyingChannel {
  abstract readChunk(max?: number): Promise<Uint8Array | null>;
  abstract writeFramed(buf: Uint8Array, length: number): Promise<void>;
  /** The reader is done with the last view `readChunk` lent. */
  protected abstract returnLent(): void;

  async read(p: Uint8Array): Promise<number | null> {
    const chunk = await this.readChunk(p.length);
    if (chunk === null) return null;
    p.set(chunk);
    this.returnLent();
    return chunk.length;
  }

  /**
   * Writes all of `p` through one framing buffer of at most
   * {@linkcode WRITE_PIECE} bytes: a big write costs a piece of memory, not
   * a copy of itself. (Relays use `writeFramed` and copy nothing.)
   */
  async write(p: Uint8Array): Promise<number> {
    const frame = new Uint8Array(
      DATA_HEADER_SIZE + Math.min(p.length, WRITE_PIECE),
    );
    let off = 0;
    do {
      const n = Math.min(WRITE_PIECE, p.length - off);
      frame.set(p.subarray(off, off + n), DATA_HEADER_SIZE);
      await this.writeFramed(frame, n);
      off += n;
    } while (off < p.length);
    return p.length;
  }
}
