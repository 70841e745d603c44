/**
 * The client's filter on what visitors send to the local app: every request
 * of a connection (keep-alive and pipelined, not only the first) is parsed
 * (lib/wire/http1/), checked (basic auth, smuggling-prone framing, the name the
 * connection was routed by) and its head rewritten (lib/client/forwarded.ts);
 * bodies, chunked framing and upgraded streams pass byte-exact, as spans of
 * the input (a body of 1-byte chunks is still one piece per read).
 *
 * A refused request never reaches the app, not one byte of it: it is
 * checked before it is forwarded; the visitor gets the answer (400, 401,
 * 405, 421, 431) and the connection closes. After a request that asks to
 * upgrade, the visitor's further bytes wait until the app answers it: a 101
 * switches the connection to raw bytes, any other answer keeps parsing.
 * CONNECT is refused (405): the app is an origin server, not a proxy. TLS
 * passed through is relayed untouched, unless the tunnel asks for basic
 * auth, which cannot be checked inside TLS: then it gets a TLS alert.
 */

import { nameOf, refusal } from "./request_checks.ts";
import { Pieces } from "./pieces.ts";
import {
  type ChannelFacts,
  Http1Error,
  Http1Parser,
  type Http1Sink,
  type InboundFilter,
  type InboundResult,
  type RequestWatcher,
} from "../wire/mod.ts";
import {
  type ForwardedMode,
  type RewriteCache,
  rewriteHead,
  type RewriteOptions,
} from "./forwarded.ts";
import {
  acquire,
  page,
  release,
  SIZES,
  TLS_ACCESS_DENIED,
} from "../net/mod.ts";

export type { InboundFilter, InboundResult, RequestWatcher };

/** Bytes of rewritten heads one push can place without allocating. */
const ARENA = 4 * 1024;
/** The pool's size of buffers that hold an arena (4 KiB). */
const ARENA_LEVEL = SIZES.indexOf(ARENA as typeof SIZES[number]);

/** Options of {@linkcode RequestFilter}. */
export interface RequestFilterOptions {
  /** Forwarded headers. */
  forwarded: ForwardedMode;
  /** A replacement Host value. */
  host?: string | undefined;
  /** `user:password` pairs; empty: no auth. */
  basicAuth?: readonly string[];
  /** What the server saw of this connection (its routed name included). */
  facts?: ChannelFacts | undefined;
  /** Largest request head. */
  maxHead?: number;
  /** Hears every request as it is parsed. */
  watch?: RequestWatcher | undefined;
  /** Counts every request head passed on (the client's metrics). */
  counter?: { requests: number } | undefined;
}

/** True when the options change nothing: the relay can skip parsing. */
export function filterIsNoop(o: RequestFilterOptions): boolean {
  return o.forwarded === "off" && o.host === undefined &&
    !(o.basicAuth?.length);
}

/** A refusal thrown out of the parser's sink: the answer to send. */
class Refused extends Error {
  readonly reply: Uint8Array;
  constructor(reply: Uint8Array) {
    super("refused");
    this.reply = reply;
  }
}

