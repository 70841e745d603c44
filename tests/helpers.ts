/** Shared test helpers: real loopback sockets, deterministic data, hashing. */

import { createHash } from "node:crypto";
import { Session, type SessionOptions } from "../lib/wire/mux/session.ts";

/** A connected pair of real TCP sockets on 127.0.0.1. */
export async function socketPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dialing = Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const accepted = await listener.accept();
  listener.close();
  return [await dialing, accepted];
}

/** Two sessions talking over a real socket pair. */
export async function sessionPair(
  a: SessionOptions = {},
  b: SessionOptions = {},
): Promise<[Session, Session]> {
  const [x, y] = await socketPair();
  return [new Session(x, a), new Session(y, b)];
}

/** Deterministic pseudo-random bytes (xorshift32), different for each seed. */
export function pattern(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** SHA-256 hex of some chunks. */
export function sha256(...chunks: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

/** Anything with a `read` like `Deno.Conn`. */
export interface Reader {
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Longest wait for the next bytes in the helpers that read (ms): a peer
 * that hangs fails the test at that read, with its stack, instead of
 * stalling the suite.
 */
export const READ_DEADLINE = 30_000;

/** `r.read(p)`, failing after {@linkcode READ_DEADLINE} without bytes or EOF. */
export function readWithin(r: Reader, p: Uint8Array): Promise<number | null> {
  return within(READ_DEADLINE, r.read(p), "a read (no bytes, no EOF)");
}

/** Reads to EOF, hashing as it goes; returns the length and SHA-256. */
export async function drain(
  r: Reader,
  bufSize = 256 * 1024,
): Promise<{ length: number; sha256: string }> {
  const h = createHash("sha256");
  const buf = new Uint8Array(bufSize);
  let length = 0;
  for (;;) {
    const n = await readWithin(r, buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
    length += n;
  }
  return { length, sha256: h.digest("hex") };
}

/** Reads to EOF and returns everything. */
export async function readAll(r: Reader): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await readWithin(r, buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes `total` bytes of `block` repeated, then hashes what it wrote. */
export async function pump(
  w: { write(p: Uint8Array): Promise<number> },
  total: number,
  seed: number,
  blockSize = 1024 * 1024,
): Promise<string> {
  const h = createHash("sha256");
  const block = pattern(blockSize, seed);
  let sent = 0;
  let round = 0;
  while (sent < total) {
    const n = Math.min(blockSize, total - sent);
    // Vary the bytes per block so a reordering would change the hash.
    block[0] = round++ & 0xff;
    const piece = block.subarray(0, n);
    h.update(piece);
    let off = 0;
    while (off < n) off += await w.write(piece.subarray(off));
    sent += n;
  }
  return h.digest("hex");
}

/** Rejects if `p` does not settle within `ms`. */
export async function within<T>(
  ms: number,
  p: Promise<T>,
  what = "operation",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} took over ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/**
 * Reads an HTTP head off `r` (returning it and the bytes read past it),
 * within `ms`: for raw handshakes and hashed downloads alike.
 */
export async function readHead(
  r: Reader,
  ms = 10_000,
): Promise<{ head: string; rest: Uint8Array }> {
  const buf = new Uint8Array(256 * 1024);
  let got = new Uint8Array(0);
  let end = -1;
  while (end < 0) {
    const n = await within(ms, r.read(buf), "a response head");
    if (n === null) throw new Error("EOF before a response head");
    const next = new Uint8Array(got.length + n);
    next.set(got);
    next.set(buf.subarray(0, n), got.length);
    got = next;
    end = new TextDecoder("latin1").decode(got).indexOf("\r\n\r\n");
  }
  return {
    head: new TextDecoder("latin1").decode(got.subarray(0, end)),
    rest: got.slice(end + 4),
  };
}

/** Reads a response head, then hashes exactly `length` body bytes. */
export async function readHashedBody(
  r: Reader,
  length: number,
): Promise<{ head: string; length: number; sha256: string }> {
  const { head, rest } = await readHead(r);
  const h = createHash("sha256").update(rest);
  let got = rest.length;
  const buf = new Uint8Array(256 * 1024);
  while (got < length) {
    const n = await readWithin(r, buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
    got += n;
  }
  return { head, length: got, sha256: h.digest("hex") };
}

/** `promtool check metrics` over `text`: its exit code and what it said. */
export async function promtool(
  text: string,
): Promise<{ code: number; out: string }> {
  const p = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(encoder.encode(text));
  await w.close();
  const o = await p.output();
  return {
    code: o.code,
    out: decoder.decode(o.stdout) + decoder.decode(o.stderr),
  };
}
