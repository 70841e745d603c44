/**
 * The kept captures as columns of numbers, one slot each (typed arrays
 * made once, not an object per capture for the GC to trace).
 */

import type { CaptureRecord } from "./store.ts";

/** Exchanges kept. */
export const MAX_CAPTURES = 500;

/** Numbers of one side's pieces kept in a slot (8 pieces); more go aside. */
const SIDE = 24;

/**
 * The kept records, one slot each, as columns of numbers: what the store
 * keeps for hundreds of exchanges is a few typed arrays made once, not
 * hundreds of objects for the garbage collector to copy and trace.
 */
export class Slots {
  n = new Float64Array(MAX_CAPTURES);
  start = new Float64Array(MAX_CAPTURES);
  duration = new Float64Array(MAX_CAPTURES);
  closed = new Float64Array(MAX_CAPTURES);
  reqSize = new Float64Array(MAX_CAPTURES);
  resSize = new Float64Array(MAX_CAPTURES);
  /** 1: request truncated, 2: response truncated, 4: has a response. */
  flags = new Uint8Array(MAX_CAPTURES);
  remote: string[] = new Array(MAX_CAPTURES).fill("");
  replayOf: Array<string | undefined> = new Array(MAX_CAPTURES);
  req = new Float64Array(MAX_CAPTURES * SIDE);
  reqLen = new Uint16Array(MAX_CAPTURES);
  res = new Float64Array(MAX_CAPTURES * SIDE);
  resLen = new Uint16Array(MAX_CAPTURES);
  /** Pieces of slots that had more than {@linkcode SIDE} numbers. */
  aside = new Map<number, { req?: number[]; res?: number[] }>();

  put(i: number, r: CaptureRecord): void {
    this.n[i] = r.n;
    this.start[i] = r.start;
    this.duration[i] = r.duration;
    this.closed[i] = r.closed;
    this.reqSize[i] = r.reqSize;
    this.resSize[i] = r.resSize;
    this.flags[i] = (r.reqTruncated ? 1 : 0) | (r.resTruncated ? 2 : 0) |
      (r.res ? 4 : 0);
    this.remote[i] = r.remoteAddr;
    this.replayOf[i] = r.replayOf;
    this.aside.delete(i);
    this.reqLen[i] = this.#pieces(i, r.req, this.req, "req");
    this.resLen[i] = r.res ? this.#pieces(i, r.res, this.res, "res") : 0;
  }

  #pieces(
    i: number,
    pieces: number[],
    column: Float64Array,
    side: "req" | "res",
  ): number {
    if (pieces.length > SIDE) {
      const a = this.aside.get(i) ?? {};
      a[side] = pieces; // a tap starts a new array for its next message
      this.aside.set(i, a);
      return pieces.length;
    }
    for (let k = 0; k < pieces.length; k++) column[i * SIDE + k] = pieces[k]!;
    return pieces.length;
  }

  /** Slot `i` as a record again (for readers). */
  get(i: number): CaptureRecord {
    const side = (column: Float64Array, len: number, which: "req" | "res") =>
      len > SIDE
        ? this.aside.get(i)![which]!
        : Array.from(column.subarray(i * SIDE, i * SIDE + len));
    const f = this.flags[i]!;
    return {
      n: this.n[i]!,
      start: this.start[i]!,
      duration: this.duration[i]!,
      remoteAddr: this.remote[i]!,
      req: side(this.req, this.reqLen[i]!, "req"),
      reqSize: this.reqSize[i]!,
      reqTruncated: (f & 1) !== 0,
      res: f & 4 ? side(this.res, this.resLen[i]!, "res") : null,
      resSize: this.resSize[i]!,
      resTruncated: (f & 2) !== 0,
      closed: this.closed[i]!,
      replayOf: this.replayOf[i],
    };
  }

  /** Drops the slots whose long piece lists `gone` says are gone. */
  forget(gone: (pieces: number[]) => boolean): void {
    for (const [i, a] of this.aside) {
      if ((a.req && gone(a.req)) || (a.res && gone(a.res))) {
        this.aside.delete(i);
        this.n[i] = 0;
      }
    }
  }

  clear(): void {
    this.n.fill(0);
    this.remote.fill("");
    this.replayOf.fill(undefined);
    this.aside.clear();
  }
}
