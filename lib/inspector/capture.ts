/**
 * The capture tap: watches one tunnelled connection's bytes both ways,
 * frames them (lib/http1/) into requests and responses, and records each
 * finished exchange in a {@linkcode CaptureStore}. It never slows or changes
 * the relay: it reads views of what the relay already has, copies heads and
 * at most {@linkcode MAX_CAPTURED_BODY} of each body into the store's arena
 * (lib/inspector/arena.ts), makes no text (that happens when someone looks),
 * and on bytes it cannot parse simply stops watching that connection.
 */

import {
  Http1Error,
  type Http1Event,
  Http1Parser,
  parseHeadText,
} from "../http1/parser.ts";
import { PIECE } from "./arena.ts";
import type { CaptureRecord, CaptureStore } from "./store.ts";

/** Most bytes of one body a capture keeps; the rest is only counted. */
export const MAX_CAPTURED_BODY = 1024 * 1024;

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
  // Filled message by message (kept, not reallocated); a finished
  // message's pieces are copied out at their exact size.
  #scratch: number[] = [];
  total = 0;
  kept = 0;
  truncated = false;
  #store: CaptureStore;
  constructor(store: CaptureStore) {
    this.#store = store;
  }
  start(head: Uint8Array): void {
    this.#scratch.length = 0;
    this.total = this.kept = 0;
    this.truncated = false;
    this.#store.arena.write(head, this.#scratch, PIECE.HEAD);
  }
  /** The message's pieces, to keep. */
  pieces(): number[] {
    return this.#scratch.slice();
  }
  add(bytes: Uint8Array, data: boolean): void {
    if (bytes.length === 0) return;
    if (data) this.total += bytes.length;
    const room = MAX_CAPTURED_BODY - this.kept;
    if (room <= 0) {
      this.truncated ||= data;
      return;
    }
    const piece = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.#store.arena.write(
      piece,
      this.#scratch,
      data ? PIECE.DATA : PIECE.FRAMING,
    );
    this.kept += piece.length;
    if (piece.length < bytes.length) this.truncated = true;
  }
}

/** One connection's tap; see the module doc. */
export class ConnectionTap {
  #store: CaptureStore;
  #remote: string;
  #replayOf: string | undefined;
  // Watchers only: framing read from the bytes, no text made.
  #req = new Http1Parser("request", { framingOnly: true });
  #res = new Http1Parser("response", { framingOnly: true });
  #off = false;
  /** Requests waiting for their response, oldest first: the first (the
   * usual only one) in its own field, any pipelined ones after it. */
  #first: CaptureRecord | undefined;
  #more: CaptureRecord[] = [];
  #reqStart = 0;
  #reqBody: Collector;
  #resStatus = 0;
  #resBody: Collector;
  #upgraded: CaptureRecord | undefined;

  /**
   * A tap recording into `store`; `remoteAddr` names the visitor, and
   * `replayOf` marks what it records as a replay of that capture.
   */
  constructor(store: CaptureStore, remoteAddr: string, replayOf?: string) {
    this.#store = store;
    this.#remote = remoteAddr;
    this.#replayOf = replayOf;
    this.#reqBody = new Collector(store);
    this.#resBody = new Collector(store);
  }

  // The parsers' callbacks, made once (not a closure per chunk).
  #onRequest = (e: Http1Event): void => {
    if (e.kind === "head") {
      this.#reqStart = Date.now();
      this.#reqBody.start(e.bytes);
      this.#res.expectResponseTo(e.head.method);
    } else if (e.kind === "body") this.#reqBody.add(e.bytes, e.data);
    else if (e.kind === "end" && this.#reqStart) {
      const q = this.#reqBody;
      const record: CaptureRecord = {
        n: 0,
        start: this.#reqStart,
        duration: 0,
        remoteAddr: this.#remote,
        req: q.pieces(),
        reqSize: q.total,
        reqTruncated: q.truncated,
        res: null,
        resSize: 0,
        resTruncated: false,
        closed: 0,
        replayOf: this.#replayOf,
      };
      if (this.#first) this.#more.push(record);
      else this.#first = record;
      this.#reqStart = 0;
    }
  };

  #onResponse = (e: Http1Event): void => {
    if (e.kind === "head") {
      const s = e.head.status;
      if (s >= 100 && s < 200 && s !== 101) return; // 100 Continue and such
      this.#resStatus = s;
      this.#resBody.start(e.bytes);
    } else if (e.kind === "body") this.#resBody.add(e.bytes, e.data);
    else if (e.kind === "end") this.#complete();
  };

  /**
   * A request parse event from someone who already parses the visitor's
   * bytes (the request filter); `undefined`: that parsing stopped. Use this
   * or {@linkcode fromVisitor}, not both.
   */
  requestEvent = (e: Http1Event | undefined): void => {
    if (this.#off) return;
    if (e === undefined) this.#off = true;
    else this.#onRequest(e);
  };

  /** Bytes the visitor sent (as they came, before any rewriting). */
  fromVisitor(chunk: Uint8Array): void {
    if (this.#off || this.#req.raw) return;
    try {
      this.#req.push(chunk, this.#onRequest);
    } catch (err) {
      if (err instanceof Http1Error) this.#off = true; // not HTTP: stop watching
      else throw err;
    }
  }

  /** Bytes the app answered with. */
  fromApp(chunk: Uint8Array): void {
    if (this.#off || this.#res.raw) return;
    try {
      this.#res.push(chunk, this.#onResponse);
    } catch (err) {
      if (err instanceof Http1Error) this.#off = true;
      else throw err;
    }
  }

  /** The connection ended: a response delimited by close is complete now. */
  end(): void {
    if (!this.#off) {
      try {
        this.#res.end((e) => {
          if (e.kind === "end") this.#complete();
        });
      } catch { /* cut off: nothing complete to report */ }
    }
    if (this.#upgraded) {
      this.#upgraded.closed = Date.now();
      this.#store.upgradedClosed(this.#upgraded);
      this.#upgraded = undefined;
    }
  }

  #complete(): void {
    const x = this.#first;
    this.#first = this.#more.length ? this.#more.shift() : undefined;
    const status = this.#resStatus;
    this.#resStatus = 0;
    if (!x || !status) return;
    const r = this.#resBody;
    x.res = r.pieces();
    x.resSize = r.total;
    x.resTruncated = r.truncated;
    x.duration = Date.now() - x.start;
    if (status === 101) this.#upgraded = x;
    this.#store.add(x);
  }
}
