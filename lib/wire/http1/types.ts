/** What the HTTP/1 parser reports, and how it is set up. */

import type { Http1Head } from "./head.ts";

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
