/**
 * An incremental HTTP/1.x message parser that only watches: it cuts a byte
 * stream (cut anywhere) into heads, body bytes and message ends, and hands
 * the body bytes back as views of the input, untouched, so a relay can pass
 * them on byte-exact while rewriting only heads, and a capture can read them.
 *
 * Framing as RFC 9112 §6 says, strictly (ambiguity is what request smuggling
 * lives on): requests with both Content-Length and Transfer-Encoding, with
 * differing Content-Lengths, with a coding other than a final `chunked`, or
 * with two Host fields are errors (400); so are bare LF line ends, obs-fold
 * and control bytes in heads. Responses: 1xx then another head, 101 and
 * successful CONNECT switch to raw bytes, HEAD/204/304 have no body, else
 * Content-Length, chunked, or everything until EOF. Knows nothing of tunnels.
 */

import {
  blankHead,
  DEFAULT_MAX_HEAD,
  Http1Error,
  type Http1Head,
  parseHead,
} from "./head.ts";
import { ChunkLines } from "./chunked.ts";
import {
  FRAMING,
  type Framing,
  NO_FIELDS,
  NO_SPANS,
  scanHead,
} from "./framing.ts";

export {
  DEFAULT_MAX_HEAD,
  Http1Error,
  type Http1Head,
  MAX_CHUNK_LINE,
  parseHead,
  parseHeadText,
  trimOws,
} from "./head.ts";

/** What the parser saw, in stream order. */
export type Http1Event =
  /**
   * A head; `bytes` are exactly the bytes it took, as a view valid during
   * the call (copy them to keep them).
   */
  | { kind: "head"; head: Http1Head; bytes: Uint8Array }
  /**
   * Body bytes as a view of the input; `data` is false for chunked framing
   * (sizes, CRLFs, trailers), true for payload.
   */
  | { kind: "body"; bytes: Uint8Array; data: boolean }
  /** The message is complete. */
  | { kind: "end" }
  /** Bytes after an upgrade (or a tunnel), passed on as they are. */
  | { kind: "raw"; bytes: Uint8Array };

/**
 * What {@linkcode Http1Parser.watch} reports: the same as the events, as
 * offsets into bytes that are valid during the call, with no object made per
 * event (a watcher that copies what it keeps needs no views).
 */
export interface Http1Sink {
  /**
   * A head, `bytes[start, end)`; its method or status is the parser's
   * {@linkcode Http1Parser.method} or {@linkcode Http1Parser.status}.
   */
  head(bytes: Uint8Array, start: number, end: number): void;
  /** Body bytes `bytes[start, end)`: payload (`data`) or chunked framing. */
  body(bytes: Uint8Array, start: number, end: number, data: boolean): void;
  /** The message is complete. */
  end(): void;
  /** Bytes after an upgrade (or a tunnel), `bytes[start, end)`. */
  raw(bytes: Uint8Array, start: number, end: number): void;
}

/** Who else hears the requests a filter parses (a capture tap): parsed once. */
export interface RequestWatcher {
  /** A request head `b[from, to)` with its method. */
  head(b: Uint8Array, from: number, to: number, method: string): void;
  /** Body bytes `b[from, to)`: payload (`data`) or chunked framing. */
  body(b: Uint8Array, from: number, to: number, data: boolean): void;
  /** The request is complete. */
  end(): void;
  /** Parsing stopped (not HTTP, or refused). */
  stop(): void;
}

/** Options of {@linkcode Http1Parser}. */
export interface Http1ParserOptions {
  /**
   * Largest head in bytes (431 past it).
   * @default {32768}
   */
  maxHead?: number;
  /**
   * Keep only the fields that decide framing in each head's `headers` (and
   * `spans`): for a watcher that reads the rest later from `text`, if ever.
   * @default {false}
   */
  framingOnly?: boolean;
  /**
   * Requests: after a request that asks to upgrade, stop (see
   * {@linkcode Http1Parser.held}) instead of passing what follows on as raw
   * bytes, until {@linkcode Http1Parser.resume} says what the answer was.
   * A filter must not let bytes by unparsed that may still be HTTP.
   * @default {false}
   */
  holdUpgrades?: boolean;
}

