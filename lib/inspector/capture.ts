/**
 * The capture tap: watches one tunnelled connection's bytes both ways,
 * frames them (lib/wire/http1/) into requests and responses, and records each
 * finished exchange in a {@linkcode CaptureStore}. It never slows or changes
 * the relay: it reads what the relay already has, copies heads and at most
 * {@linkcode MAX_CAPTURED_BODY} of each body into the store's arena
 * (lib/inspector/arena.ts), makes no text (that happens when someone looks)
 * and, for the usual exchange, no object either; on bytes it cannot parse
 * it simply stops watching that connection.
 */

import {
  Http1Error,
  Http1Parser,
  type Http1Sink,
  parseHeadText,
  type RequestWatcher,
} from "../wire/mod.ts";
import { type CaptureArena, PIECE } from "./arena.ts";
import type { CaptureRecord, CaptureStore } from "./store.ts";

/** Most bytes of one body a capture keeps; the rest is only counted. */
export const MAX_CAPTURED_BODY = 1024 * 1024;
/**
 * Pieces of one message at most (a piece is a run of bytes in one arena
 * block; a message has a few): past it the capture is marked truncated.
 */
export const MAX_PIECES = 64;

/** A head's first line. */
export interface HeadLine {
  /** Request method. */
  method: string;
  /** Request target. */
  target: string;
  /** Response status. */
  status: number;
  /** Response reason phrase. */
  reason: string;
  /** Protocol version. */
  version: string;
}

/** One side of an exchange as captured. */
export interface CapturedMessage {
  /** The head's first line. */
  head: HeadLine;
  /** The head's bytes as they came, as latin1 text (one char per byte). */
  rawHead: string;
  /** The body as it came (chunked framing included), up to the limit (latin1). */
  rawBody: string;
  /** The body's payload (chunked framing removed), up to the limit (latin1). */
  body: string;
  /** Payload bytes in all, kept or not. */
  bodySize: number;
  /** True when the body was longer than what was kept. */
  truncated: boolean;
}

/** A request and (once it came) its response. */
export interface Exchange {
  /** When the request head was complete (ms since the epoch). */
  start: number;
  /** Milliseconds until the response was complete (0 while pending). */
  duration: number;
  /** The visitor, `ip:port`, when the server said. */
  remoteAddr: string;
  /** The request. */
  request: CapturedMessage;
  /** The response, or null while none came. */
  response: CapturedMessage | null;
  /** For a WebSocket (101): when it closed, or 0 while open. */
  closed?: number;
}

/** The header fields of a captured message (parsed again from its bytes). */
export function headersOf(
  m: CapturedMessage,
  side: "request" | "response",
): Array<[string, string]> {
  if (!m.rawHead) return [];
  return parseHeadText(side, m.rawHead).headers;
}

/** One message's pieces in the arena, the body kept within the limit. */
class Collector {
  /** The message's pieces (a new array per message: handing it on is free). */
  pieces: number[] = [];
  total = 0;
  kept = 0;
  truncated = false;
  #arena: CaptureArena;
  constructor(arena: CaptureArena) {
    this.#arena = arena;
  }
  start(b: Uint8Array, from: number, to: number): void {
    this.pieces = [];
    this.total = this.kept = 0;
    this.truncated = false;
    this.#arena.write(b, from, to, this.pieces, PIECE.HEAD);
  }
  add(b: Uint8Array, from: number, to: number, data: boolean): void {
    const n = to - from;
    if (n === 0) return;
    if (data) this.total += n;
    const room = MAX_CAPTURED_BODY - this.kept;
    if (room <= 0 || this.pieces.length >= 3 * MAX_PIECES) {
      this.truncated ||= data;
      return;
    }
    const take = n > room ? room : n;
    // Framing and payload alike: adjacent bytes join the piece before.
    this.#arena.write(b, from, from + take, this.pieces, PIECE.BODY);
    this.kept += take;
    if (take < n) this.truncated = true;
  }
}

/** A request waiting for its response behind another (pipelining). */
interface Waiting {
  start: number;
  req: number[];
  size: number;
  truncated: boolean;
}

/** One connection's tap; see the module doc. */
export class ConnectionTap {
  #store: CaptureStore;
  #off = false;
  // Watchers only: framing read from the bytes, no text made, no event
  // objects (lib/wire/http1/ reports to these sinks by offsets).
  #req = new Http1Parser("request", { framingOnly: true });
  #res = new Http1Parser("response", { framingOnly: true });
  #reqBody: Collector;
  #resBody: Collector;
  #reqStart = 0;
  // The request answered next is, in the usual case, the last one read: its
  // pieces are still in #reqBody (#held). Only when another request starts
  // before the answer (pipelining) are they copied out, into #waiting.
  #held = false;
  #heldStart = 0;
  #waiting: Waiting[] = [];
  #resStatus = 0;
  // The record handed to the store (which copies it): one per tap, reused.
  #record: CaptureRecord;
  #upgraded = 0;
  // Over the store's capture rate: this connection's exchanges go
  // uncaptured (the app's bytes are not even parsed) until a request is
  // admitted again. That request starts a new exchange on both sides: the
  // visitor sent it after the last answer came (HTTP/1.1 without
  // pipelining), so the app's next bytes begin an answer.
  #paused = false;
  readonly #always: boolean;

