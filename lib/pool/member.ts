/**
 * A client's membership of a pool: what it asks the server for, what it
 * hears (the member count), its app's health, and its drain when it stops:
 * STATE draining, the server's echo (after it no new channel comes), then
 * the open connections finish within the grace.
 */

import {
  MEMBER_DOWN,
  MEMBER_DRAINING,
  MEMBER_UP,
  MSG_MEMBERS,
  MSG_STATE,
  type Session,
} from "../wire/mod.ts";
import { MemberHealth } from "./health.ts";

/** Longest wait for the server's echo of a draining STATE (ms). */
export const DRAIN_ECHO_TIMEOUT = 2_000;

/** Options of {@linkcode Membership}. */
export interface MembershipOptions {
  /** The pool's secret, if known (else the server makes one). */
  secret: string | undefined;
  /** A new connection to the local app. */
  dial: () => Promise<Deno.TcpConn>;
  /** The health probe's path, if any. */
  healthPath: string | undefined;
  /** The health probe's Host header. */
  host: string;
  /** Milliseconds between probes. */
  interval: number;
  /** The secret or the member count changed. */
  onPool: (secret: string, members: number) => void;
  /** The app's health changed. */
  onHealth: (up: boolean, why: string) => void;
}

/** See the module doc. */
export class Membership {
  #o: MembershipOptions;
  #secret: string | undefined;
  #members = 0;
  #session: Session | undefined;
  #health: MemberHealth;
  #echo: (() => void) | undefined;

  /** A membership not yet joined. */
  constructor(options: MembershipOptions) {
    this.#o = options;
    this.#secret = options.secret;
    this.#health = new MemberHealth({
      dial: options.dial,
      path: options.healthPath,
      host: options.host,
      interval: options.interval,
      changed: (up, why) => {
        this.#session?.sendPool(MSG_STATE, up ? MEMBER_UP : MEMBER_DOWN);
        options.onHealth(up, why);
      },
    });
  }

  /** What the handshake asks for. */
  get request(): { secret: string | undefined } {
    return { secret: this.#secret };
  }

  /** The pool's secret and member count, once joined. */
  get pool(): { secret: string; members: number } | undefined {
    return this.#secret === undefined
      ? undefined
      : { secret: this.#secret, members: this.#members };
  }

  /** The server took this member in over `session`. */
  joined(session: Session, pool: { secret: string; members: number }): void {
    this.#session = session;
    this.#secret = pool.secret;
    this.#members = pool.members;
    session.enablePool((type, value) => {
      if (type === MSG_MEMBERS && value !== this.#members) {
        this.#members = value;
        this.#o.onPool(pool.secret, value);
      } else if (type === MSG_STATE && value === MEMBER_DRAINING) {
        this.#echo?.();
      }
    });
    if (!this.#health.up) session.sendPool(MSG_STATE, MEMBER_DOWN);
    this.#o.onPool(pool.secret, pool.members);
  }

  /** A visitor's connection could not reach the app. */
  refused(why: string): void {
    this.#health.refused(why);
  }

  /**
   * Stops new connections coming to this member, then waits up to `grace`
   * ms for its open ones to finish. True if it was the pool's last member
   * (its clean exit may free the name).
   */
  async drain(grace: number): Promise<boolean> {
    this.#health.close();
    const s = this.#session;
    if (!s || s.isClosed) return this.#members <= 1;
    const until = Date.now() + grace;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const echoed = new Promise<void>((r) => this.#echo = r);
    s.sendPool(MSG_STATE, MEMBER_DRAINING);
    await Promise.race([
      echoed,
      new Promise<void>((r) =>
        timer = setTimeout(r, Math.min(grace, DRAIN_ECHO_TIMEOUT))
      ),
      s.closed,
    ]);
    clearTimeout(timer);
    while (s.channelCount > 0 && !s.isClosed && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.#members <= 1;
  }

  /** Stops probing the app. */
  close(): void {
    this.#health.close();
  }
}
