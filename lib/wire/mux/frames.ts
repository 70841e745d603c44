/**
 * The qmux wire format (lib/wire/PROTOCOL.md §2): one type byte, then big-endian
 * uint32 fields whose count the type fixes; DATA is followed by its payload.
 * There is no outer length prefix, so a decoder must know every header size,
 * which is why negotiated extension types are passed to the decoder explicitly.
 *
 * The decoder is incremental: it accepts the byte stream cut anywhere, keeps at
 * most one partial header (17 bytes), and hands DATA payloads out as views of
 * the caller's buffer, so it never allocates what a peer merely claims.
 */

import { ProtocolError } from "./errors.ts";

/** Opens a channel: sender channel, initial window, max packet size. */
export const MSG_OPEN = 100;
/** Accepts an OPEN: recipient, sender, initial window, max packet size. */
export const MSG_OPEN_CONFIRM = 101;
/** Refuses an OPEN: recipient. */
export const MSG_OPEN_FAILURE = 102;
/** Grants the peer more window: recipient, bytes to add. */
export const MSG_WINDOW_ADJUST = 103;
/** Carries payload: recipient, length, then `length` bytes. */
export const MSG_DATA = 104;
/** Half-close: no more DATA from this side on the channel: recipient. */
export const MSG_EOF = 105;
/** Ends the channel: recipient. */
export const MSG_CLOSE = 106;
/** Extension (negotiated as feature `ping`): liveness probe carrying a nonce. */
export const MSG_PING = 107;
/** Extension (negotiated as feature `ping`): answer to PING with its nonce. */
export const MSG_PONG = 108;

/**
 * Extension (negotiated as feature `pool`), client to server: the member's
 * state, {@linkcode MEMBER_UP}, {@linkcode MEMBER_DOWN} or
 * {@linkcode MEMBER_DRAINING}; the server echoes a draining STATE once it
 * opens no more channels on the session.
 */
export const MSG_STATE = 109;
/** Extension (negotiated as feature `pool`), server to client: how many members the pool has. */
export const MSG_MEMBERS = 110;
/** STATE: the member takes new connections. */
export const MEMBER_UP = 0;
/** STATE: the member's local app does not answer; send it nothing new. */
export const MEMBER_DOWN = 1;
/** STATE: the member is leaving; send it nothing new. */
export const MEMBER_DRAINING = 2;

/** Bytes after the type byte, for every base type. */
const BASE_HEADER_SIZES: ReadonlyMap<number, number> = new Map([
  [MSG_OPEN, 12],
  [MSG_OPEN_CONFIRM, 16],
  [MSG_OPEN_FAILURE, 4],
  [MSG_WINDOW_ADJUST, 8],
  [MSG_DATA, 8],
  [MSG_EOF, 4],
  [MSG_CLOSE, 4],
]);

/** Header sizes of the extension types, enabled only once negotiated. */
export const PING_HEADER_SIZES: ReadonlyMap<number, number> = new Map([
  [MSG_PING, 4],
  [MSG_PONG, 4],
]);

/** Header sizes of the pool extension's types. */
export const POOL_HEADER_SIZES: ReadonlyMap<number, number> = new Map([
  [MSG_STATE, 4],
  [MSG_MEMBERS, 4],
]);

/** Size of a DATA header: type byte, recipient, length. */
export const DATA_HEADER_SIZE = 9;
/** The largest header of any type, type byte included. */
const MAX_HEADER_SIZE = 17;

/** A decoded message other than DATA. */
export type ControlMessage =
  | { type: 100; sender: number; window: number; maxPacket: number }
  | {
    type: 101;
    recipient: number;
    sender: number;
    window: number;
    maxPacket: number;
  }
  | { type: 102; recipient: number }
  | { type: 105 | 106; recipient: number }
  | { type: 103; recipient: number; bytes: number }
  | { type: 107 | 108; nonce: number }
  | { type: 109 | 110; value: number };

/** What the decoder reports to. Throwing from any method stops decoding. */
export interface DecoderSink {
  /** A complete message other than DATA. */
  message(msg: ControlMessage): void;
  /** A DATA header: validate it here, before any payload byte is handed out. */
  dataHeader(recipient: number, length: number): void;
  /** Part of a DATA payload; `chunk` is only valid during the call. */
  data(recipient: number, chunk: Uint8Array): void;
}

/** Incremental qmux decoder; see the module doc. */
export class FrameDecoder {
  #sizes: Map<number, number>;
  #header = new Uint8Array(MAX_HEADER_SIZE);
  #headerView = new DataView(this.#header.buffer);
  #have = 0; // bytes of the current header collected in #header
  #need = 0; // its full size once the type byte is known
  #dataLeft = 0; // payload bytes of the current DATA still to come
  #dataRecipient = 0;

  constructor(extraTypes?: ReadonlyMap<number, number>) {
    this.#sizes = new Map(BASE_HEADER_SIZES);
    if (extraTypes) this.enable(extraTypes);
  }

  /** Accepts extension message types from now on (after negotiation). */
  enable(extraTypes: ReadonlyMap<number, number>): void {
    for (const [type, size] of extraTypes) this.#sizes.set(type, size);
  }

