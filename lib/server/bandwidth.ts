/**
 * `--bandwidth N`: bytes a second per tunnel, each direction, shared by all
 * of its public connections (a token bucket holding a second's worth; a read
 * or write past it waits until the bucket has paid for it). Only visitors'
 * connections of a tunnel with the limit are wrapped: without the flag, no
 * connection pays anything.
 */

import type { ByteConn } from "../net/mod.ts";
import type { Tunnel } from "./control.ts";
import type { ServerFeature } from "./plugin.ts";

/** A token bucket over bytes that may go into debt; `take` waits the debt out. */
export class ByteBucket {
  #rate: number;
  #tokens: number;
  #at = Date.now();

  /** `rate` bytes a second, a second's worth at first. */
  constructor(rate: number) {
    this.#rate = this.#tokens = rate;
  }

  /** Gives back `n` bytes paid for and not sent. */
  refund(n: number): void {
    this.#tokens += n;
  }

  /** Pays for `n` bytes; resolves once the bucket is out of debt. */
  take(n: number): Promise<void> | undefined {
    const now = Date.now();
    this.#tokens = Math.min(
      this.#rate,
      this.#tokens + (now - this.#at) * this.#rate / 1000,
    );
    this.#at = now;
    this.#tokens -= n;
    if (this.#tokens >= 0) return undefined;
    const ms = Math.ceil(-this.#tokens * 1000 / this.#rate);
    return new Promise((r) => setTimeout(r, ms));
  }
}

/** A visitor's connection whose bytes each way are paid for in `up` and `down`. */
export function paced(
  conn: ByteConn,
  up: ByteBucket,
  down: ByteBucket,
): ByteConn {
  return {
    read: async (p) => {
      const n = await conn.read(p);
      if (n) await up.take(n);
      return n;
    },
    write: async (p) => {
      // Paid before it goes: a visitor never gets bytes ahead of the rate.
      await down.take(p.length);
      const n = await conn.write(p);
      down.refund(p.length - n);
      return n;
    },
    closeWrite: () => conn.closeWrite(),
    close: () => conn.close(),
  };
}

/** The bandwidth limit as a plug-in: on with `bandwidth`. */
export const bandwidthFeature: ServerFeature = (o) => {
  const rate = o.bandwidth;
  if (!rate) return undefined;
  const buckets = new WeakMap<Tunnel, { up: ByteBucket; down: ByteBucket }>();
  return {
    wrapVisitor(conn, t) {
      let b = buckets.get(t);
      if (!b) {
        buckets.set(
          t,
          b = { up: new ByteBucket(rate), down: new ByteBucket(rate) },
        );
      }
      return paced(conn, b.up, b.down);
    },
  };
};
