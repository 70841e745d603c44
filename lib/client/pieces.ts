/**
 * What one push of the request filter gives the relay: pieces in order,
 * the last of them possibly a span of the input still growing (adjacent
 * spans of one buffer join, so a body of 1-byte chunks is one piece per
 * read). Between pushes it holds nothing.
 */

/** No pieces (shared; a push's own list is made when it starts). */
const NONE = Object.freeze([]) as unknown as Uint8Array[];

/** See the module doc. */
export class Pieces {
  /** This push's pieces (complete after {@linkcode Pieces.flush}). */
  list: Uint8Array[] = NONE;
  #of: Uint8Array | undefined;
  #from = 0;
  #to = 0;

  /** A new push: a new list. */
  start(): Uint8Array[] {
    this.#of = undefined;
    return this.list = [];
  }

  /** `b[from, to)` goes on as it is: joined to the span before it when adjacent. */
  span(b: Uint8Array, from: number, to: number): void {
    if (this.#of === b && this.#to === from) {
      this.#to = to;
      return;
    }
    this.flush();
    this.#of = b;
    this.#from = from;
    this.#to = to;
  }

  /** `piece` goes on after what came before. */
  add(piece: Uint8Array): void {
    this.flush();
    this.list.push(piece);
  }

  /** The growing span becomes a piece. */
  flush(): void {
    const b = this.#of;
    if (b && this.#to > this.#from) {
      this.list.push(b.subarray(this.#from, this.#to));
    }
    this.#of = undefined;
  }

  /** The relay wrote them: let them go. */
  clear(): void {
    this.list = NONE;
    this.#of = undefined;
  }
}
