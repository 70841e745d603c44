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
  DEFAULT_MAX_HEAD,
  Http1Error,
  type Http1Head,
  parseHead,
} from "./head.ts";
import { ChunkedBody } from "./chunked.ts";
import { HeadBuffer } from "./head_buffer.ts";
import { checkFraming, FRAMING, type Framing, scanHead } from "./framing.ts";
import { delimiting, MethodQueue } from "./body.ts";
import { eventSink } from "./events.ts";

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

type State =
  | "head"
  | "length"
  | "chunked"
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
  /** The chunked body reader, made on the first chunked body. */
  #chunked: ChunkedBody | undefined;
  /** Response side: the methods of requests still to be answered. */
  #methods: MethodQueue | undefined;
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
   * The head parsed in full (not with `framingOnly`) that a sink's `head`
   * call is about, during that call; `undefined` after it (a connection at
   * rest keeps no parsed head).
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

  /** The version of the last head. */
  get version(): string {
    return this.#version;
  }

  /** Response side: the next response answers a request with `method`. */
  expectResponseTo(method: string): void {
    (this.#methods ??= new MethodQueue()).push(method);
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
    return this.watch(chunk, eventSink(this, emit));
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

  /**
   * The stream ended. Ends a close-delimited body; throws if a message was
   * cut off (the caller may ignore that for a connection that just closed).
   */
  end(to: ((e: Http1Event) => void) | Http1Sink): void {
    this.#sink = typeof to === "function" ? eventSink(this, to) : to;
    if (this.#state === "until-eof") {
      this.#state = "head";
      this.#sink.end();
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
        case "length":
          at = this.#data(chunk, at, to);
          if (this.#left === 0) this.#finish();
          break;
        case "until-eof":
          this.#sink.body(chunk, at, to, true);
          return to;
        case "chunked": {
          const c = this.#chunked!;
          at = c.read(chunk, at, to, this.#sink);
          if (c.ended) this.#finish();
          break;
        }
      }
    }
    return at;
  }

  /** Body bytes of a known length: hands on what `b[at, to)` has of them. */
  #data(b: Uint8Array, at: number, to: number): number {
    const end = Math.min(to, at + this.#left);
    this.#sink.body(b, at, end, true);
    this.#left -= end - at;
    return end;
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
    try {
      this.#sink.head(bytes, hFrom, hTo);
    } finally {
      this.#lastHead = undefined;
      h.done();
    }
    this.#frame(framing, cl);
    return end;
  }

  /** Goes on as the head just read says its body is delimited. */
  #frame(f: Framing, cl: number): void {
    const side = this.#side;
    if (side === "request") {
      this.#upgradeAfter = f.method === "CONNECT" ||
        (f.connectionUpgrade && f.upgrade);
    }
    switch (delimiting(side, f, cl, this.#methods)) {
      case "interim":
        return;
      case "none":
        return this.#finish();
      case "length":
        this.#left = cl;
        this.#state = "length";
        return;
      case "chunked":
        (this.#chunked ??= new ChunkedBody(this.#maxHead)).reset();
        this.#state = "chunked";
        return;
      case "until-eof":
        this.#state = "until-eof";
        return;
      case "switch":
        this.#sink.end();
        this.#state = "raw";
        return;
      case "raw":
        this.#state = "raw";
    }
  }

  #finish(): void {
    this.#sink.end();
    // A request that asked to upgrade: what follows is the new protocol's
    // (or, if refused, more HTTP; a watcher cannot know without the answer,
    // so it stops parsing: the relay stays byte-exact either way).
    this.#state = this.#upgradeAfter
      ? (this.#holdUpgrades ? "held" : "raw")
      : "head";
    this.#upgradeAfter = false;
  }
}
