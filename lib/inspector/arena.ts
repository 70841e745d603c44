/**
 * Where captured bytes live: fixed blocks of {@linkcode BLOCK_SIZE}, filled
 * in turn and reused oldest first once the limit is reached. A capture holds
 * no bytes of its own, only pieces `(position, length, kind)` into the
 * arena: hundreds of captures then cost the garbage collector a few small
 * arrays, not hundreds of strings or buffers, and copying into a block is
 * all the relay's turn pays. A piece whose block was reused is gone; so is
 * its capture ({@linkcode CaptureArena.holds}).
 */

/** Bytes per block; a piece never straddles two. */
export const BLOCK_SIZE = 1024 * 1024;

/**
 * What a piece is: a head, or body bytes as they came (chunked framing
 * included: one piece however the body is chunked).
 */
export const PIECE = { HEAD: 0, BODY: 1 } as const;

/** The blocks; see the module doc. */
export class CaptureArena {
  readonly #max: number;
  #blocks: Uint8Array[] = [];
  #seq = -1;
  #used = BLOCK_SIZE;

  /** An arena of at most `maxBytes` (blocks are made as they fill). */
  constructor(maxBytes: number) {
    this.#max = Math.max(2, Math.ceil(maxBytes / BLOCK_SIZE));
  }

  /** Bytes of blocks made so far. */
  get size(): number {
    return this.#blocks.length * BLOCK_SIZE;
  }

  /**
   * Copies `b[from, to)` in, appending `(position, length, kind)` triples
   * to `pieces`.
   */
  write(
    b: Uint8Array,
    from: number,
    to: number,
    pieces: number[],
    kind: number,
  ): void {
    let off = from;
    while (off < to) {
      if (this.#used === BLOCK_SIZE) {
        this.#seq++;
        this.#used = 0;
        this.#blocks[this.#seq % this.#max] ??= new Uint8Array(BLOCK_SIZE);
      }
      const n = Math.min(to - off, BLOCK_SIZE - this.#used);
      this.#blocks[this.#seq % this.#max]!.set(
        off === 0 && n === b.length ? b : b.subarray(off, off + n),
        this.#used,
      );
      const pos = this.#seq * BLOCK_SIZE + this.#used;
      const k = pieces.length;
      // Right after the previous piece, same kind, same block: one piece.
      if (
        k >= 3 && pieces[k - 1] === kind && this.#used > 0 &&
        pieces[k - 3]! + pieces[k - 2]! === pos
      ) {
        pieces[k - 2]! += n;
      } else pieces.push(pos, n, kind);
      this.#used += n;
      off += n;
    }
  }

  /** The first position still held: pieces before it are gone. */
  get oldest(): number {
    return (this.#seq - this.#max + 1) * BLOCK_SIZE;
  }

  /** True while every piece's bytes are still here. */
  holds(pieces: number[]): boolean {
    const oldest = (this.#seq - this.#max + 1) * BLOCK_SIZE;
    for (let i = 0; i < pieces.length; i += 3) {
      if (pieces[i]! < oldest) return false;
    }
    return true;
  }

  /**
   * The pieces of the given kinds as latin1 text (one char per byte),
   * or undefined when some are gone.
   */
  text(pieces: number[], kinds: readonly number[]): string | undefined {
    if (!this.holds(pieces)) return undefined;
    let s = "";
    for (let i = 0; i < pieces.length; i += 3) {
      if (!kinds.includes(pieces[i + 2]!)) continue;
      const pos = pieces[i]!, len = pieces[i + 1]!;
      const block = this.#blocks[Math.floor(pos / BLOCK_SIZE) % this.#max]!;
      const start = pos % BLOCK_SIZE;
      for (let j = start; j < start + len; j += 8192) {
        s += String.fromCharCode.apply(
          null,
          block.subarray(
            j,
            Math.min(j + 8192, start + len),
          ) as unknown as number[],
        );
      }
    }
    return s;
  }
}
