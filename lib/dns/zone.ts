/**
 * The tunnel zone's records, answered with authority: SOA and NS at the
 * apex, A/AAAA for the apex and every one-label name under it (the tunnel
 * names), and TXT at `_acme-challenge.<apex>` while an ACME order waits for
 * it. Names deeper than one label do not exist (NXDOMAIN); names outside the
 * zone are refused: this is no resolver.
 */

import { ipv4Bytes, ipv6Bytes } from "../net/mod.ts";
import {
  type Answer,
  nameBytes,
  type Query,
  RCODE,
  type ResourceRecord,
  txtData,
  TYPE,
} from "./wire.ts";

/** TTL of A/AAAA/NS answers (seconds). */
export const ADDRESS_TTL = 60;
/** TTL of challenge TXT answers and of "no such record" (SOA minimum). */
export const CHALLENGE_TTL = 10;

/** What the zone answers with. */
export interface ZoneOptions {
  /** The apex: the server's host, e.g. `tunnel.example.com`. */
  apex: string;
  /** IPv4 addresses of the server (A records). */
  ipv4: string[];
  /** IPv6 addresses of the server (AAAA records). */
  ipv6: string[];
  /** The SOA's mailbox, as an email address (`hostmaster@<apex>` if absent). */
  email?: string | undefined;
}

/** The zone; see the module doc. */
export class Zone {
  /** The apex, lower-cased, without a final dot. */
  readonly apex: string;
  #a: Uint8Array[];
  #aaaa: Uint8Array[];
  #soa: Uint8Array;
  #ns: Uint8Array;
  #txt = new Map<string, string[]>();
  #serial: number;
  #o: ZoneOptions;

  /** A zone with `options`' records. */
  constructor(options: ZoneOptions) {
    this.#o = options;
    this.apex = options.apex.toLowerCase().replace(/\.$/, "");
    this.#a = options.ipv4.map(ipv4Bytes);
    this.#aaaa = options.ipv6.map(ipv6Bytes);
    this.#ns = new Uint8Array(nameBytes(this.apex));
    this.#serial = Math.floor(Date.now() / 1000) >>> 0;
    this.#soa = this.#makeSoa();
  }

  /** The name ACME's DNS-01 challenge looks at for `domain` (RFC 8555 §8.4). */
  static challengeName(domain: string): string {
    return `_acme-challenge.${domain.replace(/^\*\./, "").toLowerCase()}`;
  }

  /** Serves these TXT values at `name` (replacing any) until removed. */
  setTxt(name: string, values: string[]): void {
    if (values.length) this.#txt.set(name.toLowerCase(), values);
    else this.#txt.delete(name.toLowerCase());
    this.#bump();
  }

  /** The TXT values served at `name` now. */
  txt(name: string): string[] {
    return this.#txt.get(name.toLowerCase()) ?? [];
  }

  /** The answer to `q`. */
  answer(q: Query): Answer {
    const none = (rcode: number): Answer => ({
      rcode,
      aa: false,
      answers: [],
      authority: [],
    });
    if (q.opcode !== 0) return none(RCODE.NOTIMP);
    if (q.qclass !== 1) return none(RCODE.REFUSED);
    // A dot inside a label would pass for a label boundary in `name`.
    if (q.labels.some((l) => l.includes(0x2e))) return none(RCODE.REFUSED);
    const name = q.name;
    const inZone = name === this.apex || name.endsWith(`.${this.apex}`);
    if (!inZone) return none(RCODE.REFUSED);
    const rel = name.slice(0, Math.max(0, name.length - this.apex.length - 1));
    const negative = (rcode: number): Answer => ({
      rcode,
      aa: true,
      answers: [],
      authority: [{
        name: this.apex,
        type: TYPE.SOA,
        ttl: CHALLENGE_TTL,
        data: this.#soa,
      }],
    });
    const txt = this.#txt.get(name);
    if (txt) {
      if (q.type !== TYPE.TXT && q.type !== TYPE.ANY) {
        return negative(RCODE.NOERROR);
      }
      return this.#records(
        TYPE.TXT,
        CHALLENGE_TTL,
        txt.map((v) => txtData([v])),
      )!;
    }
    if (rel.includes(".")) return negative(RCODE.NXDOMAIN);
    // Underscore names (service labels) are never tunnel names.
    if (rel.startsWith("_")) return negative(RCODE.NOERROR);
    switch (q.type) {
      case TYPE.A:
        return this.#records(TYPE.A, ADDRESS_TTL, this.#a) ??
          negative(RCODE.NOERROR);
      case TYPE.AAAA:
        return this.#records(TYPE.AAAA, ADDRESS_TTL, this.#aaaa) ??
          negative(RCODE.NOERROR);
      case TYPE.ANY:
        // RFC 8482: one small record instead of everything (no amplifier).
        return this.#records(TYPE.HINFO, ADDRESS_TTL, [
          new Uint8Array([7, ...new TextEncoder().encode("RFC8482"), 0]),
        ])!;
    }
    if (rel === "") {
      if (q.type === TYPE.SOA) {
        return this.#records(TYPE.SOA, CHALLENGE_TTL, [this.#soa])!;
      }
      if (q.type === TYPE.NS) {
        return this.#records(TYPE.NS, ADDRESS_TTL, [this.#ns])!;
      }
    }
    return negative(RCODE.NOERROR);
  }

  #records(
    type: number,
    ttl: number,
    data: Uint8Array[],
  ): Answer | undefined {
    if (data.length === 0) return undefined;
    const answers: ResourceRecord[] = data.map((d) => ({
      name: null,
      type,
      ttl,
      data: d,
    }));
    return { rcode: RCODE.NOERROR, aa: true, answers, authority: [] };
  }

  #bump(): void {
    this.#serial = (this.#serial + 1) >>> 0;
    this.#soa = this.#makeSoa();
  }

  #makeSoa(): Uint8Array {
    const [user, domain] = (this.#o.email ?? `hostmaster@${this.apex}`)
      .split("@");
    // The mailbox's first label is the user (its dots escaped away).
    const rname = `${(user ?? "hostmaster").replaceAll(".", "-")}.${
      domain ?? this.apex
    }`;
    const out = [...nameBytes(this.apex), ...nameBytes(rname)];
    for (
      const n of [this.#serial, 3600, 600, 86400, CHALLENGE_TTL]
    ) {
      out.push(
        (n >>> 24) & 0xff,
        (n >>> 16) & 0xff,
        (n >>> 8) & 0xff,
        n & 0xff,
      );
    }
    return new Uint8Array(out);
  }
}
