/**
 * `--rate-limit N`: new public connections a second, per tunnel and per
 * visitor IP, each a token bucket holding up to N (a burst of N, then N a
 * second). Past it: 429 with `Retry-After` (a TLS alert when TLS is passed
 * through). The per-IP table is bounded: past {@linkcode MAX_RATE_IPS}
 * addresses, full buckets are dropped, then all.
 */

import { page, type PeekResult, TLS_INTERNAL_ERROR } from "../net/mod.ts";
import type { Tunnel } from "./control.ts";
import type { Gate, GateAnswer, ServerFeature } from "./plugin.ts";

/** Visitor addresses whose buckets are kept at most. */
export const MAX_RATE_IPS = 65_536;

/** A token bucket: `tokens` as of `at` (ms). */
interface Bucket {
  tokens: number;
  at: number;
}

/** See the module doc. */
export class RateLimit implements Gate {
  #rate: number;
  #tunnels = new WeakMap<Tunnel, Bucket>();
  #ips = new Map<string, Bucket>();

  /** `rate` new connections a second. */
  constructor(rate: number) {
    this.#rate = rate;
  }

  check(t: Tunnel, r: PeekResult, ip: string): GateAnswer | undefined {
    const now = Date.now();
    let tb = this.#tunnels.get(t);
    if (!tb) this.#tunnels.set(t, tb = { tokens: this.#rate, at: now });
    let ib = this.#ips.get(ip);
    if (!ib) {
      if (this.#ips.size >= MAX_RATE_IPS) this.#sweep(now);
      this.#ips.set(ip, ib = { tokens: this.#rate, at: now });
    }
    const wait = Math.max(
      this.#take(tb, now, false),
      this.#take(ib, now, false),
    );
    if (wait > 0) {
      const seconds = Math.ceil(wait);
      return {
        outcome: "rate_limited",
        bytes: r.kind === "tls" ? TLS_INTERNAL_ERROR : page(
          429,
          `Too many new connections to ${t.publicHost}; try again in ${seconds} s.`,
          {
            headOnly: r.http?.method === "HEAD",
            headers: [`Retry-After: ${seconds}`],
          },
        ),
      };
    }
    this.#take(tb, now, true);
    this.#take(ib, now, true);
    return undefined;
  }

  /** Refills `b`; takes a token if `take` and one is there. Seconds until one is (0: now). */
  #take(b: Bucket, now: number, take: boolean): number {
    const rate = this.#rate;
    b.tokens = Math.min(rate, b.tokens + (now - b.at) * rate / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      if (take) b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / rate;
  }

  /** Drops the buckets that have refilled (they hold nothing); all if none has. */
  #sweep(now: number): void {
    for (const [ip, b] of this.#ips) {
      if (b.tokens + (now - b.at) * this.#rate / 1000 >= this.#rate) {
        this.#ips.delete(ip);
      }
    }
    if (this.#ips.size >= MAX_RATE_IPS) this.#ips.clear();
  }
}

/** The rate limit as a plug-in: on with `rateLimit`. */
export const rateLimitFeature: ServerFeature = (o) =>
  o.rateLimit ? { gates: [new RateLimit(o.rateLimit)] } : undefined;
