/**
 * What a session is set up with: its options and the limits and timeouts
 * they default to.
 */

import type { BufferBudget } from "./budget.ts";

/** The largest window this side grants a channel unless told otherwise (4 MiB). */
export const DEFAULT_WINDOW = 4 * 1024 * 1024;
/**
 * The window a channel starts with (256 KiB): it doubles each time the reader
 * consumes half of it, up to the maximum, so bulk transfers ramp up within a
 * few MiB while a reader that never reads costs only this much.
 */
export const DEFAULT_INITIAL_WINDOW = 256 * 1024;
/** The largest DATA payload this side accepts unless told otherwise (256 KiB). */
export const DEFAULT_MAX_PACKET = 256 * 1024;
/** How long `open` waits for the peer's answer (ms). */
export const DEFAULT_OPEN_TIMEOUT = 10_000;
/** Channels open at once on one session, beyond which OPENs are refused. */
export const DEFAULT_MAX_CHANNELS = 8192;
/**
 * Bytes of control messages (answers to OPENs, PONGs, CLOSEs, window
 * grants, our OPENs) waiting to be written, past which the session stops
 * reading from the peer until they drain (256 KiB): a peer that sends and
 * never reads makes us owe it this much, no more.
 */
export const DEFAULT_MAX_OWED = 256 * 1024;
/**
 * How long reading may stay stopped because the peer reads nothing we owe
 * it, before the session ends (ms).
 */
export const DEFAULT_OWED_TIMEOUT = 30_000;
/**
 * PINGs a peer may send per second on average (bursts of as many): more is
 * a flood, not a liveness check, and ends the session. Ours sends one
 * every 10 s.
 */
export const MAX_PINGS_PER_SECOND = 100;

/** The byte stream under a session: a `Deno.Conn` or anything shaped like it. */
export interface Duplex {
  /** Reads into `p`; resolves to the count, or `null` at EOF. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the stream. */
  close(): void;
}

/** Options of {@linkcode Session}. */
export interface SessionOptions {
  /**
   * Largest window granted to the peer on each channel, in bytes: the most a
   * stalled reader may hold in memory.
   * @default {4194304}
   */
  window?: number;
  /**
   * Window each channel starts with (at most `window`); it grows as the
   * channel's reader consumes.
   * @default {262144}
   */
  initialWindow?: number;
  /**
   * Largest DATA payload accepted from the peer.
   * @default {262144}
   */
  maxPacket?: number;
  /**
   * Whether channels opened by the peer are accepted (else refused with
   * OPEN_FAILURE).
   * @default {true}
   */
  acceptChannels?: boolean;
  /**
   * Channels open at once; more OPENs are refused and `open` rejects.
   * @default {8192}
   */
  maxChannels?: number;
  /**
   * How long `open` waits for OPEN_CONFIRM, in milliseconds.
   * @default {10000}
   */
  openTimeout?: number;
  /**
   * Bytes of control messages queued for the peer past which reading stops
   * until they drain.
   * @default {262144}
   */
  maxOwed?: number;
  /**
   * Milliseconds reading may stay stopped that way before the session ends.
   * @default {30000}
   */
  owedTimeout?: number;
  /**
   * Where the bytes channels received and nobody read yet are counted:
   * past it, windows stop growing.
   * @default {PROCESS_BUDGET}
   */
  budget?: BufferBudget;
}

/** Options of {@linkcode Session.enablePing}. */
export interface PingOptions {
  /** Milliseconds between PINGs. */
  interval: number;
  /** Milliseconds without any byte from the peer before the session ends. */
  timeout: number;
}
