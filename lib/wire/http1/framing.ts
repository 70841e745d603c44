/**
 * What a head's fields say about its body (RFC 9112 §6): the five fields
 * that decide framing (Host, Upgrade, Connection, Content-Length,
 * Transfer-Encoding), read from parsed text or, for a watcher, straight
 * from the bytes with no text made (scanHead).
 */

import { Http1Error, IS_TOKEN, trimOws } from "./head.ts";

/** What the fields of one head say about its body (reset per head). */
export class Framing {
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
export const FRAMING = new Framing();

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
export const NO_FIELDS = Object.freeze([]) as unknown as Array<
  [string, string]
>;
export const NO_SPANS = Object.freeze([]) as unknown as number[];

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
export function scanHead(
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
export const HEX = new Uint8Array(256).fill(255);
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

/**
 * The head's framing fields, checked (throws what is refused); returns
 * its Content-Length (-1: none).
 */
export function checkFraming(
  side: "request" | "response",
  f: Framing,
): number {
  const te = f.te;
  const cl = f.contentLength();
  if (side === "request") {
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
