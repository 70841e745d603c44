/**
 * DNS messages on the wire (RFC 1035 §4, EDNS from RFC 6891), only as much
 * as an authoritative server needs: read one question from a query, write an
 * answer. Reading never trusts the packet: every length is checked against
 * what is there, a name is at most 255 bytes, and compression pointers may
 * only point backwards, at most {@linkcode MAX_POINTERS} times, so a loop
 * cannot exist.
 */

/** Most compression pointers followed in one name. */
export const MAX_POINTERS = 16;
/** The largest UDP answer without EDNS (RFC 1035 §4.2.1). */
export const UDP_PLAIN_MAX = 512;
/** The largest UDP answer we send even when EDNS offers more (RFC 9715's advice). */
export const UDP_EDNS_MAX = 1232;

/** Record types we know by name. */
export const TYPE = {
  A: 1,
  NS: 2,
  SOA: 6,
  HINFO: 13,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  CAA: 257,
  ANY: 255,
} as const;

/** Response codes. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** A packet that is not a query we can read. */
export class DnsFormatError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DnsFormatError";
  }
}

/** One query, as read. */
export interface Query {
  /** The query's id, echoed. */
  id: number;
  /** The opcode (0: a standard query). */
  opcode: number;
  /** Recursion desired, echoed. */
  rd: boolean;
  /** The name asked for, lower-cased, dot-separated, no final dot. */
  name: string;
  /** The name's labels exactly as sent (case kept: resolvers check it). */
  labels: Uint8Array[];
  /** Question type. */
  type: number;
  /** Question class (1: IN). */
  qclass: number;
  /** The UDP payload size the asker accepts (EDNS), or 0 without EDNS. */
  ednsSize: number;
}

/**
 * Reads a query. Throws {@linkcode DnsFormatError} on anything else:
 * a response (QR set: answering those makes loops), no question or more
 * than one, a bad name, or bytes cut short.
 */
export function parseQuery(p: Uint8Array): Query {
  if (p.length < 12) throw new DnsFormatError("shorter than a header");
  const flags = (p[2]! << 8) | p[3]!;
  if (flags & 0x8000) throw new DnsFormatError("a response, not a query");
  const qd = (p[4]! << 8) | p[5]!;
  const an = (p[6]! << 8) | p[7]!;
  const ns = (p[8]! << 8) | p[9]!;
  const ar = (p[10]! << 8) | p[11]!;
  if (qd !== 1) throw new DnsFormatError(`${qd} questions`);
  const { labels, end } = readName(p, 12);
  if (end + 4 > p.length) throw new DnsFormatError("question cut short");
  const type = (p[end]! << 8) | p[end + 1]!;
  const qclass = (p[end + 2]! << 8) | p[end + 3]!;
  let ednsSize = 0;
  // Only the additional section may hold something we use (an OPT record);
  // a query with answers or authority records is skipped over, not refused.
  let at = end + 4;
  for (let i = 0; i < an + ns + ar; i++) {
    const rr = readName(p, at);
    at = rr.end;
    if (at + 10 > p.length) throw new DnsFormatError("record cut short");
    const rtype = (p[at]! << 8) | p[at + 1]!;
    const rclass = (p[at + 2]! << 8) | p[at + 3]!;
    const rdlen = (p[at + 8]! << 8) | p[at + 9]!;
    at += 10 + rdlen;
    if (at > p.length) throw new DnsFormatError("record data cut short");
    if (i >= an + ns && rtype === TYPE.OPT && rr.labels.length === 0) {
      ednsSize = Math.max(UDP_PLAIN_MAX, rclass);
    }
  }
  const decoder = new TextDecoder("latin1");
  return {
    id: (p[0]! << 8) | p[1]!,
    opcode: (flags >> 11) & 0xf,
    rd: (flags & 0x0100) !== 0,
    name: labels.map((l) => decoder.decode(l).toLowerCase()).join("."),
    labels,
    type,
    qclass,
    ednsSize,
  };
}

