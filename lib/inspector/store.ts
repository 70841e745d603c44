/**
 * The capture store: the last {@linkcode MAX_CAPTURES} exchanges, their
 * bytes in an arena of at most {@linkcode MAX_CAPTURE_BYTES} (the oldest go
 * first), each with an id; listeners hear of every new one. Adding is O(1)
 * and never waits: when listeners lag, they miss entries, traffic never does.
 *
 * A stored exchange is a record of numbers and pieces of the arena; the
 * text that readers see ({@linkcode Capture}) is made from the bytes only
 * when someone reads it: with nobody looking, capturing costs copies.
 */

import { CaptureArena, PIECE } from "./arena.ts";
import { MAX_CAPTURES, Slots } from "./slots.ts";

export { MAX_CAPTURES };
import type { CapturedMessage, Exchange, HeadLine } from "./capture.ts";
import { parseHeadText } from "../wire/mod.ts";

/** Captured bytes kept in all (heads and bodies). */
export const MAX_CAPTURE_BYTES = 64 * 1024 * 1024;
/**
 * Exchanges captured per second at most, by default (`--inspect-rate`; 0:
 * no limit). Past it, whole exchanges go uncaptured (and are counted): what
 * capturing costs the tunnel stays bounded however much traffic passes,
 * while a person reading the inspector or the log still sees a steady
 * sample of it. Replays are always captured.
 */
export const DEFAULT_CAPTURE_RATE = 1000;
/** How often the capture rate's budget is refilled (ms). */
const REFILL_EVERY = 100;

/** Options of {@linkcode CaptureStore}. */
export interface CaptureStoreOptions {
  /**
   * Exchanges captured per second at most; 0: no limit.
   * @default {DEFAULT_CAPTURE_RATE}
   */
  rate?: number;
}

/** An exchange as recorded by a tap (numbers and arena pieces). */
export interface CaptureRecord {
  /** The id's number (set when stored). */
  n: number;
  /** When the request head was complete (ms since the epoch). */
  start: number;
  /** Milliseconds until the response was complete. */
  duration: number;
  /** The visitor, `ip:port`. */
  remoteAddr: string;
  /** The request's pieces (head first). */
  req: number[];
  /** Request payload bytes in all. */
  reqSize: number;
  /** True when the request body was longer than what was kept. */
  reqTruncated: boolean;
  /** The response's pieces (head first), or null. */
  res: number[] | null;
  /** Response payload bytes in all. */
  resSize: number;
  /** True when the response body was longer than what was kept. */
  resTruncated: boolean;
  /** For a WebSocket: when it closed, or 0. */
  closed: number;
  /** The capture this one replays, if any. */
  replayOf: string | undefined;
}

/** An exchange as readers see it. */
export interface Capture extends Exchange {
  /** Unique within this client's run: `req_<n>`. */
  id: string;
  /** Set when this exchange was a replay of another. */
  replayOf?: string;
}

const HEAD_ONLY = [PIECE.HEAD] as const;
const RAW_BODY = [PIECE.BODY] as const;

/**
 * The payload of a chunked body as captured (latin1 text): chunk data
 * without sizes, extensions, CRLFs and trailers; as much as there is when
 * the capture was cut off.
 */
