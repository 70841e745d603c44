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

/** Largest head (request line or status line plus fields) by default. */
export const DEFAULT_MAX_HEAD = 32 * 1024;
/** Longest chunk-size line (with extensions). */
export const MAX_CHUNK_LINE = 4 * 1024;

/** The stream is not acceptable HTTP/1.x; `status` is what to answer. */
export class Http1Error extends Error {
  /** 400 (malformed or ambiguous), 431 (head too large) or 501 (coding). */
  readonly status: number;
  /** Creates the error with its status. */
  constructor(message: string, status = 400) {
    super(message);
    this.name = "Http1Error";
    this.status = status;
  }
}

/** A parsed head. Field names keep their case; values are trimmed. */
export interface Http1Head {
  /** Request method (requests only). */
  method: string;
  /** Request target as sent (requests only). */
  target: string;
  /** Status code (responses only; 0 for requests). */
  status: number;
  /** Reason phrase (responses only). */
  reason: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  /** Fields in order. */
  headers: Array<[string, string]>;
  /** Per field: the start and end (after its CRLF) of its line in the head's bytes. */
  spans: number[];
  /** The whole head as latin1 text (one char per byte), blank line included. */
  text: string;
}

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

const LATIN1 = new TextDecoder("latin1");
/** Whitespace as a regex's `\s` sees it in latin1 text, by char code. */
const IS_SPACE = new Uint8Array(256);
for (const c of [9, 10, 11, 12, 13, 32, 160]) IS_SPACE[c] = 1;
/** "HTTP/1." then this char code: the version. */
const VERSIONS: Record<number, string> = { 48: "HTTP/1.0", 49: "HTTP/1.1" };
const STATUS_LINE = /^(HTTP\/1\.[01]) ([0-9]{3})(?: ([^\r\n]*))?$/;
// deno-lint-ignore no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** `v` without the optional whitespace (SP, HTAB) around it: RFC 9110 §5.6.3. */
export function trimOws(v: string): string {
  let a = 0, z = v.length;
  while (a < z && (v.charCodeAt(a) === 32 || v.charCodeAt(a) === 9)) a++;
  while (z > a && (v.charCodeAt(z - 1) === 32 || v.charCodeAt(z - 1) === 9)) {
    z--;
  }
  return a === 0 && z === v.length ? v : v.slice(a, z);
}

/** Bytes never allowed in a head (controls but HT, CR, LF; DEL), by byte. */
const IS_BAD = new Uint8Array(256);
for (let c = 0; c < 32; c++) {
  IS_BAD[c] = c === 9 || c === 10 || c === 13 ? 0 : 1;
}
IS_BAD[127] = 1;

/** True if `b` holds a forbidden control byte or a CR not before LF. */
function badBytes(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (IS_BAD[c] === 1 || (c === 13 && b[i + 1] !== 10)) return true;
  }
  return false;
}
/** Token characters (RFC 9110 §5.6.2), by byte. */
const IS_TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") IS_TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c < 58; c++) IS_TOKEN[c] = 1;
for (let c = 65; c < 91; c++) IS_TOKEN[c] = IS_TOKEN[c + 32] = 1;

/**
 * Parses a whole head (with its blank line). `spans` gets, per field, the
 * offsets of its line (start, end after CRLF) in `bytes`: a rewriter can
 * splice lines without re-encoding the rest.
 */
export function parseHead(
  side: "request" | "response",
  bytes: Uint8Array,
  framingOnly = false,
): Http1Head {
  // A watcher (framingOnly) does not judge bytes it passes on untouched.
  if (!framingOnly && badBytes(bytes)) {
    throw new Http1Error("Control character or bare CR in the head");
  }
  // latin1: one char per byte, so string offsets are byte offsets.
  // (fromCharCode beats TextDecoder for the usual small head.)
  const text = bytes.length <= 4096
    ? String.fromCharCode.apply(null, bytes as unknown as number[])
    : LATIN1.decode(bytes);
  return parseHeadText(side, text, framingOnly);
}

/** A head with its first line still to fill in. */
function blankHead(
  text: string,
  headers: Array<[string, string]>,
  spans: number[],
): Http1Head {
  return {
    method: "",
    target: "",
    status: 0,
    reason: "",
    version: "",
    headers,
    spans,
    text,
  };
}

/**
 * {@linkcode parseHead} on a head already in latin1 text (checked bytes).
 * With `framingOnly`, every line is checked but only the fields that decide
 * framing (Host, Upgrade, Connection, Content-Length, Transfer-Encoding, by
 * their lengths) are kept.
 */