/** Reads a (possibly compressed) name at `at`; `end` is just past it in place. */
export function readName(
  p: Uint8Array,
  at: number,
): { labels: Uint8Array[]; end: number } {
  const labels: Uint8Array[] = [];
  let length = 1; // the root's zero byte
  let end = -1;
  let pointers = 0;
  let pos = at;
  for (;;) {
    if (pos >= p.length) throw new DnsFormatError("name cut short");
    const len = p[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= p.length) throw new DnsFormatError("pointer cut short");
      const target = ((len & 0x3f) << 8) | p[pos + 1]!;
      // Backwards only, and not too often: no loops, bounded work.
      if (target >= pos || ++pointers > MAX_POINTERS) {
        throw new DnsFormatError("bad compression pointer");
      }
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new DnsFormatError("unknown label type");
    if (pos + 1 + len > p.length) throw new DnsFormatError("label cut short");
    length += len + 1;
    if (length > 255) throw new DnsFormatError("name longer than 255 bytes");
    labels.push(p.subarray(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { labels, end };
}

/** A resource record to write. */
export interface ResourceRecord {
  /** Owner name, dot-separated; `null`: the question's name (a pointer to it). */
  name: string | null;
  /** Type. */
  type: number;
  /** Time to live, seconds. */
  ttl: number;
  /** The record's data, already encoded. */
  data: Uint8Array;
}

/** What an answer holds besides the echoed question. */
export interface Answer {
  /** Response code. */
  rcode: number;
  /** Authoritative answer. */
  aa: boolean;
  /** Answer section. */
  answers: ResourceRecord[];
  /** Authority section. */
  authority: ResourceRecord[];
}

/**
 * Writes the response to `q`. When it would be longer than `max` bytes, the
 * records are left out and TC is set, so that the asker retries over TCP.
 */
export function encodeResponse(q: Query, a: Answer, max: number): Uint8Array {
  const out: number[] = [];
  const u16 = (n: number) => out.push((n >> 8) & 0xff, n & 0xff);
  const header = (tc: boolean, an: number, ns: number, ar: number) => {
    u16(q.id);
    out.push(
      0x80 | (q.opcode << 3) | (a.aa ? 0x04 : 0) | (tc ? 0x02 : 0) |
        (q.rd ? 0x01 : 0),
      a.rcode & 0xf,
    );
    u16(1);
    u16(an);
    u16(ns);
    u16(ar);
  };
  const edns = q.ednsSize > 0;
  header(false, a.answers.length, a.authority.length, edns ? 1 : 0);
  for (const l of q.labels) out.push(l.length, ...l);
  out.push(0);
  u16(q.type);
  u16(q.qclass);
  const afterQuestion = out.length;
  for (const r of [...a.answers, ...a.authority]) {
    if (r.name === null) u16(0xc00c); // the question's name, at offset 12
    else writeName(out, r.name);
    u16(r.type);
    u16(1); // IN
    u16(r.ttl >>> 16);
    u16(r.ttl & 0xffff);
    u16(r.data.length);
    for (const b of r.data) out.push(b);
  }
  if (edns) writeOpt(out);
  if (out.length > max) {
    // Too big: the question alone, TC set, no record counts.
    out.length = afterQuestion;
    out[2] = out[2]! | 0x02;
    out.fill(0, 6, 10);
    if (edns) writeOpt(out);
  }
  return new Uint8Array(out);
}

/** An answer with no records: a refusal, a format error, "not implemented". */
export function encodeError(q: Query, rcode: number): Uint8Array {
  return encodeResponse(
    q,
    { rcode, aa: false, answers: [], authority: [] },
    UDP_PLAIN_MAX,
  );
}

function writeOpt(out: number[]): void {
  // Root name, type OPT, our UDP size, no extended rcode/flags, no options.
  out.push(0, 0, TYPE.OPT, UDP_EDNS_MAX >> 8, UDP_EDNS_MAX & 0xff);
  out.push(0, 0, 0, 0, 0, 0);
}

/** Appends `name` (dot-separated) uncompressed. */
export function writeName(out: number[], name: string): void {
  for (const label of name.split(".")) {
    if (!label) continue;
    out.push(label.length);
    for (let i = 0; i < label.length; i++) out.push(label.charCodeAt(i));
  }
  out.push(0);
}

/** A name's wire form, for record data (NS, SOA). */
export function nameBytes(name: string): number[] {
  const out: number[] = [];
  writeName(out, name);
  return out;
}

/** TXT data: each string at most 255 bytes. */
export function txtData(values: string[]): Uint8Array {
  const out: number[] = [];
  for (const v of values) {
    const b = new TextEncoder().encode(v).subarray(0, 255);
    out.push(b.length, ...b);
  }
  return new Uint8Array(out);
}
