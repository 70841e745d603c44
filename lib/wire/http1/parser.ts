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
import { HeadBuffer } from "./head_buffer.ts";
import {
  checkFraming,
  FRAMING,
  type Framing,
  NO_FIELDS,
  NO_SPANS,
  scanHead,
} from "./framing.ts";

import type { Http1Event, Http1ParserOptions, Http1Sink } from "./types.ts";

export type {
  Http1Event,
  Http1ParserOptions,
  Http1Sink,
  RequestWatcher,
} from "./types.ts";
export {
  DEFAULT_MAX_HEAD,
  Http1Error,
  type Http1Head,
  MAX_CHUNK_LINE,
  parseHead,
  parseHeadText,
  trimOws,
} from "./head.ts";

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
  #headBuf: HeadBuffer;
  #left = 0;
  /** Chunked framing's line reader, made on the first chunked body. */
  #chunks: ChunkLines | undefined;
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
    this.#headBuf = new HeadBuffer(this.#maxHead);
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
    return this.#state === "head" && this.#headBuf.empty;
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
          const lines = this.#chunks ??= new ChunkLines(), start = at;
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
          const lines = this.#chunks ??= new ChunkLines(), start = at;
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
    const h = this.#headBuf;
    const end = h.read(chunk, at, to);
    if (end < 0) return to;
    const bytes = h.bytes, hFrom = h.from, hTo = h.to;
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
    const cl = checkFraming(this.#side, framing);
    this.#method = framing.method;
    this.#status = framing.status;
    this.#version = framing.version;
    this.#sink.head(bytes, hFrom, hTo);
    this.#frame(framing, cl);
    return end;
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