export function parseHeadText(
  side: "request" | "response",
  text: string,
  framingOnly = false,
): Http1Head {
  let pos = 0;
  // Empty lines before a request line are allowed (RFC 9112 §2.2).
  if (side === "request") { while (text.startsWith("\r\n", pos)) pos += 2; }
  let eol = text.indexOf("\r\n", pos);
  const first = text.slice(pos, eol);
  const head = blankHead(text, [], []);
  if (side === "request") {
    // method SP target SP HTTP/1.x, read by char codes (no regex, no match
    // array): a token, one space, no whitespace, one space, the version.
    let sp = pos;
    while (sp < eol && IS_TOKEN[text.charCodeAt(sp)] === 1) sp++;
    let t = sp + 1;
    while (t < eol && !IS_SPACE[text.charCodeAt(t)]) t++;
    const v = t + 1;
    head.version = eol === v + 8 && text.startsWith("HTTP/1.", v)
      ? VERSIONS[text.charCodeAt(v + 7)] ?? ""
      : "";
    if (
      sp === pos || text.charCodeAt(sp) !== 32 || t === sp + 1 ||
      text.charCodeAt(t) !== 32 || !head.version
    ) throw new Http1Error("Malformed request line");
    head.method = text.slice(pos, sp);
    head.target = text.slice(sp + 1, t);
  } else {
    const m = STATUS_LINE.exec(first);
    if (!m) throw new Http1Error("Malformed status line");
    head.version = m[1]!;
    head.status = Number(m[2]);
    head.reason = m[3] ?? "";
  }
  const stop = text.length - 2; // the blank line's CRLF
  for (pos = eol + 2; pos < stop; pos = eol + 2) {
    eol = text.indexOf("\r\n", pos);
    let colon = pos;
    while (colon < eol && IS_TOKEN[text.charCodeAt(colon)] === 1) colon++;
    if (colon === pos || text.charCodeAt(colon) !== 58) {
      throw new Http1Error(
        text.charCodeAt(pos) === 32 || text.charCodeAt(pos) === 9
          ? "Obsolete line folding in the head"
          : "Malformed header field",
      );
    }
    const l = colon - pos;
    if (
      framingOnly && l !== 4 && l !== 7 && l !== 10 && l !== 14 && l !== 17
    ) continue;
    head.headers.push([
      text.slice(pos, colon),
      trimOws(text.slice(colon + 1, eol)),
    ]);
    head.spans.push(pos, eol + 2);
  }
  return head;
}

/** What the fields of one head say about its body (reset per head). */
class Framing {
  /** The head's first line (scanHead fills these; parseHead's head has them). */
  method = "";
  status = 0;
  version = "";
  te: string[] | undefined;
  cl: string | undefined;
  /** A Content-Length read from bytes (scanHead), or -1. */
  len = -1;
  hosts = 0;
  connectionUpgrade = false;
  upgrade = false;
  reset(): void {
    this.method = this.version = "";
    this.status = 0;
    this.te = this.cl = undefined;
    this.len = -1;
    this.hosts = 0;
    this.connectionUpgrade = this.upgrade = false;
  }
  /** A Content-Length of plain digits, read from bytes. */
  length(v: number): void {
    if (this.len >= 0 && this.len !== v) {
      throw new Http1Error("Differing Content-Length values");
    }
    this.len = v;
  }
  /** The body's length the fields give (-1: none); throws if they disagree. */
  contentLength(): number {
    let n = this.len;
    if (this.cl !== undefined) {
      if (!/^[0-9]{1,15}$/.test(this.cl)) {
        throw new Http1Error("Malformed Content-Length");
      }
      const v = Number(this.cl);
      if (n >= 0 && n !== v) {
        throw new Http1Error("Differing Content-Length values");
      }
      n = v;
    }
    return n;
  }
  /** One field; names of other lengths than the five that matter are skipped. */
  field(name: string, value: string): void {
    const l = name.length;
    if (l !== 4 && l !== 7 && l !== 10 && l !== 14 && l !== 17) return;
    const n = name.toLowerCase();
    if (n === "content-length") {
      // "5" or "5, 5": one length; two different ones are an error.
      const parts = value.includes(",") ? value.split(",") : [value];
      for (const part of parts) {
        const v = trimOws(part);
        if (this.cl !== undefined && this.cl !== v) {
          throw new Http1Error("Differing Content-Length values");
        }
        this.cl = v;
      }
    } else if (n === "transfer-encoding") {
      this.te ??= [];
      for (const c of value.toLowerCase().split(",")) this.te.push(trimOws(c));
    } else if (n === "host") this.hosts++;
    else if (n === "connection") {
      this.connectionUpgrade ||= value.toLowerCase().split(",").some((s) =>
        trimOws(s) === "upgrade"
      );
    } else if (n === "upgrade") this.upgrade = true;
  }
}
/** One per thread: heads are framed one at a time, synchronously. */
const FRAMING = new Framing();

