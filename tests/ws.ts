/** A raw WebSocket peer for tests. */

import { decoder, within } from "./helpers.ts";

/** Just enough of RFC 6455 to talk to the echo server over a raw socket. */
export class WsPeer {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  async #need(n: number): Promise<void> {
    while (this.#buf.length < n) {
      const chunk = new Uint8Array(256 * 1024);
      const got = await within(5000, this.#conn.read(chunk), "websocket read");
      if (got === null) throw new Error("websocket closed");
      const next = new Uint8Array(this.#buf.length + got);
      next.set(this.#buf);
      next.set(chunk.subarray(0, got), this.#buf.length);
      this.#buf = next;
    }
  }
  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }
  async readHead(): Promise<string> {
    for (let i = 4;; i++) {
      await this.#need(i);
      if (decoder.decode(this.#buf.subarray(i - 4, i)) === "\r\n\r\n") {
        return decoder.decode(this.#take(i));
      }
    }
  }
  async send(opcode: number, payload: Uint8Array): Promise<void> {
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const len = payload.length;
    const head = len < 126
      ? [0x80 | opcode, 0x80 | len]
      : len < 65536
      ? [0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]
      : [
        0x80 | opcode,
        0x80 | 127,
        0,
        0,
        0,
        0,
        (len >>> 24) & 0xff,
        (len >> 16) & 0xff,
        (len >> 8) & 0xff,
        len & 0xff,
      ];
    const frame = new Uint8Array(head.length + 4 + len);
    frame.set(head);
    frame.set(mask, head.length);
    for (let i = 0; i < len; i++) {
      frame[head.length + 4 + i] = payload[i]! ^ mask[i & 3]!;
    }
    let off = 0;
    while (off < frame.length) {
      off += await this.#conn.write(frame.subarray(off));
    }
  }
  async receive(): Promise<{ opcode: number; payload: Uint8Array }> {
    await this.#need(2);
    const opcode = this.#buf[0]! & 0x0f;
    let len = this.#buf[1]! & 0x7f, skip = 2;
    if (len === 126) {
      await this.#need(4);
      len = (this.#buf[2]! << 8) | this.#buf[3]!;
      skip = 4;
    } else if (len === 127) {
      await this.#need(10);
      len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(6);
      skip = 10;
    }
    await this.#need(skip + len);
    this.#take(skip);
    return { opcode, payload: this.#take(len) };
  }
}