  /** Feeds the next bytes of the stream, in order. */
  feed(bytes: Uint8Array, sink: DecoderSink): void {
    let i = 0;
    const n = bytes.length;
    let view: DataView | undefined; // one per chunk, made on first need
    while (i < n) {
      if (this.#dataLeft > 0) {
        const take = Math.min(this.#dataLeft, n - i);
        this.#dataLeft -= take;
        sink.data(this.#dataRecipient, bytes.subarray(i, i + take));
        i += take;
        continue;
      }
      if (this.#have === 0) {
        const type = bytes[i]!;
        const size = this.#sizes.get(type);
        if (size === undefined) {
          throw new ProtocolError(`Unknown message type: ${type}`);
        }
        this.#need = size + 1;
        // Fast path: the whole header is in this chunk, no copy needed.
        if (n - i >= this.#need) {
          view ??= new DataView(bytes.buffer, bytes.byteOffset, n);
          const at = i;
          i += this.#need;
          this.#dispatch(type, view, at, sink);
          continue;
        }
      }
      const take = Math.min(this.#need - this.#have, n - i);
      this.#header.set(bytes.subarray(i, i + take), this.#have);
      this.#have += take;
      i += take;
      if (this.#have === this.#need) {
        this.#have = 0;
        this.#dispatch(this.#header[0]!, this.#headerView, 0, sink);
      }
    }
  }

  /** True when the stream ended between messages (not inside one). */
  get atBoundary(): boolean {
    return this.#have === 0 && this.#dataLeft === 0;
  }

  /** Decodes the header at `v[base ..]` (its type byte at `base`). */
  #dispatch(type: number, v: DataView, base: number, sink: DecoderSink): void {
    const u = (at: number) => v.getUint32(base + at);
    switch (type) {
      case MSG_DATA: {
        const recipient = u(1), length = u(5);
        sink.dataHeader(recipient, length);
        this.#dataRecipient = recipient;
        this.#dataLeft = length;
        return;
      }
      case MSG_OPEN:
        return sink.message({
          type,
          sender: u(1),
          window: u(5),
          maxPacket: u(9),
        });
      case MSG_OPEN_CONFIRM:
        return sink.message({
          type,
          recipient: u(1),
          sender: u(5),
          window: u(9),
          maxPacket: u(13),
        });
      case MSG_WINDOW_ADJUST:
        return sink.message({ type, recipient: u(1), bytes: u(5) });
      case MSG_OPEN_FAILURE:
      case MSG_EOF:
      case MSG_CLOSE:
        return sink.message({ type, recipient: u(1) });
      case MSG_PING:
      case MSG_PONG:
        return sink.message({ type, nonce: u(1) });
      case MSG_STATE:
      case MSG_MEMBERS:
        return sink.message({ type, value: u(1) });
    }
  }
}

function frame(type: number, ...fields: number[]): Uint8Array {
  const out = new Uint8Array(1 + 4 * fields.length);
  const v = new DataView(out.buffer);
  out[0] = type;
  fields.forEach((f, k) => v.setUint32(1 + 4 * k, f));
  return out;
}

/** Encodes OPEN. */
export function encodeOpen(
  sender: number,
  window: number,
  maxPacket: number,
): Uint8Array {
  return frame(MSG_OPEN, sender, window, maxPacket);
}

/** Encodes OPEN_CONFIRM. */
export function encodeOpenConfirm(
  recipient: number,
  sender: number,
  window: number,
  maxPacket: number,
): Uint8Array {
  return frame(MSG_OPEN_CONFIRM, recipient, sender, window, maxPacket);
}

/** Encodes a message whose only field is the recipient (102, 105, 106). */
export function encodeRecipientOnly(
  type: 102 | 105 | 106,
  recipient: number,
): Uint8Array {
  return frame(type, recipient);
}

/** Encodes WINDOW_ADJUST. */
export function encodeWindowAdjust(
  recipient: number,
  bytes: number,
): Uint8Array {
  return frame(MSG_WINDOW_ADJUST, recipient, bytes);
}

/** Encodes PING or PONG. */
export function encodePing(type: 107 | 108, nonce: number): Uint8Array {
  return frame(type, nonce);
}

/** Encodes STATE or MEMBERS. */
export function encodePoolMessage(type: 109 | 110, value: number): Uint8Array {
  return frame(type, value);
}

/**
 * Writes a DATA header into the first 9 bytes of `buf`, whose next `length`
 * bytes are the payload: the frame goes out in one write without a copy.
 */
export function writeDataHeader(
  buf: Uint8Array,
  recipient: number,
  length: number,
): void {
  // Plain byte stores: no DataView per frame on the hot path.
  buf[0] = MSG_DATA;
  buf[1] = recipient >>> 24;
  buf[2] = recipient >>> 16;
  buf[3] = recipient >>> 8;
  buf[4] = recipient;
  buf[5] = length >>> 24;
  buf[6] = length >>> 16;
  buf[7] = length >>> 8;
  buf[8] = length;
}

/** Encodes a whole DATA frame (copies the payload; for tests and tools). */
export function encodeData(recipient: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATA_HEADER_SIZE + payload.length);
  writeDataHeader(out, recipient, payload.length);
  out.set(payload, DATA_HEADER_SIZE);
  return out;
}
