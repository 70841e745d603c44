/**
 * Which names are taken, by whom, and for how long after: the tunnels up
 * now, the names held for a client that went away (so nobody else takes its
 * URL while it reconnects), and how many tunnels each IP has. It decides who
 * gets a name; it opens no socket.
 */

import type { Refusal } from "../wire/mod.ts";
import { constantTimeEqual } from "../net/mod.ts";
import { Routes } from "./routes.ts";
import { isValidName, randomName, randomSecret } from "./subdomains.ts";

/** What a registered tunnel carries; the server adds its session. */
export interface Registered {
  /** The subdomain. */
  name: string;
  /** Proves on reconnect that a client held the name. */
  secret: string;
  /** The client's IP address, for the per-IP limit. */
  ip: string;
  /** Several clients share it (a pool); its secret is the pool's. */
  pooled?: boolean;
}

/** What {@linkcode Registry.claim} decides. */
export interface Claim<T> {
  /** The tunnel's name. */
  name: string;
  /** Its secret (a pool's: the pool secret). */
  secret: string;
  /** A live tunnel of the same client to close first. */
  replaced?: T;
  /** The live pool this client joins (it gets no tunnel of its own). */
  join?: T;
}

/** Limits of a {@linkcode Registry}. */
export interface RegistryOptions {
  /** The public base host: routes are `<name>.<host>`. */
  host: string;
  /** Tunnels at once. */
  maxTunnels: number;
  /** Tunnels at once from one IP. */
  maxTunnelsPerIp: number;
  /** Milliseconds a name is held after its client vanished. */
  nameHold: number;
  /** Names nobody may ask for. */
  reserved: Set<string>;
}

/** The name table; see the module doc. */
export class Registry<T extends Registered> {
  #o: RegistryOptions;
  #routes = new Routes<T>();
  #tunnels = new Map<string, T>();
  /** Names held for a vanished client: its secret. */
  #held = new Until();
  /** Blocked names: what clients are told. */
  #banned = new Until();
  #limits: Limits;

  /** An empty table. */
  constructor(options: RegistryOptions) {
    this.#o = options;
    this.#limits = new Limits(options.maxTunnels, options.maxTunnelsPerIp);
  }

  /** The tunnels up now. */
  values(): IterableIterator<T> {
    return this.#tunnels.values();
  }

  /** How many tunnels are up. */
  get size(): number {
    return this.#tunnels.size;
  }

  /** The tunnel a peeked host routes to. */
  lookup(host: string, port?: number): T | undefined {
    return this.#routes.lookup(host, port);
  }

  /** The tunnel registered under `name`. */
  get(name: string): T | undefined {
    return this.#tunnels.get(name);
  }

