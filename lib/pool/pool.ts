/**
 * A pool: several clients behind one name. The server keeps a pool as one
 * tunnel whose session opens each new channel on one member's session: the
 * member with the fewest open channels among those that are up, ties taken
 * in turn. A public connection is one channel, so it stays with its member
 * for its whole life (keep-alive, WebSocket, TCP).
 *
 * Members tell the server their state with STATE messages (PROTOCOL.md §6):
 * a member that is down (its app does not answer) or draining (leaving) gets
 * nothing new. When an open fails on a member (it went away, refused, or
 * was silent) the next one is tried: no byte of the visitor's has gone yet,
 * so a visitor sees a 502 only when no member takes the connection.
 */

import {
  type Channel,
  MEMBER_DOWN,
  MEMBER_DRAINING,
  MEMBER_UP,
  MSG_MEMBERS,
  MSG_STATE,
  OpenFailedError,
  type Refusal,
  type Session,
  SessionClosedError,
} from "../wire/mod.ts";

/** Members a pool may have at once (`--max-pool-members`). */
export const DEFAULT_MAX_POOL_MEMBERS = 16;

/** What a member tells the server of itself. */
export type MemberState = "up" | "down" | "draining";

/** One client of a pool. */
export interface PoolMember {
  /** Its session. */
  readonly session: Session;
  /** Its address, `ip:port`. */
  readonly client: string;
  /** When it joined (ms since the epoch). */
  readonly started: number;
  /** What it said last. */
  state: MemberState;
}

const STATES: Record<number, MemberState | undefined> = {
  [MEMBER_UP]: "up",
  [MEMBER_DOWN]: "down",
  [MEMBER_DRAINING]: "draining",
};

/** A pool as the server keeps it; see the module doc. */
export class Pool {
  /** Resolves once the last member left (or the pool was closed). */
  readonly closed: Promise<SessionClosedError>;
  #max: number;
  #members: PoolMember[] = [];
  #turn = 0;
  #gone = { bytesIn: 0, bytesOut: 0 };
  #ended = false;
  #end!: (why: SessionClosedError) => void;

  /** An empty pool of at most `maxMembers`. */
  constructor(maxMembers: number = DEFAULT_MAX_POOL_MEMBERS) {
    this.#max = maxMembers;
    this.closed = new Promise((r) => this.#end = r);
  }

  /** The members now, in the order they joined. */
  get members(): readonly PoolMember[] {
    return this.#members;
  }

  /** Channels open now, over every member. */
  get channelCount(): number {
    let n = 0;
    for (const m of this.#members) n += m.session.channelCount;
    return n;
  }

  /** Bytes from the members so far, those that left included. */
  get bytesIn(): number {
    let n = this.#gone.bytesIn;
    for (const m of this.#members) n += m.session.bytesIn;
    return n;
  }

  /** Bytes to the members so far, those that left included. */
  get bytesOut(): number {
    let n = this.#gone.bytesOut;
    for (const m of this.#members) n += m.session.bytesOut;
    return n;
  }

  /** Members up now (neither down nor draining). */
  get up(): number {
    let n = 0;
    for (const m of this.#members) if (m.state === "up") n++;
    return n;
  }

  /** True once the pool ended. */
  get isClosed(): boolean {
    return this.#ended;
  }

  /**
   * Adds a member over `session`, whose pool extension was negotiated; a
   * refusal when the pool is full or closed.
   */
  join(session: Session, client: string): PoolMember | Refusal {
    const refused = this.refusal();
    if (refused) return refused;
    const m: PoolMember = { session, client, started: Date.now(), state: "up" };
    session.enablePool((type, value) => {
      const state = type === MSG_STATE ? STATES[value] : undefined;
      // Unknown states are ignored; draining is for good.
      if (!state || m.state === "draining") return;
      m.state = state;
      // Said after any OPEN already sent: none comes after it.
      if (state === "draining") session.sendPool(MSG_STATE, MEMBER_DRAINING);
    });
    this.#members.push(m);
    this.#announce();
    return m;
  }

  /** Why one more member may not join now (full, or ended), if so. */
  refusal(): Refusal | undefined {
    if (this.#ended) {
      return { status: 503, message: "The pool is closing; try again" };
    }
    if (this.#members.length >= this.#max) {
      return {
        status: 503,
        message: `The pool is full (${this.#max} members, --max-pool-members)`,
      };
    }
    return undefined;
  }

  /** Takes out a member whose session ended: true if it was the last. */
  leave(m: PoolMember): boolean {
    const i = this.#members.indexOf(m);
    if (i >= 0) {
      this.#members.splice(i, 1);
      this.#gone.bytesIn += m.session.bytesIn;
      this.#gone.bytesOut += m.session.bytesOut;
      this.#announce();
    }
    if (this.#members.length > 0) return false;
    this.#finish("Every member left");
    return true;
  }

  /**
   * Opens a channel on the member with the fewest open channels among those
   * up, trying the next when one fails; rejects with `OpenFailedError` when
   * none takes it.
   */
  async open(): Promise<Channel> {
    // Made only when a member failed: most opens take the first pick.
    let tried: Set<PoolMember> | undefined;
    let last: unknown;
    for (;;) {
      const m = this.#pick(tried);
      if (!m) {
        throw new OpenFailedError(
          last instanceof Error
            ? `no member of the pool took it: ${last.message}`
            : "every member of the pool is down",
        );
      }
      try {
        return await m.session.open();
      } catch (err) {
        last = err;
        (tried ??= new Set()).add(m);
      }
    }
  }

  /** Ends every member's session. */
  close(): void {
    for (const m of [...this.#members]) m.session.close();
    this.#finish("Session closed");
  }

  #pick(skip: Set<PoolMember> | undefined): PoolMember | undefined {
    const list = this.#members, n = list.length;
    let best: PoolMember | undefined, at = 0, fewest = Infinity;
    for (let k = 0; k < n; k++) {
      const i = (this.#turn + k) % n;
      const m = list[i]!;
      if (m.state !== "up" || m.session.isClosed || skip?.has(m)) continue;
      const open = m.session.channelCount;
      if (open < fewest) {
        best = m;
        at = i;
        fewest = open;
      }
    }
    if (best) this.#turn = (at + 1) % n;
    return best;
  }

  /** Tells every member how many there are. */
  #announce(): void {
    const n = this.#members.length;
    for (const m of this.#members) m.session.sendPool(MSG_MEMBERS, n);
  }

  #finish(why: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#end(new SessionClosedError(why));
  }
}
