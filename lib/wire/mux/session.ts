/**
 * A qmux session: many channels over one byte stream (lib/wire/PROTOCOL.md §2).
 *
 * One read loop decodes frames into channels; one write loop drains a FIFO of
 * frames, gluing small ones into a single socket write. A channel keeps at
 * most one DATA frame in that FIFO (it awaits each), so busy channels take
 * turns instead of one big writer starving the rest.
 *
 * Anything the peer gets wrong ends this session, never the process: the
 * reason is a `ProtocolError` in `closed`, and every channel fails promptly.
 */

import type { Channel, ChannelHost, MuxChannel } from "./channel.ts";
import { PROCESS_BUDGET } from "./budget.ts";
import { closeQuietly, GrowingBuffer } from "../../net/mod.ts";
import { FrameWriter } from "./writer.ts";
import {
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_OWED,
  DEFAULT_MAX_PACKET,
  DEFAULT_OPEN_TIMEOUT,
  DEFAULT_OWED_TIMEOUT,
  DEFAULT_WINDOW,
  type Duplex,
  MAX_PINGS_PER_SECOND,
  type PingOptions,
  type SessionOptions,
} from "./options.ts";
export * from "./options.ts";

import { ChannelTable, MAX_PACKET, MIN_PACKET } from "./table.ts";
import { ProtocolError, SessionClosedError } from "./errors.ts";
import {
  type ControlMessage,
  type DecoderSink,
  encodePing,
  encodePoolMessage,
  FrameDecoder,
  MSG_CLOSE,
  MSG_EOF,
  MSG_OPEN,
  MSG_OPEN_CONFIRM,
  MSG_OPEN_FAILURE,
  MSG_PING,
  MSG_PONG,
  MSG_WINDOW_ADJUST,
  PING_HEADER_SIZES,
  POOL_HEADER_SIZES,
} from "./frames.ts";

/**
 * A multiplexed session over one connection.
 *
 * @example Open a channel on one end, accept it on the other
 * ```ts
 * import { Session } from "./session.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const dialed = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const a = new Session(await listener.accept());
 * const b = new Session(await dialed);
 * const ch = await a.open();
 * await ch.write(new TextEncoder().encode("hi"));
 * await ch.closeWrite();
 * const peer = (await b.accept())!;
 * const buf = new Uint8Array(2);
 * await peer.read(buf); // 2
 * a.close(); b.close(); listener.close();
 * ```
 */
export class Session {
  /** Resolves once the session ended, with why (see `SessionClosedError.cause`). */
  readonly closed: Promise<SessionClosedError>;
  #conn: Duplex;
  #table: ChannelTable;
  #owedTimeout: number;
  #writer: FrameWriter;
  /** PINGs the peer may still send now (refilled with time). */
  #pings = new PingAllowance();
  #decoder = new FrameDecoder();
  #error: SessionClosedError | null = null;
  #resolveClosed!: (err: SessionClosedError) => void;
  #lastActivity = Date.now();
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #dataTarget: MuxChannel | undefined;
  #onPool: ((type: 109 | 110, value: number) => void) | undefined;
  /** Bytes read from the connection, frames included. */
  bytesIn = 0;