/** The framing fields' names, as bytes, by length: a plain array, no hashing per line. */
const FRAMING_NAMES: Array<{ name: string; bytes: Uint8Array } | undefined> = [
  "host",
  "upgrade",
  "connection",
  "content-length",
  "transfer-encoding",
]
  .reduce((byLength, name) => {
    byLength[name.length] = { name, bytes: new TextEncoder().encode(name) };
    return byLength;
  }, new Array(18).fill(undefined));

// A watcher's heads share these (frozen: nothing may add to them).
const NO_FIELDS = Object.freeze([]) as unknown as Array<[string, string]>;
const NO_SPANS = Object.freeze([]) as unknown as number[];

/** Bytes `[from, to)` as latin1 text (short runs: a plain loop). */
function text(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * A watcher's head (framingOnly), `b[start, end)`: the first line and the
 * framing fields read from the bytes into `framing`, no text made of the
 * rest and no object: what a watcher keeps, it copies from the bytes.
 * Malformed lines are errors as in {@linkcode parseHeadText}.
 */
function scanHead(
  side: "request" | "response",
  b: Uint8Array,
  start: number,
  end: number,
  framing: Framing,
): void {
  let pos = start;
  if (side === "request") {
    while (b[pos] === 13 && b[pos + 1] === 10) pos += 2;
  }
  // Lines end at CR LF (readHead saw to it that every LF has its CR).
  let eol = pos;
  while (eol < end && !(b[eol] === 13 && b[eol + 1] === 10)) eol++;
  if (side === "request") {
    let sp = pos;
    while (sp < eol && IS_TOKEN[b[sp]!] === 1) sp++;
    let sp2 = eol - 1;
    while (sp2 > sp && b[sp2] !== 32) sp2--;
    framing.version = sp2 === eol - 9 ? versionAt(b, sp2 + 1) : "";
    if (sp === pos || b[sp] !== 32 || sp2 <= sp + 1 || !framing.version) {
      throw new Http1Error("Malformed request line");
    }
    framing.method = methodText(b, pos, sp);
  } else {
    framing.version = versionAt(b, pos);
    const d = pos + 9;
    if (
      !framing.version || b[pos + 8] !== 32 || !isDigit(b[d]) ||
      !isDigit(b[d + 1]) || !isDigit(b[d + 2]) ||
      (d + 3 !== eol && b[d + 3] !== 32)
    ) throw new Http1Error("Malformed status line");
    framing.status = (b[d]! - 48) * 100 + (b[d + 1]! - 48) * 10 + b[d + 2]! -
      48;
  }
  const stop = end - 2; // the blank line's CRLF
  for (pos = eol + 2; pos < stop; pos = eol + 2) {
    eol = pos;
    while (eol < end && !(b[eol] === 13 && b[eol + 1] === 10)) eol++;
    let colon = pos;
    while (colon < eol && IS_TOKEN[b[colon]!] === 1) colon++;
    if (colon === pos || b[colon] !== 58) {
      throw new Http1Error(
        b[pos] === 32 || b[pos] === 9
          ? "Obsolete line folding in the head"
          : "Malformed header field",
      );
    }
    const known = colon - pos < 18 ? FRAMING_NAMES[colon - pos] : undefined;
    if (!known) continue;
    const name = known.bytes;
    let same = true;
    for (let i = 0; same && i < name.length; i++) {
      same = (b[pos + i]! | 0x20) === name[i];
    }
    if (same) fieldBytes(framing, known.name, b, colon + 1, eol);
  }
}

const CHUNKED = new TextEncoder().encode("chunked");
const UPGRADE = new TextEncoder().encode("upgrade");
/** Transfer-Encoding as a watcher keeps it: only the last coding matters. */
const TE_CHUNKED = Object.freeze(["chunked"]) as unknown as string[];
const TE_OTHER = Object.freeze(["other"]) as unknown as string[];

function isOws(c: number | undefined): boolean {
  return c === 32 || c === 9;
}

/** True if `b[from, to)` is `word` (lowercase letters), case aside. */
function sameWord(
  b: Uint8Array,
  from: number,
  to: number,
  word: Uint8Array,
): boolean {
  if (to - from !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if ((b[from + i]! | 0x20) !== word[i]) return false;
  }
  return true;
}

/**
 * A framing field's value `b[from, to)` into `f`, read from the bytes with
 * no text made: what {@linkcode Framing.field} does with text, for the
 * usual shapes (a Content-Length list or odd value takes the text path).
 */
function fieldBytes(
  f: Framing,
  name: string,
  b: Uint8Array,
  from: number,
  to: number,
): void {
  while (from < to && isOws(b[from])) from++;
  while (to > from && isOws(b[to - 1])) to--;
  if (name === "content-length") {
    let v = 0, i = from;
    while (i < to && i - from < 15 && b[i]! >= 48 && b[i]! <= 57) {
      v = v * 10 + b[i++]! - 48;
    }
    if (i === to && to > from) f.length(v);
    else f.field(name, text(b, from, to));
  } else if (name === "transfer-encoding") {
    let a = to;
    while (a > from && b[a - 1] !== 44) a--; // after the last comma
    let z = to;
    while (a < z && isOws(b[a])) a++;
    while (z > a && isOws(b[z - 1])) z--;
    f.te = sameWord(b, a, z, CHUNKED) ? TE_CHUNKED : TE_OTHER;
  } else if (name === "connection") {
    for (let i = from; i <= to;) {
      let j = i;
      while (j < to && b[j] !== 44) j++;
      let a = i, z = j;
      while (a < z && isOws(b[a])) a++;
      while (z > a && isOws(b[z - 1])) z--;
      if (sameWord(b, a, z, UPGRADE)) f.connectionUpgrade = true;
      i = j + 1;
    }
  } else if (name === "upgrade") f.upgrade = true;
  else if (name === "host") f.hosts++;
}

/** Hex digits' values by byte; 255: not one. */
const HEX = new Uint8Array(256).fill(255);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;

/** The usual methods, made once: a watcher's request line makes no text for them. */
const METHODS = ["GET", "PUT", "POST", "HEAD", "PATCH", "DELETE", "OPTIONS"]
  .map((m) => ({ m, bytes: new TextEncoder().encode(m) }));

/** The method `b[from, to)` as text (a made-once string for the usual ones). */
function methodText(b: Uint8Array, from: number, to: number): string {
  for (const { m, bytes } of METHODS) {
    if (bytes.length !== to - from) continue;
    let i = 0;
    while (i < bytes.length && b[from + i] === bytes[i]) i++;
    if (i === bytes.length) return m;
  }
  return text(b, from, to);
}

/** "HTTP/1.0" or "HTTP/1.1" at `at` in `b`, else "". */
function versionAt(b: Uint8Array, at: number): string {
  return b[at] === 72 && b[at + 1] === 84 && b[at + 2] === 84 &&
      b[at + 3] === 80 && b[at + 4] === 47 && b[at + 5] === 49 &&
      b[at + 6] === 46 && (b[at + 7] === 48 || b[at + 7] === 49)
    ? (b[at + 7] === 49 ? "HTTP/1.1" : "HTTP/1.0")
    : "";
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 48 && c <= 57;
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
  #line = "";
  // A chunk-size line being read: its value, digits, length, and whether a
  // CR, whitespace or an extension (';') came.
  #size = 0;
  #digits = 0;
  #lineLength = 0;
  #lineCr = 0;
  #spaced = false;
  #inExt = false;
  #methods: string[] = [];
  #methodsAt = 0;
  #upgradeAfter = false;
  #method = "";
  #status = 0;
  // Where this push's events go: a callback, or a sink.
  #emit: ((e: Http1Event) => void) | undefined;
  #sink: Http1Sink | undefined;

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
    this.#emit = emit;
    this.#sink = undefined;
    return this.#run(chunk, 0, chunk.length);
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
    this.#emit = undefined;
    return this.#run(chunk, from, to);
  }

  /**
   * The stream ended. Ends a close-delimited body; throws if a message was
   * cut off (the caller may ignore that for a connection that just closed).
   */
  end(to: ((e: Http1Event) => void) | Http1Sink): void {
    if (typeof to === "function") {
      this.#emit = to;
      this.#sink = undefined;
    } else {
      this.#sink = to;
      this.#emit = undefined;
    }
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
          if (this.#sink) this.#sink.raw(chunk, at, to);
          else this.#emit!({ kind: "raw", bytes: chunk.subarray(at, to) });
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
        case "chunk-size":
          at = this.#readChunkSize(chunk, at, to);
          break;
        case "trailers":
          at = this.#readLine(chunk, at, to);
          break;
      }
    }
    return at;
  }

  #body(chunk: Uint8Array, start: number, end: number, data: boolean): void {
    if (this.#sink) this.#sink.body(chunk, start, end, data);
    else {
      this.#emit!({ kind: "body", bytes: chunk.subarray(start, end), data });
    }
  }

  #end(): void {
    if (this.#sink) this.#sink.end();
    else this.#emit!(END);
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
    let head: Http1Head | undefined;
    let view: Uint8Array | undefined;
    if (this.#framingOnly) scanHead(this.#side, bytes, hFrom, hTo, framing);
    else {
      view = bytes.subarray(hFrom, hTo);
      head = this.#lastHead = parseHead(this.#side, view);
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
    if (this.#sink) this.#sink.head(bytes, hFrom, hTo);
    else {
      if (!head) {
        head = blankHead("", NO_FIELDS, NO_SPANS);
        head.method = framing.method;
        head.status = framing.status;
        head.version = framing.version;
      }
      view ??= bytes.subarray(hFrom, hTo);
      this.#emit!({ kind: "head", head, bytes: view });
    }
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

  /**
   * A chunk-size line, read from bytes: hex digits, then optional
   * whitespace and extensions up to CR LF. No text is made, so a body of
   * tiny chunks costs no more than the bytes it takes.
   */
  #readChunkSize(chunk: Uint8Array, at: number, to: number): number {
    const start = at;
    while (at < to) {
      const b = chunk[at++]!;
      this.#lineLength++;
      if (this.#lineLength > MAX_CHUNK_LINE) {
        throw new Http1Error("Chunk size line or trailer too long");
      }
      if (b === 10) {
        if (this.#lineCr !== 1 || this.#digits === 0) {
          throw new Http1Error(
            this.#lineCr === 1
              ? "Malformed chunk size"
              : "Bare LF in chunked framing",
          );
        }
        const size = this.#size;
        this.#size =
          this.#digits =
          this.#lineCr =
          this.#lineLength =
            0;
        this.#inExt = this.#spaced = false;
        this.#body(chunk, start, at, false);
        if (size === 0) this.#state = "trailers";
        else {
          this.#left = size;
          this.#state = "chunk-data";
        }
        return at;
      }
      if (this.#lineCr === 1) throw new Http1Error("Malformed chunk size");
      if (b === 13) {
        this.#lineCr = 1;
        continue;
      }
      if (this.#inExt) {
        if (IS_BAD[b] === 1) throw new Http1Error("Malformed chunk size");
        continue;
      }
      const hex = HEX[b]!;
      if (hex !== 255 && !this.#spaced) {
        if (++this.#digits > 12) throw new Http1Error("Malformed chunk size");
        this.#size = this.#size * 16 + hex;
      } else if ((b === 32 || b === 9) && this.#digits > 0) {
        this.#spaced = true;
      } else if (b === 59 && this.#digits > 0) {
        this.#inExt = true;
      } else throw new Http1Error("Malformed chunk size");
    }
    this.#body(chunk, start, at, false);
    return at;
  }

  /** A trailer line (after the last chunk); all of them within `maxHead`. */
  #readLine(chunk: Uint8Array, at: number, to: number): number {
    const start = at;
    let done = false;
    while (at < to) {
      const b = chunk[at++]!;
      if (++this.#lineLength > this.#maxHead) {
        throw new Http1Error("Trailer fields too long");
      }
      if (b === 10) {
        done = true;
        break;
      }
      this.#line += String.fromCharCode(b);
    }
    this.#body(chunk, start, at, false);
    if (!done) return at;
    const line = this.#line;
    this.#line = "";
    if (!line.endsWith("\r")) {
      throw new Http1Error("Bare LF in chunked framing");
    }
    const text = line.slice(0, -1);
    if (text === "") {
      this.#lineLength = 0;
      this.#finish();
    } else if (text.indexOf(":") <= 0 || BAD_VALUE.test(text)) {
      throw new Http1Error("Malformed trailer field");
    }
    return at;
  }
}
