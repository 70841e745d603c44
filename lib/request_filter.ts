/**
 * The client's filter on what visitors send to the local app: every request
 * of a connection (keep-alive and pipelined, not only the first) is parsed
 * (lib/http1/), checked (basic auth, smuggling-prone framing) and its head
 * rewritten (lib/forwarded.ts); bodies, chunked framing and upgraded streams
 * pass byte-exact. A refused request never reaches the app: the visitor gets
 * the answer (401, 400, 431) and the connection closes.
 */

import { basicAuthOk, unauthorized } from "./basic_auth.ts";
import type { ChannelFacts } from "./facts.ts";
import {
  type ForwardedMode,
  type RewriteCache,
  rewriteHead,
  type RewriteOptions,
} from "./forwarded.ts";

/** Bytes of rewritten heads one push can place without allocating. */
const ARENA = 4 * 1024;
import { Http1Error, type Http1Event, Http1Parser } from "./http1/parser.ts";
import { page } from "./pages.ts";

/** What the relay does with a chunk from the visitor. */
export interface InboundResult {
  /** Bytes for the local app, in order (views; write before the next push). */
  out: Uint8Array[];
  /** If set: forward nothing more; answer the visitor with this and close. */
  reply?: Uint8Array;
}

/** A transform of the visitor-to-app bytes, as the relay uses it. */
export interface InboundFilter {
  /** Takes the next chunk. */
  push(chunk: Uint8Array): InboundResult;
}

/** Options of {@linkcode RequestFilter}. */
export interface RequestFilterOptions {
  /** Forwarded headers. */
  forwarded: ForwardedMode;
  /** A replacement Host value. */
  host?: string | undefined;
  /** `user:password` pairs; empty: no auth. */
  basicAuth?: readonly string[];
  /** What the server saw of this connection. */
  facts?: ChannelFacts | undefined;
  /** Largest request head. */
  maxHead?: number;
  /**
   * Sees every parse event (a capture tap), so the requests are parsed once.
   * Called with `undefined` when parsing stops (not HTTP, or refused).
   */
  watch?: ((e: Http1Event | undefined) => void) | undefined;
}

/** True when the options change nothing: the relay can skip parsing. */
export function filterIsNoop(o: RequestFilterOptions): boolean {
  return o.forwarded === "off" && o.host === undefined &&
    !(o.basicAuth?.length);
}

/** One connection's filter; see the module doc. */
export class RequestFilter implements InboundFilter {
  #o: RequestFilterOptions;
  #parser: Http1Parser;
  #raw = false;
  #first = true;
  #dead = false;
  #cache: RewriteCache = {};
  // Rewritten heads of one push go here: the relay writes them before the
  // next push, so the space is reused instead of allocated per request.
  // Made on the first rewrite: a connection that never needs one (or only
  // once) costs no buffer.
  #arena: Uint8Array | undefined;
  #used = 0;
  #alloc = (n: number): Uint8Array => {
    if (this.#used + n > ARENA) return new Uint8Array(n);
    this.#arena ??= new Uint8Array(ARENA);
    const out = this.#arena.subarray(this.#used, this.#used + n);
    this.#used += n;
    return out;
  };

  // This push's output and refusal, filled by #onEvent (made once, as are
  // the rewrite's options: nothing is made per request but the output).
  #out: Uint8Array[] = [];
  #reply: Uint8Array | undefined;
  #rewrite: RewriteOptions;
  #onEvent = (e: Http1Event): void => {
    if (this.#reply) return;
    this.#o.watch?.(e);
    if (e.kind === "head") {
      const auth = this.#o.basicAuth;
      if (auth?.length) {
        const given = e.head.headers.find(([k]) =>
          k.toLowerCase() === "authorization"
        )?.[1];
        if (!basicAuthOk(given, auth)) {
          this.#reply = unauthorized();
          return;
        }
      }
      this.#out.push(
        rewriteHead(e.head, e.bytes, this.#rewrite, this.#cache, this.#alloc),
      );
    } else if (e.kind === "body" || e.kind === "raw") this.#out.push(e.bytes);
  };

  /** A filter for one connection. */
  constructor(options: RequestFilterOptions) {
    this.#o = options;
    this.#rewrite = {
      mode: options.forwarded,
      facts: options.facts,
      host: options.host,
      dropAuthorization: !!options.basicAuth?.length,
    };
    this.#parser = new Http1Parser("request", {
      maxHead: options.maxHead ?? 32 * 1024,
    });
  }

  /** Rewrites or refuses; see {@linkcode InboundFilter}. */
  push(chunk: Uint8Array): InboundResult {
    if (this.#dead) return { out: [] };
    if (this.#first) {
      this.#first = false;
      // TLS passed through (the server says so, or it starts like a TLS
      // record): nothing here can be read; pass it on untouched.
      if (this.#o.facts?.tls === "passthrough" || chunk[0] === 0x16) {
        this.#raw = true;
        this.#o.watch?.(undefined);
      }
    }
    if (this.#raw) return { out: [chunk] };
    this.#used = 0;
    const out: Uint8Array[] = this.#out = [];
    this.#reply = undefined;
    try {
      this.#parser.push(chunk, this.#onEvent);
    } catch (err) {
      if (!(err instanceof Http1Error)) throw err;
      this.#reply = page(err.status, `Refused: ${err.message}.`);
    }
    const reply = this.#reply;
    if (reply) {
      this.#dead = true;
      this.#o.watch?.(undefined);
      return { out, reply };
    }
    return { out };
  }
}
