/**
 * HTTP/1.x heads: the error type, the parsed head, and the text parser that
 * reads a whole head (request line or status line, fields with their spans)
 * strictly: RFC 9112's grammar, optional whitespace only SP and HTAB.
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

const LATIN1 = new TextDecoder("latin1");
/** Whitespace as a regex's `\s` sees it in latin1 text, by char code. */
const IS_SPACE = new Uint8Array(256);
for (const c of [9, 10, 11, 12, 13, 32, 160]) IS_SPACE[c] = 1;
/** "HTTP/1." then this char code: the version. */
const VERSIONS: Record<number, string> = {
  48: "HTTP/1.0",
  49: "HTTP/1.1",
};
const STATUS_LINE = /^(HTTP\/1\.[01]) ([0-9]{3})(?: ([^\r\n]*))?$/;
// deno-lint-ignore no-control-regex
export const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

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
export const IS_BAD = new Uint8Array(256);
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
export const IS_TOKEN = new Uint8Array(128);
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
export function blankHead(
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
