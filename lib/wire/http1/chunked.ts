/**
 * Chunked framing's lines (RFC 9112 §7.1): chunk-size lines read from the
 * bytes (hex digits, optional whitespace and extensions, CR LF; no text is
 * made, so a body of tiny chunks costs no more than its bytes) and the
 * trailer lines after the last chunk. Each call takes what it can of one
 * line and says where it stopped; {@linkcode ChunkedBody} reads a whole
 * body with them.
 */

import { BAD_VALUE, Http1Error, IS_BAD, MAX_CHUNK_LINE } from "./head.ts";
import { HEX } from "./framing.ts";

/** Where a chunked body's bytes go: data, or framing (`data` false). */
export type ChunkSink = {
  body(b: Uint8Array, from: number, to: number, data: boolean): void;
};

/**
 * One chunked body at a time: sizes, data, the CR LF after each chunk and
 * the trailers, cut anywhere. {@linkcode ChunkedBody.read} hands every byte
 * on, in order, and says when the body ended.
 */
export class ChunkedBody {
  /** After a read: the body ended (its blank trailer line was read). */
  ended = false;
  #phase: "size" | "data" | "crlf" | "trailers" = "size";
  #left = 0;
  #lines = new ChunkLines();
  #maxTrailers: number;

  /** A reader whose trailers may take `maxTrailers` bytes. */
  constructor(maxTrailers: number) {
    this.#maxTrailers = maxTrailers;
  }

  /** Starts the next body. */
  reset(): void {
    this.ended = false;
    this.#phase = "size";
  }

  /** Reads `b[at, to)` into `sink` until the body ends; returns where it stopped. */
  read(b: Uint8Array, at: number, to: number, sink: ChunkSink): number {
    const lines = this.#lines;
    while (at < to && !this.ended) {
      const start = at;
      switch (this.#phase) {
        case "size":
          at = lines.readSize(b, at, to);
          sink.body(b, start, at, false);
          if (!lines.done) break;
          this.#left = lines.size;
          this.#phase = lines.size === 0 ? "trailers" : "data";
          break;
        case "data":
          at = Math.min(to, at + this.#left);
          sink.body(b, start, at, true);
          this.#left -= at - start;
          if (this.#left === 0) {
            this.#phase = "crlf";
            this.#left = 2;
          }
          break;
        case "crlf":
          for (; this.#left > 0 && at < to; at++, this.#left--) {
            if (b[at] !== (this.#left === 2 ? 13 : 10)) {
              throw new Http1Error("Chunk data not followed by CRLF");
            }
          }
          sink.body(b, start, at, false);
          if (this.#left === 0) this.#phase = "size";
          break;
        case "trailers":
          at = lines.readTrailer(b, at, to, this.#maxTrailers);
          sink.body(b, start, at, false);
          this.ended = lines.done && lines.blank;
      }
    }
    return at;
  }
}

/** One chunked body's line reader (reset by itself after each line). */
export class ChunkLines {
  /** After a call: the line ended (a size was read, or a trailer line). */
  done = false;
  /** After a size line: the chunk's size (0: the last chunk). */
  size = 0;
  /** After a trailer line: it was the blank one that ends the message. */
  blank = false;
  #digits = 0;
  #length = 0;
  #cr = false;
  #spaced = false;
  #inExt = false;
  #line = "";

  /** Reads a chunk-size line from `b[at, to)`; returns where it stopped. */
  readSize(b: Uint8Array, at: number, to: number): number {
    if (this.done) this.#reset();
    while (at < to) {
      const c = b[at++]!;
      if (++this.#length > MAX_CHUNK_LINE) {
        throw new Http1Error("Chunk size line or trailer too long");
      }
      if (c === 10) {
        if (!this.#cr || this.#digits === 0) {
          throw new Http1Error(
            this.#cr ? "Malformed chunk size" : "Bare LF in chunked framing",
          );
        }
        this.done = true;
        return at;
      }
      if (this.#cr) throw new Http1Error("Malformed chunk size");
      if (c === 13) {
        this.#cr = true;
        continue;
      }
      if (this.#inExt) {
        if (IS_BAD[c] === 1) throw new Http1Error("Malformed chunk size");
        continue;
      }
      const hex = HEX[c]!;
      if (hex !== 255 && !this.#spaced) {
        if (++this.#digits > 12) throw new Http1Error("Malformed chunk size");
        this.size = this.size * 16 + hex;
      } else if ((c === 32 || c === 9) && this.#digits > 0) {
        this.#spaced = true;
      } else if (c === 59 && this.#digits > 0) {
        this.#inExt = true;
      } else throw new Http1Error("Malformed chunk size");
    }
    return at;
  }

  /**
   * Reads a trailer line from `b[at, to)`, all of them within `max` bytes;
   * returns where it stopped.
   */
  readTrailer(b: Uint8Array, at: number, to: number, max: number): number {
    if (this.done) {
      this.done = false;
      this.#line = "";
    }
    while (at < to) {
      const c = b[at++]!;
      if (++this.#length > max) throw new Http1Error("Trailer fields too long");
      if (c === 10) {
        if (!this.#line.endsWith("\r")) {
          throw new Http1Error("Bare LF in chunked framing");
        }
        const text = this.#line.slice(0, -1);
        this.done = true;
        this.blank = text === "";
        if (!this.blank && (text.indexOf(":") <= 0 || BAD_VALUE.test(text))) {
          throw new Http1Error("Malformed trailer field");
        }
        return at;
      }
      this.#line += String.fromCharCode(c);
    }
    return at;
  }

  #reset(): void {
    this.done =
      this.blank =
      this.#cr =
      this.#spaced =
      this.#inExt =
        false;
    this.size = this.#digits = this.#length = 0;
    this.#line = "";
  }
}