  /**
   * Decides the name for a new tunnel: the resumed one (with its secret),
   * else the requested one, else a fresh one. `replaced` is a live tunnel of
   * the same client to close (its connection died unnoticed). With `pool`,
   * see {@linkcode Registry.#claimPool}.
   */
  claim(
    ip: string,
    requested: string | undefined,
    resume: { name: string; secret: string } | undefined,
    pool?: { secret: string | undefined },
  ): Claim<T> | Refusal {
    let name: string | undefined;
    let secret = randomSecret();
    let replaced: T | undefined;
    for (const n of [resume?.name, requested?.toLowerCase()]) {
      if (n !== undefined && this.bannedFor(n)) {
        return { status: 403, message: this.#banned.text(n)! };
      }
    }
    if (pool) {
      return this.#claimPool(ip, requested ?? resume?.name, pool, resume);
    }
    // A name the server no longer knows (it restarted) is free: the old
    // holder may have it back, as it could ask for it by --subdomain.
    if (
      resume && isValidName(resume.name) &&
      !this.#o.reserved.has(resume.name) &&
      (this.#holdsFor(resume.name, resume.secret) ||
        (!this.#tunnels.has(resume.name) && !this.heldFor(resume.name)))
    ) {
      name = resume.name;
      secret = resume.secret;
      replaced = this.#tunnels.get(name);
    }
    if (!name && requested) {
      const wanted = requested.toLowerCase();
      if (!isValidName(wanted) || this.#o.reserved.has(wanted)) {
        return badName(wanted);
      }
      const taken = this.#taken(wanted);
      if (taken) return taken;
      name = wanted;
    }
    const full = this.#full(ip, replaced);
    if (full) return full;
    name ??= this.#freshName();
    return replaced ? { name, secret, replaced } : { name, secret };
  }

  /**
   * A pool's claim: join the live pool of the name with its secret (none:
   * 409, a wrong one: 403), or start it: on a free name, or on one held for
   * the same pool secret (its members all went away a moment ago). A
   * reconnecting member resumes with the pool's name and secret.
   */
  #claimPool(
    ip: string,
    requested: string | undefined,
    pool: { secret: string | undefined },
    resume: { name: string; secret: string } | undefined,
  ): Claim<T> | Refusal {
    const wanted = requested?.toLowerCase();
    const secret = pool.secret ??
      (resume && resume.name === wanted ? resume.secret : undefined);
    if (wanted === undefined) {
      return this.#full(ip) ??
        { name: this.#freshName(), secret: secret ?? randomSecret() };
    }
    if (!isValidName(wanted) || this.#o.reserved.has(wanted)) {
      return badName(wanted);
    }
    const live = this.#tunnels.get(wanted);
    if (live?.pooled && secret !== undefined) {
      if (!constantTimeEqual(live.secret, secret)) {
        return {
          status: 403,
          message: `Wrong pool secret for "${wanted}"`,
        };
      }
      return this.#full(ip) ?? { name: wanted, secret, join: live };
    }
    if (live?.pooled) {
      return {
        status: 409,
        message:
          `The name "${wanted}" is a pool's: join it with its pool secret (--pool-secret)`,
      };
    }
    const mine = secret !== undefined && this.#holdsFor(wanted, secret);
    if (!mine) {
      const taken = this.#taken(wanted);
      if (taken) return taken;
    }
    return this.#full(ip) ?? { name: wanted, secret: secret ?? randomSecret() };
  }

  /** Why `name` cannot be had now (in use, or held), if so. */
  #taken(name: string): Refusal | undefined {
    if (this.#tunnels.has(name)) {
      return { status: 409, message: `The name "${name}" is in use` };
    }
    const left = this.heldFor(name);
    return left ? heldRefusal(name, left) : undefined;
  }

  /** The server's and the IP's limits for one more client (`replaced` goes). */
  #full(ip: string, replaced?: T): Refusal | undefined {
    return this.#limits.refusal(ip, replaced);
  }

  /**
   * Counts one more (`+1`) or one fewer (`-1`) client from `ip`: each
   * tunnel, and each member of a pool (they count as tunnels do).
   */
  member(ip: string, delta: 1 | -1): void {
    this.#limits.count(ip, delta);
  }

  /**
   * Puts a tunnel in the table (after {@linkcode claim}); `route`: its name
   * routes HTTP (not for a TCP tunnel, which has a port instead).
   */
  add(t: T, route = true): void {
    this.#held.delete(t.name);
    this.#tunnels.set(t.name, t);
    if (route) this.#routes.set(`${t.name}.${this.#o.host}`, t);
    if (!t.pooled) this.member(t.ip, 1); // a pool counts its members
  }

  /**
   * Takes a tunnel out; its name is held for its secret unless `release`
   * (a clean exit). False if it was not (or no longer) in the table.
   */
  remove(t: T, release = false): boolean {
    if (this.#tunnels.get(t.name) !== t) return false;
    this.#tunnels.delete(t.name);
    this.#routes.delete(`${t.name}.${this.#o.host}`);
    if (!t.pooled) this.member(t.ip, -1);
    if (!release && this.#o.nameHold > 0) {
      this.#held.set(t.name, this.#o.nameHold, t.secret);
    }
    return true;
  }

  /**
   * A client's clean exit: frees `name` now if `secret` proves it is the
   * holder. Returns the live tunnel to close, if there is one.
   */
  release(
    name: string,
    secret: string,
  ): { ok: boolean; live: T | undefined } {
    if (!this.#holdsFor(name, secret)) return { ok: false, live: undefined };
    this.#held.delete(name);
    const live = this.#tunnels.get(name);
    if (live) this.remove(live, true);
    return { ok: true, live };
  }

  /**
   * Blocks `name` for `ms` (Infinity: until the server restarts): no client
   * gets it, with its secret or without, and each is told `why` (403). The
   * live tunnel, if any, is the caller's to end.
   */
  ban(
    name: string,
    ms: number,
    why = `The name "${name}" is blocked by the server's operator`,
  ): void {
    this.#banned.set(name, ms, why);
  }

  /** Milliseconds `name` stays blocked (0: not blocked). */
  bannedFor(name: string): number {
    return this.#banned.left(name);
  }

  /** Milliseconds `name` stays held for someone else (0: not held). */
  heldFor(name: string): number {
    return this.#held.left(name);
  }

  #holdsFor(name: string, secret: string): boolean {
    const active = this.#tunnels.get(name);
    if (active) return constantTimeEqual(active.secret, secret);
    const held = this.#held.left(name) > 0 ? this.#held.text(name) : undefined;
    return held !== undefined && constantTimeEqual(held, secret);
  }

  #freshName(): string {
    // Expired holds are dropped as we go; the map stays bounded by the churn.
    this.#held.expire();
    for (;;) {
      const name = randomName();
      if (
        !this.#tunnels.has(name) && !this.#held.has(name) &&
        !this.#o.reserved.has(name) && !this.#banned.has(name)
      ) {
        return name;
      }
    }
  }
}

export type { Refusal };

/** Names kept until a time, each with a text (a hold's secret, a ban's reason). */
class Until {
  #m = new Map<string, { until: number; text: string }>();

