/**
 * The capture tap: watches one tunnelled connection's bytes both ways,
 * parses them (lib/http1/) into requests and responses, and hands finished
 * exchanges to a sink. It never slows or changes the relay: it is given
 * views of what the relay already has, copies at most
 * {@linkcode MAX_CAPTURED_BODY} of each body, and on bytes it cannot parse
 * simply stops watching that connection.
 */

import {
  Http1Error,
  type Http1Event,
  type Http1Head,
  Http1Parser,
  parseHeadText,
} from "../http1/parser.ts";

/** Most bytes of one body a capture keeps; the rest is only counted. */
export const MAX_CAPTURED_BODY = 1024 * 1024;

/**
 * A head's first line, kept as plain values: a capture holds a few objects,
 * not a parsed head's arrays (hundreds of them live at once, and the fewer
 * objects they hold, the less the GC has to copy under load).
 */
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

/** The header fields of a captured message (parsed again from its bytes). */
export function headersOf(
  m: CapturedMessage,
  side: "request" | "response",
): Array<[string, string]> {
  return parseHeadText(side, m.rawHead).headers;
}

/** One side of an exchange as captured. */
export interface CapturedMessage {
  /** The head's first line. */
  head: HeadLine;
  /**
   * The head's bytes as they came, as latin1 text (one char per byte).
   * Captures keep strings, not byte arrays: hundreds live at once, and
   * strings cost the GC far less than array buffers.
   */
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

/** Where a tap reports. */
export interface CaptureSink {
  /** A request got its response (or a 101 began a WebSocket). */
  exchange(x: Exchange): void;
  /** A WebSocket (or other upgraded stream) of `x` closed. */
  upgradedClosed?(x: Exchange): void;
}

/** Bytes as latin1 text, in slices small enough for `apply`. */
export function latin1(b: Uint8Array): string {
  if (b.length <= 16) {
    let short = "";
    for (let i = 0; i < b.length; i++) short += String.fromCharCode(b[i]!);
    return short;
  }
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode.apply(
      null,
      b.subarray(i, i + 8192) as unknown as number[],
    );
  }
  return s;
}

/** Collects one message's body within the limit; reset between messages. */
class Collector {
  raw = "";
  data = "";
  total = 0;
  truncated = false;
  reset(): void {
    this.raw = this.data = "";
    this.total = 0;
    this.truncated = false;
  }
  add(bytes: Uint8Array, data: boolean): void {
    if (bytes.length === 0) return;
    if (data) this.total += bytes.length;
    const room = MAX_CAPTURED_BODY - this.raw.length;
    if (room <= 0) {
      this.truncated ||= data;
      return;
    }
    const piece = latin1(
      bytes.length > room ? bytes.subarray(0, room) : bytes,
    );
    this.raw += piece;
    if (data) this.data += piece;
    if (piece.length < bytes.length) this.truncated = true;
  }
  message(h: Http1Head): CapturedMessage {
    return {
      head: {
        method: h.method,
        target: h.target,
        status: h.status,
        reason: h.reason,
        version: h.version,
      },
      rawHead: h.text,
      rawBody: this.raw,
      body: this.data,
      bodySize: this.total,
      truncated: this.truncated,
    };
  }
}

/** One connection's tap; see the module doc. */
export class ConnectionTap {
  #sink: CaptureSink;
  #remote: string;
  // Watchers only: headers are read again from the text when shown.
  #req = new Http1Parser("request", { framingOnly: true });
  #res = new Http1Parser("response", { framingOnly: true });
  #off = false;
  /** Requests waiting for their response, oldest first. */
  #pending: Exchange[] = [];
  #reqHead: { head: Http1Head; start: number } | undefined;
  #reqBody = new Collector();
  #resHead: Http1Head | undefined;
  #resBody = new Collector();
  #upgraded: Exchange | undefined;

  /** A tap reporting to `sink`; `remoteAddr` names the visitor. */
  constructor(sink: CaptureSink, remoteAddr: string) {
    this.#sink = sink;
    this.#remote = remoteAddr;
  }

  // The parsers' callbacks, made once (not a closure per chunk).
  #onRequest = (e: Http1Event): void => {
    if (e.kind === "head") {
      this.#reqHead = { head: e.head, start: Date.now() };
      this.#reqBody.reset();
      this.#res.expectResponseTo(e.head.method);
    } else if (e.kind === "body") this.#reqBody.add(e.bytes, e.data);
    else if (e.kind === "end" && this.#reqHead) {
      this.#pending.push({
        start: this.#reqHead.start,
        duration: 0,
        remoteAddr: this.#remote,
        request: this.#reqBody.message(this.#reqHead.head),
        response: null,
      });
      this.#reqHead = undefined;
    }
  };

  #onResponse = (e: Http1Event): void => {
    if (e.kind === "head") {
      const s = e.head.status;
      if (s >= 100 && s < 200 && s !== 101) return; // 100 Continue and such
      this.#resHead = e.head;
      this.#resBody.reset();
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
      this.#sink.upgradedClosed?.(this.#upgraded);
      this.#upgraded = undefined;
    }
  }

  #complete(): void {
    const x = this.#pending.shift();
    const head = this.#resHead;
    this.#resHead = undefined;
    if (!x || !head) return;
    x.response = this.#resBody.message(head);
    x.duration = Date.now() - x.start;
    if (head.status === 101) this.#upgraded = x;
    this.#sink.exchange(x);
  }
}