/** One connection's filter; see the module doc. */
export class RequestFilter implements InboundFilter {
  /** What the request parser finds goes here (see `#sink`). */
  static #Requests = class implements Http1Sink {
    #f: RequestFilter;
    constructor(f: RequestFilter) {
      this.#f = f;
    }
    head(b: Uint8Array, from: number, to: number): void {
      this.#f.#head(b, from, to);
    }
    body(b: Uint8Array, from: number, to: number, data: boolean): void {
      this.#f.#out.span(b, from, to);
      this.#f.#o.watch?.body(b, from, to, data);
    }
    end(): void {
      this.#f.#o.watch?.end();
    }
    raw(b: Uint8Array, from: number, to: number): void {
      this.#f.#out.span(b, from, to);
    }
  };

  /** What the answer parser finds goes here. */
  static #Answers = class implements Http1Sink {
    #f: RequestFilter;
    constructor(f: RequestFilter) {
      this.#f = f;
    }
    head(): void {
      this.#f.#answer();
    }
    body(): void {}
    end(): void {}
    raw(): void {}
  };

  #o: RequestFilterOptions;
  #parser: Http1Parser;
  /** The app's answers, framed only to find the one to an upgrade. */
  #answers = new Http1Parser("response", { framingOnly: true });
  #answersOff = false;
  #requests = 0;
  #answered = 0;
  #raw = false;
  #first = true;
  #dead = false;
  /** The routed name (from the facts); every request must be for it. */
  #routed: string | undefined;
  #cache: RewriteCache = {};
  // Rewritten heads of one push go here: the relay writes them before the
  // next push, so the space is reused instead of allocated per request.
  // Taken from the pool at a push's first rewrite and given back once the
  // relay wrote what the push gave: a connection at rest holds none.
  #arena: Uint8Array | undefined;
  #used = 0;
  #alloc = (n: number): Uint8Array => {
    if (this.#used + n > ARENA) return new Uint8Array(n);
    this.#arena ??= acquire(ARENA_LEVEL);
    const out = this.#arena.subarray(this.#used, this.#used + n);
    this.#used += n;
    return out;
  };

  /** This push's output. */
  #out = new Pieces();
  // A hold: the chunk, where its rest starts, and how to wake the relay.
  #held: Uint8Array | undefined;
  #heldAt = 0;
  #wake: (() => void) | undefined;
  #rewrite: RewriteOptions;
  /** The chunk being parsed (a head elsewhere is in the parser's buffer). */
  #parsing: Uint8Array | undefined;

  // The parsers' sinks: small objects with their methods on a prototype,
  // not four closures each, since every connection has them.
  #sink: Http1Sink = new RequestFilter.#Requests(this);
  #answerSink: Http1Sink = new RequestFilter.#Answers(this);

  /** An answer's head: the one to a held upgrade lets the rest go on. */
  #answer(): void {
    const s = this.#answers.status;
    if (s >= 100 && s < 200 && s !== 101) return; // interim
    this.#answered++;
    if (this.#parser.held && this.#answered >= this.#requests) {
      this.#parser.resume(s === 101);
      this.#release();
    }
  }

  /** A filter for one connection. */
  constructor(options: RequestFilterOptions) {
    this.#o = options;
    this.#routed = options.facts ? nameOf(options.facts.host) : undefined;
    this.#rewrite = {
      mode: options.forwarded,
      facts: options.facts,
      host: options.host,
      dropAuthorization: !!options.basicAuth?.length,
    };
    this.#parser = new Http1Parser("request", {
      maxHead: options.maxHead ?? 32 * 1024,
      holdUpgrades: true,
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
        this.#stopWatching();
        if (this.#o.basicAuth?.length) {
          // Credentials inside TLS cannot be checked here: refused, with
          // the TLS way to say 403, rather than passed on unchecked.
          this.#dead = true;
          return { out: [], reply: TLS_ACCESS_DENIED };
        }
        this.#raw = true;
      }
    }
    if (this.#raw) return { out: [chunk] };
    return this.#parse(chunk, 0);
  }

  /** What the held rest gives, now that the app answered (or left). */
  resume(): InboundResult {
    const chunk = this.#held;
    this.#held = undefined;
    if (!chunk || this.#dead) return { out: [] };
    if (this.#parser.held) {
      // The app ended (or the visitor left) without an answer: the rest
      // goes nowhere.
      this.#dead = true;
      this.#stopWatching();
      return { out: [] };
    }
    return this.#parse(chunk, this.#heldAt);
  }

  /** The app's answers: only their heads are looked for. */
  fromApp(b: Uint8Array, from: number, to: number): void {
    if (this.#answersOff || this.#raw) return;
    try {
      this.#answers.watch(b, this.#answerSink, from, to);
    } catch (err) {
      if (!(err instanceof Http1Error)) throw err;
      // Not HTTP: whatever waits for an answer goes nowhere.
      this.#answersOff = true;
      this.#release();
    }
    if (this.#answers.raw) this.#answersOff = true;
  }

  /** The relay wrote what the last push gave: the arena goes back to the pool. */
  written(): void {
    this.#out.clear();
    this.#parsing = undefined;
    const arena = this.#arena;
    this.#arena = undefined;
    if (arena) release(ARENA_LEVEL, arena);
  }

  /** The app is done: a hold ends (its rest is dropped). */
  appEnded(): void {
    this.#answersOff = true;
    this.#release();
  }

  #release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #stopWatching(): void {
    const w = this.#o.watch;
    this.#o.watch = undefined;
    w?.stop();
  }

  #parse(chunk: Uint8Array, from: number): InboundResult {
    this.#used = 0;
    const out = this.#out.start();
    this.#parsing = chunk;
    let at: number;
    try {
      at = this.#parser.watch(chunk, this.#sink, from);
    } catch (err) {
      let reply: Uint8Array;
      if (err instanceof Refused) reply = err.reply;
      else if (err instanceof Http1Error) {
        reply = page(err.status, `Refused: ${err.message}.`);
      } else throw err;
      this.#dead = true;
      this.#stopWatching();
      this.#out.flush();
      return { out, reply };
    }
    this.#out.flush();
    if (at < chunk.length && this.#parser.held) {
      this.#held = chunk;
      this.#heldAt = at;
      if (this.#answersOff) {
        // Nothing can tell us the answer: nothing more is passed on.
        return { out, hold: Promise.resolve() };
      }
      return { out, hold: new Promise<void>((r) => this.#wake = r) };
    }
    return { out };
  }

  #head(b: Uint8Array, from: number, to: number): void {
    const head = this.#parser.lastHead!;
    const refused = refusal(head, this.#o.basicAuth, this.#routed);
    if (refused) throw new Refused(refused);
    this.#requests++;
    this.#answers.expectResponseTo(head.method);
    const view = b.subarray(from, to);
    const out = rewriteHead(
      head,
      view,
      this.#rewrite,
      this.#cache,
      this.#alloc,
    );
    if (out !== view) this.#out.add(out);
    else if (b === this.#parsing) this.#out.span(b, from, to);
    else {
      // The parser's own buffer (a head cut across reads): it is reused,
      // so the bytes are copied.
      const copy = this.#alloc(view.length);
      copy.set(view);
      this.#out.add(copy);
    }
    this.#o.watch?.head(b, from, to, head.method);
    if (this.#o.counter) this.#o.counter.requests++;
  }
}