/** The one "end" event (events are not kept by listeners; no need for new ones). */
const END: Http1Event = Object.freeze({ kind: "end" });

type State =
  | "head"
  | "length"
  | "chunk-size"
  | "chunk-data"
  | "chunk-crlf"
  | "trailers"
  | "until-eof"
  | "held"
  | "raw";

/**
 * Parses one direction of a connection: requests (`"request"`) or
 * responses (`"response"`). A response parser must be told each request's
 * method ({@linkcode Http1Parser.expectResponseTo}) to frame HEAD answers.
 * What it sees goes to an event callback ({@linkcode Http1Parser.push}) or,
 * with no object per event, to a sink ({@linkcode Http1Parser.watch}).
 */
export class Http1Parser {
  readonly #side: "request" | "response";
  readonly #maxHead: number;
  readonly #framingOnly: boolean;
  readonly #holdUpgrades: boolean;
  #state: State = "head";
  #lastHead: Http1Head | undefined;
  #head = new Uint8Array(0);
  #headLen = 0;
  #left = 0;
  #chunks = new ChunkLines();
  #methods: string[] = [];
  #methodsAt = 0;
  #upgradeAfter = false;
  #method = "";
  #status = 0;
  // Where this push's events go: a callback, or a sink.
  #sink!: Http1Sink;
  #version = "";

  /** A parser for one direction. */
  constructor(side: "request" | "response", options: Http1ParserOptions = {}) {
    this.#side = side;
    this.#maxHead = options.maxHead ?? DEFAULT_MAX_HEAD;
    this.#framingOnly = options.framingOnly ?? false;
    this.#holdUpgrades = options.holdUpgrades ?? false;
  }

  /**
   * The last head parsed in full (not with `framingOnly`): what a sink's
   * `head` call is about.
   */
  get lastHead(): Http1Head | undefined {
    return this.#lastHead;
  }

  /**
   * True when stopped after a request that asked to upgrade (with
   * `holdUpgrades`): nothing more is consumed until {@linkcode resume}.
   */
  get held(): boolean {
    return this.#state === "held";
  }