function dechunk(raw: string): string {
  let out = "";
  let at = 0;
  while (at < raw.length) {
    const eol = raw.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(raw.slice(at, eol), 16);
    if (!(size > 0)) break;
    out += raw.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return out;
}

/** One side of a record, its text made on first read. */
class StoredMessage implements CapturedMessage {
  #arena: CaptureArena;
  #pieces: number[];
  #side: "request" | "response";
  #rawHead: string | undefined;
  #rawBody: string | undefined;
  #body: string | undefined;
  #head: HeadLine | undefined;
  readonly bodySize: number;
  readonly truncated: boolean;
  constructor(
    arena: CaptureArena,
    pieces: number[],
    side: "request" | "response",
    size: number,
    truncated: boolean,
  ) {
    this.#arena = arena;
    this.#pieces = pieces;
    this.#side = side;
    this.bodySize = size;
    this.truncated = truncated;
  }
  get rawHead(): string {
    return this.#rawHead ??= this.#arena.text(this.#pieces, HEAD_ONLY) ?? "";
  }
  get rawBody(): string {
    return this.#rawBody ??= this.#arena.text(this.#pieces, RAW_BODY) ?? "";
  }
  get body(): string {
    if (this.#body !== undefined) return this.#body;
    const raw = this.rawBody;
    let chunked = false;
    try {
      const te = parseHeadText(this.#side, this.rawHead).headers.findLast((
        [k],
      ) => k.toLowerCase() === "transfer-encoding")?.[1];
      chunked = !!te && /(^|,)\s*chunked\s*$/i.test(te);
    } catch { /* no head to read: as it came */ }
    return this.#body = chunked ? dechunk(raw) : raw;
  }
  get head(): HeadLine {
    if (this.#head) return this.#head;
    try {
      const h = parseHeadText(this.#side, this.rawHead);
      return this.#head = {
        method: h.method,
        target: h.target,
        status: h.status,
        reason: h.reason,
        version: h.version,
      };
    } catch {
      return this.#head = {
        method: "",
        target: "",
        status: 0,
        reason: "",
        version: "",
      };
    }
  }
  toJSON() {
    return {
      head: this.head,
      rawHead: this.rawHead,
      rawBody: this.rawBody,
      body: this.body,
      bodySize: this.bodySize,
      truncated: this.truncated,
    };
  }
}

/** A record as a {@linkcode Capture}. */
class StoredCapture implements Capture {
  readonly id: string;
  readonly start: number;
  readonly duration: number;
  readonly remoteAddr: string;
  readonly request: CapturedMessage;
  readonly response: CapturedMessage | null;
  readonly replayOf?: string;
  #record: CaptureRecord;
  constructor(arena: CaptureArena, r: CaptureRecord) {
    this.#record = r;
    this.id = `req_${r.n}`;
    this.start = r.start;
    this.duration = r.duration;
    this.remoteAddr = r.remoteAddr;
    this.request = new StoredMessage(
      arena,
      r.req,
      "request",
      r.reqSize,
      r.reqTruncated,
    );
    this.response = r.res
      ? new StoredMessage(arena, r.res, "response", r.resSize, r.resTruncated)
      : null;
    if (r.replayOf !== undefined) this.replayOf = r.replayOf;
  }
  get closed(): number {
    return this.#record.closed;
  }
}

/** The store; see the module doc. */
export class CaptureStore {
  /** Where the captured bytes are. */
  readonly arena: CaptureArena = new CaptureArena(MAX_CAPTURE_BYTES);
  // Record n sits in slot n % MAX_CAPTURES until record n + MAX_CAPTURES
  // takes it: the count limit costs nothing, and lookups are an index.
  #slots = new Slots();
  #next = 1;
  /** The arena's oldest position when gone pieces were last dropped. */
  #swept = 0;
  #listeners = new Set<(c: Capture, kind: "new" | "closed") => void>();
  #clearListeners = new Set<() => void>();
  /** Exchanges dropped to stay within the limits. */
  dropped = 0;
  /** Exchanges not captured: over the capture rate. */
  notCaptured = 0;
  /** Exchanges captured per second at most (0: no limit). */
  readonly rate: number;
  // The rate's budget: spent one per exchange, refilled by a timer that
  // runs only while the budget is short (nothing runs for an idle store).
  #budget: number;
  #refill: ReturnType<typeof setInterval> | undefined;

  /** A store; see {@linkcode CaptureStoreOptions}. */
  constructor(options: CaptureStoreOptions = {}) {
    this.rate = Math.max(0, options.rate ?? DEFAULT_CAPTURE_RATE);
    this.#budget = this.rate;
  }

  /**
   * May one more exchange be captured now? False past the rate (it is then
   * counted in {@linkcode CaptureStore.notCaptured} by the caller).
   */
  admit(): boolean {
    if (this.rate === 0) return true;
    if (this.#budget >= 1) {
      this.#budget--;
      this.#startRefill();
      return true;
    }
    return false;
  }

  #startRefill(): void {
    if (this.#refill !== undefined) return;
    this.#refill = setInterval(() => {
      this.#budget = Math.min(
        this.rate,
        this.#budget + this.rate * REFILL_EVERY / 1000,
      );
      if (this.#budget === this.rate) {
        clearInterval(this.#refill);
        this.#refill = undefined;
      }
    }, REFILL_EVERY);
    Deno.unrefTimer(this.#refill);
  }

  /**
   * Stores a finished exchange (a tap calls this); sets its `n`. The
   * record is not kept (a tap reuses it): its numbers are copied into a
   * slot, and its piece arrays, never changed again, are copied or kept.
   */
  add(r: CaptureRecord): void {
    // Pending so long that its bytes were reused: it cannot be shown.
    if (!this.#held(r)) {
      this.dropped++;
      return;
    }
    r.n = this.#next++;
    const oldest = this.arena.oldest;
    if (oldest !== this.#swept && this.#slots.aside.size) {
      // Blocks were reused: long piece lists into them are dropped.
      this.#swept = oldest;
      this.#slots.forget((pieces) => !this.arena.holds(pieces));
    }
    const slot = r.n % MAX_CAPTURES;
    if (this.#slots.n[slot]) this.dropped++;
    this.#slots.put(slot, r);
    if (this.#listeners.size) this.#tell(r.n, "new");
  }

  /** The WebSocket of stored exchange `n` closed, at `closed` (ms since the epoch). */
  upgradedClosed(n: number, closed: number): void {
    const slot = n % MAX_CAPTURES;
    if (!n || this.#slots.n[slot] !== n) return;
    this.#slots.closed[slot] = closed;
    if (this.#listeners.size) this.#tell(n, "closed");
  }

  #tell(n: number, kind: "new" | "closed"): void {
    const c = this.#read(n);
    if (c) { for (const l of this.#listeners) l(c, kind); }
  }

  /** Newest first (those whose bytes are still held). */
  list(): Capture[] {
    const out: Capture[] = [];
    for (let n = this.#next - 1; n > 0 && n >= this.#next - MAX_CAPTURES; n--) {
      const c = this.#read(n);
      if (c) out.push(c);
    }
    return out;
  }

  /** One capture. */
  get(id: string): Capture | undefined {
    if (!/^req_[0-9]+$/.test(id)) return undefined;
    return this.#read(Number(id.slice(4)));
  }

  #read(n: number): Capture | undefined {
    const slot = n % MAX_CAPTURES;
    if (this.#slots.n[slot] !== n) return undefined;
    const r = this.#slots.get(slot);
    return this.#held(r) ? new StoredCapture(this.arena, r) : undefined;
  }

  #held(r: CaptureRecord): boolean {
    return this.arena.holds(r.req) && (!r.res || this.arena.holds(r.res));
  }

  /** Forgets every capture (and the count of those not captured). */
  clear(): void {
    for (const l of this.#clearListeners) l();
    this.#slots.clear();
    this.notCaptured = 0;
  }

  /** Calls `f` for each new (or closed) capture until the returned function is called. */
  listen(f: (c: Capture, kind: "new" | "closed") => void): () => void {
    this.#listeners.add(f);
    return () => this.#listeners.delete(f);
  }

  /** Calls `f` whenever the store is cleared, until the returned function is called. */
  onClear(f: () => void): () => void {
    this.#clearListeners.add(f);
    return () => this.#clearListeners.delete(f);
  }
}
