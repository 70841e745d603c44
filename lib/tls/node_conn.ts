/**
 * A `node:tls` socket seen as the pull-style connection the rest of the code
 * reads and writes (`read(p)`, `write(p)`, `closeWrite()`, `close()`), so the
 * peek, relay and multiplexer work on TLS-terminated connections unchanged.
 *
 * Incoming chunks queue here until read; past {@linkcode READ_HIGH_WATER}
 * bytes the socket is paused, so a slow reader holds a bounded amount.
 */

import { unmapIpv4 } from "../net/mod.ts";
import type { TLSSocket } from "node:tls";

/** Bytes queued from the socket before it is paused until read. */
export const READ_HIGH_WATER = 256 * 1024;

/** The adapted socket; `serverName` is the SNI the client sent, if any. */
export class NodeTlsConn {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** The local address. */
  readonly localAddr: Deno.NetAddr;
  /** The TLS server name (SNI) the client asked for, lower case, or `undefined`. */
  readonly serverName: string | undefined;
  #sock: TLSSocket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  /** The write waiting for "drain" (writes are awaited one at a time). */
  #drained: ((err?: Error) => void) | undefined;

  /** Wraps a connected, handshaken socket. */
  constructor(sock: TLSSocket) {
    this.#sock = sock;
    this.remoteAddr = netAddr(sock.remoteAddress, sock.remotePort);
    this.localAddr = netAddr(sock.localAddress, sock.localPort);
    const sni = (sock as { servername?: string | false }).servername;
    this.serverName = typeof sni === "string" && sni
      ? sni.toLowerCase()
      : undefined;
    sock.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= READ_HIGH_WATER) sock.pause();
      this.#notify();
    });
    sock.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    sock.on("drain", () => this.#drain());
    sock.on("error", (err: Error) => {
      this.#error ??= err;
      this.#notify();
      this.#drain(err);
    });
    sock.on("close", () => {
      this.#closed = true;
      this.#ended = true;
      this.#notify();
      this.#drain(new Deno.errors.BadResource("The connection is closed"));
    });
  }

  #drain(err?: Error): void {
    const waiting = this.#drained;
    this.#drained = undefined;
    waiting?.(err);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Reads into `p`; `null` at EOF. */
  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const head = this.#chunks[0]!;
      const take = Math.min(head.length, p.length - n);
      p.set(head.subarray(0, take), n);
      n += take;
      if (take === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(take);
    }
    this.#queued -= n;
    if (this.#queued < READ_HIGH_WATER && this.#sock.isPaused()) {
      this.#sock.resume();
    }
    return n;
  }

  /** Writes all of `p`; resolves once the socket took it (so `p` may be reused). */
  write(p: Uint8Array): Promise<number> {
    if (this.#closed || this.#error) {
      return Promise.reject(
        this.#error ?? new Deno.errors.BadResource("The connection is closed"),
      );
    }
    // Resolve once the socket took the bytes AND its buffer is below its
    // high-water mark: the callback alone may come before the bytes left,
    // and a fast writer would pile up a whole transfer in memory.
    return new Promise((resolve, reject) => {
      let pending = 2;
      const done = (err?: Error | null) => {
        if (err) {
          pending = -1;
          reject(err);
        } else if (--pending === 0) resolve(p.length);
      };
      const below = this.#sock.write(p, done);
      if (below) done();
      else this.#drained = done;
    });
  }

  /** Shuts the write side (TLS close_notify, then TCP FIN). */
  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#sock.end(() => resolve()));
  }

  /** Closes the connection at once. */
  close(): void {
    this.#closed = true;
    this.#sock.destroy();
    this.#notify();
  }

  /** Disables Nagle's algorithm. */
  setNoDelay(on = true): void {
    this.#sock.setNoDelay(on);
  }

  /** Turns TCP keepalive on. */
  setKeepAlive(on = true): void {
    this.#sock.setKeepAlive(on);
  }
}

function netAddr(
  hostname: string | undefined,
  port: number | undefined,
): Deno.NetAddr {
  const h = hostname ?? "";
  return {
    transport: "tcp",
    hostname: unmapIpv4(h),
    port: port ?? 0,
  };
}