  /**
   * A tap recording into `store`; `remoteAddr` names the visitor, and
   * `replayOf` marks what it records as a replay of that capture.
   */
  constructor(store: CaptureStore, remoteAddr: string, replayOf?: string) {
    this.#store = store;
    this.#always = replayOf !== undefined; // a replay is always captured
    this.#reqBody = new Collector(store.arena);
    this.#resBody = new Collector(store.arena);
    this.#record = {
      n: 0,
      start: 0,
      duration: 0,
      remoteAddr,
      req: [],
      reqSize: 0,
      reqTruncated: false,
      res: null,
      resSize: 0,
      resTruncated: false,
      closed: 0,
      replayOf,
    };
  }

  #requestHead(b: Uint8Array, from: number, to: number, method: string): void {
    if (!this.#always && !this.#store.admit()) {
      if (!this.#paused) this.#pause();
      this.#store.notCaptured++;
      return;
    }
    if (this.#paused) {
      this.#paused = false;
      this.#res = new Http1Parser("response", { framingOnly: true });
      this.#resStatus = 0;
    }
    if (this.#held) {
      const q = this.#reqBody;
      this.#waiting.push({
        start: this.#heldStart,
        req: q.pieces,
        size: q.total,
        truncated: q.truncated,
      });
      this.#held = false;
    }
    this.#reqStart = Date.now();
    this.#reqBody.start(b, from, to);
    this.#res.expectResponseTo(method);
  }

  /** Stops capturing; what still waited for an answer goes uncaptured. */
  #pause(): void {
    this.#paused = true;
    this.#store.notCaptured += this.#waiting.length + (this.#held ? 1 : 0) +
      (this.#reqStart ? 1 : 0);
    this.#waiting.length = 0;
    this.#held = false;
    this.#reqStart = 0;
  }

  #requestBody(b: Uint8Array, from: number, to: number, data: boolean): void {
    if (this.#reqStart) this.#reqBody.add(b, from, to, data); // not if paused
  }

  #requestEnd(): void {
    if (!this.#reqStart) return;
    this.#held = true;
    this.#heldStart = this.#reqStart;
    this.#reqStart = 0;
  }

  // The parsers' sinks, made once.
  #reqSink: Http1Sink = {
    head: (b, from, to) => this.#requestHead(b, from, to, this.#req.method),
    body: (b, from, to, data) => this.#requestBody(b, from, to, data),
    end: () => this.#requestEnd(),
    raw: () => {},
  };

  #resSink: Http1Sink = {
    head: (b, from, to) => {
      const s = this.#res.status;
      if (s >= 100 && s < 200 && s !== 101) return; // 100 Continue and such
      this.#resStatus = s;
      this.#resBody.start(b, from, to);
    },
    body: (b, from, to, data) => this.#resBody.add(b, from, to, data),
    end: () => this.#complete(),
    raw: () => {},
  };

  /**
   * The requests as someone who already parses the visitor's bytes (the
   * request filter) hears them. Use this or {@linkcode fromVisitor}, not
   * both.
   */
  readonly requests: RequestWatcher = {
    head: (b, from, to, method) => {
      if (!this.#off) this.#requestHead(b, from, to, method);
    },
    body: (b, from, to, data) => {
      if (!this.#off) this.#requestBody(b, from, to, data);
    },
    end: () => {
      if (!this.#off) this.#requestEnd();
    },
    stop: () => {
      this.#off = true;
    },
  };

  /** Bytes the visitor sent (as they came, before any rewriting). */
  fromVisitor(chunk: Uint8Array): void {
    if (this.#off || this.#req.raw) return;
    try {
      this.#req.watch(chunk, this.#reqSink);
    } catch (err) {
      if (err instanceof Http1Error) this.#off = true; // not HTTP: stop watching
      else throw err;
    }
  }

  /** Bytes the app answered with: `bytes[from, to)` (all by default). */
  fromApp(bytes: Uint8Array, from = 0, to = bytes.length): void {
    if (this.#off || this.#paused || this.#res.raw) return;
    try {
      this.#res.watch(bytes, this.#resSink, from, to);
    } catch (err) {
      if (err instanceof Http1Error) this.#off = true;
      else throw err;
    }
  }

  /** The connection ended: a response delimited by close is complete now. */
  end(): void {
    if (!this.#off && !this.#paused) {
      try {
        this.#res.end(this.#resSink);
      } catch { /* cut off: nothing complete to report */ }
    }
    if (this.#upgraded) {
      this.#store.upgradedClosed(this.#upgraded, Date.now());
      this.#upgraded = 0;
    }
  }

  #complete(): void {
    const status = this.#resStatus;
    this.#resStatus = 0;
    const r = this.#record;
    const w = this.#waiting.length ? this.#waiting.shift()! : undefined;
    if (w) {
      r.start = w.start;
      r.req = w.req;
      r.reqSize = w.size;
      r.reqTruncated = w.truncated;
    } else if (this.#held) {
      const q = this.#reqBody;
      r.start = this.#heldStart;
      r.req = q.pieces;
      r.reqSize = q.total;
      r.reqTruncated = q.truncated;
      this.#held = false;
    } else return; // no request seen for it
    if (!status) return;
    const a = this.#resBody;
    r.res = a.pieces;
    r.resSize = a.total;
    r.resTruncated = a.truncated;
    r.duration = Date.now() - r.start;
    this.#store.add(r);
    if (status === 101) this.#upgraded = r.n;
  }
}