  /** Keeps `name` for `ms` (Infinity: for good) with `text`. */
  set(name: string, ms: number, text: string): void {
    this.#m.delete(name); // to the end: the oldest stay first
    this.#m.set(name, { until: Date.now() + ms, text });
  }

  /** Milliseconds `name` stays (0: not kept); an expired one is dropped. */
  left(name: string): number {
    const e = this.#m.get(name);
    if (!e) return 0;
    const left = e.until - Date.now();
    if (left <= 0) this.#m.delete(name);
    return Math.max(0, left);
  }

  /** The text kept with `name` (expired or not). */
  text(name: string): string | undefined {
    return this.#m.get(name)?.text;
  }

  /** Whether `name` is kept (expired or not). */
  has(name: string): boolean {
    return this.#m.has(name);
  }

  /** Drops `name`. */
  delete(name: string): void {
    this.#m.delete(name);
  }

  /** Drops expired names from the oldest on, up to the first that is not. */
  expire(): void {
    const now = Date.now();
    for (const [n, e] of this.#m) {
      if (e.until > now) break;
      this.#m.delete(n);
    }
  }
}

/** Clients counted against the server's and each IP's limits. */
class Limits {
  #max: number;
  #maxPerIp: number;
  #clients = 0;
  #perIp = new Map<string, number>();

  /** At most `max` clients, `maxPerIp` from one IP. */
  constructor(max: number, maxPerIp: number) {
    this.#max = max;
    this.#maxPerIp = maxPerIp;
  }

  /** One more (`+1`) or one fewer (`-1`) client from `ip`. */
  count(ip: string, delta: 1 | -1): void {
    this.#clients += delta;
    const n = (this.#perIp.get(ip) ?? 0) + delta;
    if (n > 0) this.#perIp.set(ip, n);
    else this.#perIp.delete(ip);
  }

  /** Why one more client from `ip` may not come (`replaced` goes first), if so. */
  refusal(ip: string, replaced?: { ip: string }): Refusal | undefined {
    if (!replaced && this.#clients >= this.#max) {
      return {
        status: 503,
        message: `The server is full (${this.#max} tunnels)`,
      };
    }
    const fromIp = (this.#perIp.get(ip) ?? 0) -
      (replaced && replaced.ip === ip ? 1 : 0);
    if (fromIp >= this.#maxPerIp) {
      return {
        status: 429,
        message: `Too many tunnels from ${ip} (limit ${this.#maxPerIp})`,
      };
    }
    return undefined;
  }
}

/** A name that is not a DNS label, or reserved. */
function badName(wanted: string): Refusal {
  return {
    status: 400,
    message: `"${
      wanted.slice(0, 80)
    }" is not an available name: use a DNS label (a-z, 0-9, inner hyphens)`,
  };
}

/** A name held for its previous client for `left` ms more. */
function heldRefusal(name: string, left: number): Refusal {
  const mins = Math.ceil(left / 60_000);
  return {
    status: 409,
    message: `The name "${name}" is held for its previous client for ${
      mins === 1 ? "1 more minute" : `${mins} more minutes`
    }; that client can reclaim it`,
  };
}