  /** Starts a session over `conn`; it reads from `conn` until the end. */
  constructor(conn: Duplex, options: SessionOptions = {}) {
    this.#conn = conn;
    const { window, initialWindow, maxPacket } = flowOptions(options);
    this.#writer = new FrameWriter(
      conn,
      options.maxOwed ?? DEFAULT_MAX_OWED,
      (err) => this.#fail(err),
    );
    this.#owedTimeout = options.owedTimeout ?? DEFAULT_OWED_TIMEOUT;
    this.closed = new Promise((r) => this.#resolveClosed = r);
    const host: ChannelHost = {
      send: (frame) => this.#writer.control(frame),
      sendData: (frame) => this.#writer.data(frame),
      budget: options.budget ?? PROCESS_BUDGET,
    };
    this.#table = new ChannelTable(host, {
      window,
      initialWindow,
      maxPacket,
      acceptChannels: options.acceptChannels ?? true,
      maxChannels: options.maxChannels ?? DEFAULT_MAX_CHANNELS,
      openTimeout: options.openTimeout ?? DEFAULT_OPEN_TIMEOUT,
    });
    this.#readLoop();
  }

  /** Channels currently open (including ones closing). */
  get channelCount(): number {
    return this.#table.size;
  }

  /** Bytes written to the connection, frames included. */
  get bytesOut(): number {
    return this.#writer.bytesOut;
  }

  /** True once the session ended. */
  get isClosed(): boolean {
    return this.#error !== null;
  }

  /** Opens a channel; rejects with `OpenFailedError` if the peer refuses or is silent. */
  open(): Promise<Channel> {
    if (this.#error) return Promise.reject(this.#error);
    return this.#table.open();
  }

  /** Waits for the next channel the peer opens; `null` once the session ended. */
  accept(): Promise<Channel | null> {
    return this.#table.accept();
  }

  /** Accepted channels until the session ends. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Channel> {
    for (;;) {
      const ch = await this.accept();
      if (!ch) return;
      yield ch;
    }
  }

  /**
   * Starts the negotiated PING/PONG extension (types 107/108): call only when
   * both sides advertised it. Sends a PING every `interval` and ends the
   * session when nothing arrived for `timeout`.
   */
  enablePing(options: PingOptions): void {
    this.#decoder.enable(PING_HEADER_SIZES);
    if (this.#error || this.#pingTimer !== undefined) return;
    let nonce = 0;
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastActivity > options.timeout) {
        this.#end(
          new SessionClosedError(
            `Peer silent for over ${options.timeout} ms`,
          ),
        );
        return;
      }
      this.#writer.control(encodePing(MSG_PING, nonce++ >>> 0));
    }, options.interval);
  }

  /**
   * Starts the negotiated pool extension (types 109/110, PROTOCOL.md §6):
   * call only when both sides advertised it. `onMessage` gets each STATE or
   * MEMBERS the peer sends; it must not throw.
   */
  enablePool(onMessage: (type: 109 | 110, value: number) => void): void {
    this.#decoder.enable(POOL_HEADER_SIZES);
    this.#onPool = onMessage;
  }

  /** Sends a STATE (109) or MEMBERS (110); nothing once the session ended. */
  sendPool(type: 109 | 110, value: number): void {
    if (!this.#error) this.#writer.control(encodePoolMessage(type, value));
  }

  /** Ends the session now: the connection closes and every channel fails. */
  close(): void {
    this.#end(new SessionClosedError("Session closed"));
  }

  // ---- reading ----

  async #readLoop(): Promise<void> {
    const reading = new GrowingBuffer();
    const sink: DecoderSink = {
      message: (msg) => this.#onMessage(msg),
      dataHeader: (recipient, length) =>
        this.#dataTarget = this.#table.dataHeader(recipient, length),
      data: (_recipient, chunk) => this.#dataTarget?.onData(chunk),
    };
    try {
      for (;;) {
        const n = await this.#conn.read(reading.buf);
        if (this.#error) return;
        if (n === null) {
          this.#end(
            this.#decoder.atBoundary
              ? new SessionClosedError("Connection closed by peer")
              : new SessionClosedError("Connection closed inside a message", {
                cause: new ProtocolError("Truncated message"),
              }),
          );
          return;
        }
        this.bytesIn += n;
        this.#lastActivity = Date.now();
        // Channels copy what they keep: the buffer is free after `feed`.
        this.#decoder.feed(reading.buf.subarray(0, n), sink);
        reading.read(n);
        // Backpressure: what the peer's messages made us owe it must be
        // written before more of them are read.
        if (this.#writer.owesTooMuch) await this.#drain();
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      reading.release();
    }
  }

  #onMessage(msg: ControlMessage): void {
    const table = this.#table;
    switch (msg.type) {
      case MSG_OPEN:
        return table.onOpen(msg.sender, msg.window, msg.maxPacket);
      case MSG_OPEN_CONFIRM:
      case MSG_OPEN_FAILURE:
        return table.onOpenAnswer(msg);
      case MSG_WINDOW_ADJUST:
        return table.lookup(msg.recipient)?.onWindowAdjust(msg.bytes);
      case MSG_EOF:
        return table.lookup(msg.recipient)?.onEOF();
      case MSG_CLOSE:
        return table.onClose(msg.recipient);
      case MSG_PING:
        return this.#answerPing(msg.nonce);
      case MSG_PONG:
        return;
      default:
        return this.#onPool?.(msg.type, msg.value);
    }
  }

  // ---- writing ----

  /**
   * Stops reading until what the peer's messages made us owe it is written;
   * ends the session when the peer reads nothing of it for `owedTimeout`.
   */
  async #drain(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#writer.drained(),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          const { bytes, pings } = this.#writer.owed;
          this.#end(
            new SessionClosedError(
              `The peer reads nothing: ${bytes} bytes owed to it (${pings} PINGs) for over ${this.#owedTimeout} ms`,
            ),
          );
          resolve();
        }, this.#owedTimeout);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Answers a PING, within {@linkcode MAX_PINGS_PER_SECOND}. */
  #answerPing(nonce: number): void {
    this.#pings.take(this.#lastActivity);
    this.#writer.pong(nonce);
  }

  // ---- ending ----

  #fail(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.#end(
        new SessionClosedError(`Protocol error: ${err.message}`, {
          cause: err,
        }),
      );
    } else {
      this.#end(
        new SessionClosedError(
          `Connection failed: ${err instanceof Error ? err.message : err}`,
          { cause: err },
        ),
      );
    }
  }

  #end(err: SessionClosedError): void {
    if (this.#error) return;
    this.#error = err;
    clearInterval(this.#pingTimer);
    closeQuietly(this.#conn);
    this.#table.end(err);
    this.#writer.end(err);
    this.#resolveClosed(err);
  }
}

/** The flow-control options with their defaults; throws `RangeError` out of range. */
function flowOptions(options: SessionOptions) {
  const window = options.window ?? DEFAULT_WINDOW;
  const initialWindow = Math.min(
    options.initialWindow ?? DEFAULT_INITIAL_WINDOW,
    window,
  );
  if (initialWindow < 1) {
    throw new RangeError(`Initial window out of range: ${initialWindow}`);
  }
  const maxPacket = options.maxPacket ?? DEFAULT_MAX_PACKET;
  if (maxPacket < MIN_PACKET || maxPacket > MAX_PACKET) {
    throw new RangeError(`Max packet out of range: ${maxPacket}`);
  }
  if (window < 1 || window > 0xffffffff) {
    throw new RangeError(`Window out of range: ${window}`);
  }
  return { window, initialWindow, maxPacket };
}

/** PINGs a peer may send: {@linkcode MAX_PINGS_PER_SECOND}, refilled with time. */
class PingAllowance {
  #left = MAX_PINGS_PER_SECOND;
  #at = Date.now();

  /** One PING at `now`; throws a {@linkcode ProtocolError} past the rate. */
  take(now: number): void {
    const rate = MAX_PINGS_PER_SECOND;
    this.#left = Math.min(rate, this.#left + (now - this.#at) * rate / 1000);
    this.#at = now;
    if (--this.#left < 0) {
      throw new ProtocolError(`PING flood: more than ${rate} a second`);
    }
  }
}
