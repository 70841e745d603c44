/**
 * A session's writing side: one FIFO of frames drained by one loop, small
 * frames glued into one socket write. Control frames (answers to the
 * peer's OPENs and PINGs, CLOSEs, window grants, our OPENs) are copied
 * into small blocks as they are queued, so what a peer makes us owe costs
 * its bytes, not an object each, and is counted: the reader asks
 * {@linkcode FrameWriter.owesTooMuch} after each read and stops reading
 * until {@linkcode FrameWriter.drained}. At most one PONG waits: a newer
 * PING's nonce replaces the older one's.
 */

import { encodePing, MSG_PONG } from "./frames.ts";

/** Frames up to this size are glued together into one write. */
const COALESCE_LIMIT = 64 * 1024;
/**
 * Control frames are copied into blocks of this size as they are queued:
 * a flood of small answers costs its bytes, not an object each.
 */
const CONTROL_BLOCK = 512;
/**
 * PINGs answered by one coalesced PONG that is still unwritten, past which
 * the writer owes too much as it does past `maxOwed`: an honest peer pings
 * every few seconds, not this many times while we cannot answer.
 */
const MAX_COALESCED_PINGS = 64;

/** What the writer writes to. */
export interface FrameSink {
  /** Writes some of `p`; resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
}

interface Queued {
  frame: Uint8Array;
  done: ((err?: Error) => void) | undefined;
  /** Control frames copied into `frame` so far (a block; -1: not a block). */
  fill: number;
}

/** See the module doc. */
export class FrameWriter {
  #sink: FrameSink;
  #maxOwed: number;
  #fail: (err: unknown) => void;
  #error: Error | null = null;
  #queue: Queued[] = [];
  #flushing = false;
  /** Where small frames are joined into one write; made on first use. */
  #scratch: Uint8Array | undefined;
  /** Bytes of control frames queued, not yet written. */
  #owed = 0;
  /** PINGs that a PONG still unwritten answers. */
  #pings = 0;
  #drained: (() => void) | undefined;
  /** A queued PONG not yet taken for writing: a newer nonce overwrites it. */
  #pong: { q: Queued; at: number; batch: number } | undefined;
  /** Counts the queue's hand-overs to the writing loop. */
  #batch = 0;
  /** Bytes written, frames included. */
  bytesOut = 0;

  /**
   * A writer to `sink`; past `maxOwed` bytes of control frames it owes too
   * much; a failed write goes to `fail`.
   */
  constructor(sink: FrameSink, maxOwed: number, fail: (err: unknown) => void) {
    this.#sink = sink;
    this.#maxOwed = maxOwed;
    this.#fail = fail;
  }

  /** Bytes of control frames queued and PINGs they answer, for messages. */
  get owed(): { bytes: number; pings: number } {
    return { bytes: this.#owed, pings: this.#pings };
  }

  /** True when the reader should stop until {@linkcode drained}. */
  get owesTooMuch(): boolean {
    return this.#owed > this.#maxOwed || this.#pings > MAX_COALESCED_PINGS;
  }

  /** Resolves once what is owed fell to half the limit (or the writer ended). */
  drained(): Promise<void> {
    if (this.#error) return Promise.resolve();
    return new Promise((r) => this.#drained = r);
  }

  /** Queues a control frame (copied: `frame` may be reused). */
  control(frame: Uint8Array): void {
    this.#control(frame, false);
  }

  /** Queues a PONG for `nonce`, or puts it in the one already waiting. */
  pong(nonce: number): void {
    this.#pings++;
    const p = this.#pong;
    if (p && p.batch === this.#batch) {
      new DataView(p.q.frame.buffer).setUint32(p.at + 1, nonce);
      return;
    }
    this.#control(encodePing(MSG_PONG, nonce), true);
  }

  /** Queues a DATA frame; resolves once it was written (rejects if not). */
  data(frame: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#error) return reject(this.#error);
      this.#push({
        frame,
        done: (err) => err ? reject(err) : resolve(),
        fill: -1,
      });
    });
  }

  /** Ends the writer: what waits fails with `err`. */
  end(err: Error): void {
    if (this.#error) return;
    this.#error = err;
    for (const q of this.#queue.splice(0)) q.done?.(err);
    this.#pong = undefined;
    this.#drained?.();
  }

  #control(frame: Uint8Array, pong: boolean): void {
    if (this.#error) return;
    this.#owed += frame.length;
    const last = this.#queue[this.#queue.length - 1];
    let q: Queued;
    if (last && last.fill >= 0 && last.fill + frame.length <= CONTROL_BLOCK) {
      q = last;
    } else {
      q = { frame: new Uint8Array(CONTROL_BLOCK), done: undefined, fill: 0 };
      this.#push(q);
    }
    if (pong) this.#pong = { q, at: q.fill, batch: this.#batch };
    q.frame.set(frame, q.fill);
    q.fill += frame.length;
  }

  #push(q: Queued): void {
    this.#queue.push(q);
    if (!this.#flushing) {
      // Start writing after the current microtasks: frames that other
      // channels queue in this same tick then share one socket write.
      this.#flushing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    let batch: Queued[] = [];
    let i = 0;
    try {
      while (this.#queue.length > 0 && !this.#error) {
        batch = this.#queue;
        this.#queue = [];
        this.#batch++;
        for (const q of batch) {
          if (q.fill >= 0) q.frame = q.frame.subarray(0, q.fill);
        }
        for (i = 0; i < batch.length;) {
          let j = i, size = 0;
          while (
            j < batch.length && size + batch[j]!.frame.length <= COALESCE_LIMIT
          ) size += batch[j++]!.frame.length;
          if (j - i <= 1) {
            j = i + 1;
            await this.#writeAll(batch[i]!.frame);
          } else {
            let at = 0;
            const scratch = this.#scratch ??= new Uint8Array(COALESCE_LIMIT);
            for (let k = i; k < j; k++) {
              scratch.set(batch[k]!.frame, at);
              at += batch[k]!.frame.length;
            }
            await this.#writeAll(scratch.subarray(0, at));
          }
          for (; i < j; i++) {
            const q = batch[i]!;
            if (q.fill >= 0) this.#wrote(q.fill);
            else q.done?.();
          }
        }
      }
    } catch (err) {
      this.#fail(err);
      for (; i < batch.length; i++) {
        batch[i]!.done?.(this.#error ?? err as Error);
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** `n` bytes of control frames went out. */
  #wrote(n: number): void {
    this.#owed -= n;
    this.#pings = 0;
    if (this.#drained && this.#owed <= this.#maxOwed / 2) {
      const wake = this.#drained;
      this.#drained = undefined;
      wake();
    }
  }

  async #writeAll(p: Uint8Array): Promise<void> {
    let off = 0;
    while (off < p.length) off += await this.#sink.write(p.subarray(off));
    this.bytesOut += p.length;
  }
}