  /** After a hold: the answer switched protocols (`raw`), or HTTP goes on. */
  resume(raw: boolean): void {
    if (this.#state === "held") this.#state = raw ? "raw" : "head";
  }

  /** True once the stream switched to raw bytes (upgrade or CONNECT). */
  get raw(): boolean {
    return this.#state === "raw";
  }

  /** True between messages (nothing of a message buffered). */
  get idle(): boolean {
    return this.#state === "head" && this.#headLen === 0;
  }

  /** The method of the last request head (requests). */
  get method(): string {
    return this.#method;
  }

  /** The status of the last response head (responses). */
  get status(): number {
    return this.#status;
  }

  /** Response side: the next response answers a request with `method`. */
  expectResponseTo(method: string): void {
    this.#methods.push(method);
  }

  /** Switches to raw bytes from now on (the caller saw a 101, say). */
  switchToRaw(): void {
    this.#state = "raw";
  }

  /**
   * Feeds bytes; calls `emit` for each event; throws {@linkcode Http1Error}.
   * Returns how many bytes it took: all, unless it holds (`holdUpgrades`).
   */
  push(chunk: Uint8Array, emit: (e: Http1Event) => void): number {
    return this.watch(chunk, this.#events(emit));
  }

  /**
   * Feeds bytes `chunk[from, to)` (all by default); tells `sink` what they
   * hold, by offsets (no event objects); throws {@linkcode Http1Error}.
   * Returns the offset it stopped at: `to`, unless it holds.
   */
  watch(
    chunk: Uint8Array,
    sink: Http1Sink,
    from = 0,
    to = chunk.length,
  ): number {
    this.#sink = sink;
    return this.#run(chunk, from, to);
  }

  /** A sink that hands `emit` event objects (the adapter behind `push`). */
  #events(emit: (e: Http1Event) => void): Http1Sink {
    return {
      head: (b, from, to) => {
        let head = this.#lastHead;
        if (this.#framingOnly || !head) {
          head = blankHead("", NO_FIELDS, NO_SPANS);
          head.method = this.#method;
          head.status = this.#status;
          head.version = this.#version;
        }
        emit({ kind: "head", head, bytes: b.subarray(from, to) });
      },
      body: (b, from, to, data) =>
        emit({ kind: "body", bytes: b.subarray(from, to), data }),
      end: () => emit(END),
      raw: (b, from, to) => emit({ kind: "raw", bytes: b.subarray(from, to) }),
    };
  }

  /**
   * The stream ended. Ends a close-delimited body; throws if a message was
   * cut off (the caller may ignore that for a connection that just closed).
   */
  end(to: ((e: Http1Event) => void) | Http1Sink): void {
    this.#sink = typeof to === "function" ? this.#events(to) : to;
    if (this.#state === "until-eof") {
      this.#state = "head";
      this.#end();
      return;
    }
    if (this.#state !== "raw" && !this.idle) {
      throw new Http1Error("Connection closed inside a message");
    }
  }

  #run(chunk: Uint8Array, from: number, to: number): number {
    let at = from;
    while (at < to) {
      switch (this.#state) {
        case "held":
          return at;
        case "raw":
          this.#sink.raw(chunk, at, to);
          return to;
        case "head":
          at = this.#readHead(chunk, at, to);
          break;
        case "length": {
          const n = Math.min(this.#left, to - at);
          this.#body(chunk, at, at + n, true);
          at += n;
          this.#left -= n;
          if (this.#left === 0) this.#finish();
          break;
        }
        case "until-eof":
          this.#body(chunk, at, to, true);
          return to;
        case "chunk-data": {
          const n = Math.min(this.#left, to - at);
          this.#body(chunk, at, at + n, true);
          at += n;
          this.#left -= n;
          if (this.#left === 0) {
            this.#state = "chunk-crlf";
            this.#left = 2;
          }
          break;
        }
        case "chunk-crlf": {
          const start = at;
          while (this.#left > 0 && at < to) {
            const want = this.#left === 2 ? 13 : 10;
            if (chunk[at] !== want) {
              throw new Http1Error("Chunk data not followed by CRLF");
            }
            at++;
            this.#left--;
          }
          this.#body(chunk, start, at, false);
          if (this.#left === 0) this.#state = "chunk-size";
          break;
        }
        case "chunk-size": {
          const lines = this.#chunks, start = at;
          at = lines.readSize(chunk, at, to);
          this.#body(chunk, start, at, false);
          if (!lines.done) break;
          if (lines.size === 0) this.#state = "trailers";
          else {
            this.#left = lines.size;
            this.#state = "chunk-data";
          }
          break;
        }
        case "trailers": {
          const lines = this.#chunks, start = at;
          at = lines.readTrailer(chunk, at, to, this.#maxHead);
          this.#body(chunk, start, at, false);
          if (lines.done && lines.blank) this.#finish();
          break;
        }
      }
    }
    return at;
  }

  #body(chunk: Uint8Array, start: number, end: number, data: boolean): void {
    this.#sink.body(chunk, start, end, data);
  }

  #end(): void {
    this.#sink.end();
  }

  #readHead(chunk: Uint8Array, at: number, to: number): number {
    // Find the blank line: each LF must follow a CR; CR LF CR LF ends it.
    // Bytes before `at` (an earlier chunk) are read from the head buffer.
    const len = this.#headLen;
    const buffered = this.#head;
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
    if (len + take > this.#maxHead) {
      throw new Http1Error(`Head exceeds ${this.#maxHead} bytes`, 431);
    }
    // The head is bytes[hFrom, hTo): in the chunk (the common case: no
    // copy), or gathered in the head buffer.
    let bytes = chunk, hFrom = at, hTo = end;
    if (len !== 0 || end < 0) {
      if (this.#head.length < len + take) {
        const bigger = new Uint8Array(
          Math.min(
            this.#maxHead,
            Math.max(len + take, this.#head.length * 2, 512),
          ),
        );
        bigger.set(this.#head.subarray(0, len));
        this.#head = bigger;
      }
      this.#head.set(chunk.subarray(at, at + take), len);
      this.#headLen = len + take;
      if (end < 0) return to;
      bytes = this.#head;
      hFrom = 0;
      hTo = this.#headLen;
      this.#headLen = 0;
    }
    const framing = FRAMING;
    framing.reset();
    if (this.#framingOnly) scanHead(this.#side, bytes, hFrom, hTo, framing);
    else {
      const head = this.#lastHead = parseHead(
        this.#side,
        bytes.subarray(hFrom, hTo),
      );
      for (const [name, value] of head.headers) framing.field(name, value);
      framing.method = head.method;
      framing.status = head.status;
      framing.version = head.version;
    }
    // Checked before anyone hears of the head: a refused head is never
    // handed on (a filter forwards what it hears).
    const cl = this.#check(framing);
    this.#method = framing.method;
    this.#status = framing.status;
    this.#version = framing.version;
    this.#sink.head(bytes, hFrom, hTo);
    this.#frame(framing, cl);
    return end;
  }

  /**
   * The head's framing fields, checked (throws what is refused); returns
   * its Content-Length (-1: none).
   */
  #check(f: Framing): number {
    const te = f.te;
    const cl = f.contentLength();
    if (this.#side === "request") {
      if (f.hosts > 1) throw new Http1Error("More than one Host field");
      if (te && cl >= 0) {
        throw new Http1Error("Both Content-Length and Transfer-Encoding");
      }
      if (te && te[te.length - 1] !== "chunked") {
        throw new Http1Error("Transfer-Encoding must end with chunked", 400);
      }
      // RFC 9112 §6.1: HTTP/1.0 has no chunked framing to trust.
      if (te && f.version === "HTTP/1.0") {
        throw new Http1Error("Transfer-Encoding in an HTTP/1.0 request");
      }
    }
    return cl;
  }

  /** Decides how the body after the head just read is delimited. */
  #frame(f: Framing, cl: number): void {
    const te = f.te;
    const connectionUpgrade = f.connectionUpgrade, upgrade = f.upgrade;
    if (this.#side === "request") {
      const method = f.method;
      this.#upgradeAfter = method === "CONNECT" ||
        (connectionUpgrade && upgrade);
      if (method === "CONNECT") return this.#toRaw();
      if (te) return void (this.#state = "chunk-size");
      if (cl > 0) {
        this.#left = cl;
        this.#state = "length";
        return;
      }
      return this.#finish();
    }
    // Responses.
    const s = f.status;
    if (s >= 100 && s < 200 && s !== 101) return; // interim: another head follows
    // Methods are tokens: case matters (RFC 9110 §9.1), so "head" is not HEAD.
    const method = this.#nextMethod();
    if (s === 101 || (method === "CONNECT" && s >= 200 && s < 300)) {
      this.#end();
      return this.#toRaw();
    }
    if (method === "HEAD" || s === 204 || s === 304) return this.#finish();
    if (te && te[te.length - 1] === "chunked") {
      return void (this.#state = "chunk-size");
    }
    if (!te && cl >= 0) {
      if (cl === 0) return this.#finish();
      this.#left = cl;
      this.#state = "length";
      return;
    }
    this.#state = "until-eof";
  }

  /** The method of the request the next response answers (a queue, no shift). */
  #nextMethod(): string {
    const all = this.#methods;
    if (this.#methodsAt >= all.length) return "GET";
    const m = all[this.#methodsAt++]!;
    if (this.#methodsAt === all.length) {
      all.length = 0;
      this.#methodsAt = 0;
    }
    return m;
  }

  #toRaw(): void {
    this.#state = "raw";
  }

  #finish(): void {
    this.#end();
    // A request that asked to upgrade: what follows is the new protocol's
    // (or, if refused, more HTTP; a watcher cannot know without the answer,
    // so it stops parsing: the relay stays byte-exact either way).
    this.#state = this.#upgradeAfter
      ? (this.#holdUpgrades ? "held" : "raw")
      : "head";
    this.#upgradeAfter = false;
  }
}
