/**
 * A session's channels: the table of open ones by number, the OPENs we
 * sent and wait on, the ones the peer opened and nobody accepted yet, and
 * what each message for a channel means (lib/wire/PROTOCOL.md §2). Anything
 * the peer gets wrong throws a `ProtocolError`; the session ends on it.
 */

import { type Channel, type ChannelHost, MuxChannel } from "./channel.ts";
import { OpenFailedError, ProtocolError } from "./errors.ts";
import {
  type ControlMessage,
  encodeOpen,
  encodeOpenConfirm,
  encodeRecipientOnly,
  MSG_OPEN_FAILURE,
} from "./frames.ts";

/** Smallest and largest max packet a peer may announce (as qmux checks). */
export const MIN_PACKET = 9, MAX_PACKET = 2 ** 31;

/** What the table is set up with (checked by the session). */
export interface TableOptions {
  /** Largest window granted per channel. */
  window: number;
  /** Window each channel starts with. */
  initialWindow: number;
  /** Largest DATA payload accepted. */
  maxPacket: number;
  /** Whether the peer may open channels. */
  acceptChannels: boolean;
  /** Channels open at once. */
  maxChannels: number;
  /** How long an OPEN waits for its answer (ms). */
  openTimeout: number;
}

interface Pending {
  resolve: (ch: Channel) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  cancelled: boolean;
}

/** See the module doc. */
export class ChannelTable {
  #o: TableOptions;
  #host: ChannelHost;
  #channels = new Map<number, MuxChannel>();
  #nextId = 0;
  #pending = new Map<number, Pending>();
  #acceptQueue: MuxChannel[] = [];
  #acceptWaiters: Array<() => void> = [];
  #error: Error | null = null;

  /** A table whose channels write through `host`. */
  constructor(host: ChannelHost, options: TableOptions) {
    this.#host = host;
    this.#o = options;
  }

  /** Channels open now (including ones closing). */
  get size(): number {
    return this.#channels.size;
  }

  /** Opens a channel: sends OPEN, resolves on the answer. */
  open(): Promise<Channel> {
    if (this.#error) return Promise.reject(this.#error);
    const o = this.#o;
    if (this.#channels.size >= o.maxChannels) {
      return Promise.reject(
        new OpenFailedError(`Too many channels: limit is ${o.maxChannels}`),
      );
    }
    const id = this.#nextId++;
    this.#channels.set(id, this.#newChannel(id));
    this.#host.send(encodeOpen(id, o.initialWindow, o.maxPacket));
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        resolve,
        reject,
        cancelled: false,
        timer: setTimeout(() => {
          // Keep the entry: a late CONFIRM must still be answered with CLOSE.
          pending.cancelled = true;
          reject(
            new OpenFailedError(`No answer to OPEN within ${o.openTimeout} ms`),
          );
        }, o.openTimeout),
      };
      this.#pending.set(id, pending);
    });
  }

  /** The next channel the peer opened; `null` once the table ended. */
  async accept(): Promise<Channel | null> {
    for (;;) {
      const ch = this.#acceptQueue.shift();
      if (ch) return ch;
      if (this.#error) return null;
      await new Promise<void>((r) => this.#acceptWaiters.push(r));
    }
  }

  /** The channel a message is for; undefined: drop the message quietly. */
  lookup(id: number): MuxChannel | undefined {
    const ch = this.#channels.get(id);
    if (ch) return ch.localClosed ? undefined : ch;
    if (id < this.#nextId) return undefined; // closed: crossed on the wire
    throw new ProtocolError(`Message for channel ${id}, which never existed`);
  }

  /** A DATA header: the channel its payload goes to (undefined: dropped). */
  dataHeader(recipient: number, length: number): MuxChannel | undefined {
    const ch = this.lookup(recipient);
    if (ch && this.#pending.has(recipient)) {
      throw new ProtocolError(
        `DATA on channel ${recipient} before it was confirmed`,
      );
    }
    if (!ch && length > this.#o.maxPacket) {
      throw new ProtocolError(`DATA of ${length} bytes exceeds max packet`);
    }
    ch?.onDataHeader(length);
    return ch;
  }

  /** The peer's CLOSE. */
  onClose(recipient: number): void {
    const ch = this.#channels.get(recipient);
    if (!ch) {
      this.lookup(recipient); // throws if it never existed
      return;
    }
    if (this.#pending.has(recipient)) {
      throw new ProtocolError(`CLOSE on unconfirmed channel ${recipient}`);
    }
    this.#channels.delete(recipient);
    ch.onClose();
  }

  /** The peer's OPEN: accepted (CONFIRM) or refused (OPEN_FAILURE). */
  onOpen(sender: number, window: number, maxPacket: number): void {
    const o = this.#o;
    if (
      !o.acceptChannels || maxPacket < MIN_PACKET ||
      maxPacket > MAX_PACKET || this.#channels.size >= o.maxChannels
    ) {
      this.#host.send(encodeRecipientOnly(MSG_OPEN_FAILURE, sender));
      return;
    }
    const id = this.#nextId++;
    const ch = this.#newChannel(id);
    ch.setRemote(sender, window, maxPacket);
    this.#channels.set(id, ch);
    this.#host.send(
      encodeOpenConfirm(sender, id, o.initialWindow, o.maxPacket),
    );
    this.#acceptQueue.push(ch);
    this.#acceptWaiters.shift()?.();
  }

  /** The peer's answer to one of our OPENs. */
  onOpenAnswer(msg: Extract<ControlMessage, { type: 101 | 102 }>): void {
    const id = msg.recipient;
    const pending = this.#pending.get(id);
    const ch = this.#channels.get(id);
    if (!pending || !ch) {
      throw new ProtocolError(`Unexpected answer to OPEN for channel ${id}`);
    }
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (msg.type === MSG_OPEN_FAILURE) {
      this.#channels.delete(id);
      pending.reject(new OpenFailedError("The peer refused the channel"));
      return;
    }
    if (msg.maxPacket < MIN_PACKET || msg.maxPacket > MAX_PACKET) {
      throw new ProtocolError(`Invalid max packet from peer: ${msg.maxPacket}`);
    }
    ch.setRemote(msg.sender, msg.window, msg.maxPacket);
    if (pending.cancelled) ch.close();
    else pending.resolve(ch);
  }

  /** The session ended: every channel, open or waiting, fails with `err`. */
  end(err: Error): void {
    if (this.#error) return;
    this.#error = err;
    for (const ch of this.#channels.values()) ch.abort(err);
    this.#channels.clear();
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      if (!p.cancelled) p.reject(err);
    }
    this.#pending.clear();
    for (const ch of this.#acceptQueue) ch.abort(err);
    this.#acceptQueue = [];
    for (const wake of this.#acceptWaiters.splice(0)) wake();
  }

  #newChannel(id: number): MuxChannel {
    const o = this.#o;
    return new MuxChannel(
      this.#host,
      id,
      o.initialWindow,
      o.maxPacket,
      o.window,
    );
  }
}
