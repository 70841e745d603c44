/**
 * The peek: learn which name a new connection asks for (HTTP `Host`, or TLS
 * SNI) without consuming anything. Reads until a complete HTTP/1.x request
 * head or TLS ClientHello is buffered, within a byte limit and a deadline,
 * and returns the name with a {@linkcode PeekedConn} that replays those bytes.
 *
 * Knows nothing of tunnels: failures are errors carrying the HTTP status a
 * server should answer with (400, 408, 431).
 */

import { type ByteConn, closeQuietly } from "./sockets.ts";
import { Deadline, TIMED_OUT } from "./deadline.ts";
import { acquire, release, SIZES } from "./buffers.ts";
import {
  ClientHelloError,
  readClientHello,
  TLS_HANDSHAKE,
} from "./client_hello.ts";

/** Largest head (HTTP request head or TLS ClientHello) the peek buffers. */
export const DEFAULT_PEEK_MAX_BYTES = 32 * 1024;
/** How long a new connection may take to send its head (ms). */
export const DEFAULT_PEEK_TIMEOUT = 10_000;

/** The peek could not name the connection; `status` is what to answer. */
export class PeekError extends Error {
  /** The HTTP status a server answers with. */
  readonly status: number;
  /** Creates the error with its HTTP status. */
  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "PeekError";
    this.status = status;
  }
}

/** Malformed, not HTTP and not TLS, or without a name (answer 400). */
export class PeekBadRequestError extends PeekError {
  /** Creates the error with what is wrong as message. */
  constructor(message: string) {
    super(message, 400);
    this.name = "PeekBadRequestError";
  }
}

/** The head did not fit in the byte limit (answer 431). */
export class PeekTooLargeError extends PeekError {
  /** Creates the error naming the limit. */
  constructor(limit: number) {
    super(`Request head exceeds ${limit} bytes`, 431);
    this.name = "PeekTooLargeError";
  }
}

/** The head was not complete before the deadline (answer 408). */
export class PeekTimeoutError extends PeekError {
  /** Creates the error naming the deadline. */
  constructor(ms: number) {
    super(`Request head not complete within ${ms} ms`, 408);
    this.name = "PeekTimeoutError";
  }
}

/** Options of {@linkcode peek}. */
export interface PeekOptions {
  /**
   * Most bytes buffered before giving up with `PeekTooLargeError`.
   * @default {32768}
   */
  maxBytes?: number;
  /**
   * Milliseconds until `PeekTimeoutError`.
   * @default {10000}
   */
  timeout?: number;
}

/** The parts of an HTTP request head the server needs. */
export interface HttpHead {
  /** Request method, as sent. */
  method: string;
  /** Request target, as sent (origin form `/x` or absolute form `http://a/x`). */
  target: string;
  /** Protocol version, e.g. `HTTP/1.1`. */
  version: string;
  /** Header fields in order, names lower-cased. */
  headers: Array<[string, string]>;
}

/** What {@linkcode peek} learned. */
export interface PeekResult {
  /** Whether the connection started with HTTP or a TLS ClientHello. */
  kind: "http" | "tls";
  /** The name asked for: lower case, no trailing dot, no port. */
  host: string;
  /** The port from `Host` (HTTP only), if any. */
  port: number | undefined;
  /** The request head (HTTP only). */
  http: HttpHead | undefined;
  /** Length of the HTTP head including its blank line, or of the ClientHello records. */
  headLength: number;
  /** The connection, replaying every byte the peek read. */
  conn: PeekedConn;
}

/** No bytes (shared): a drained replay holds no buffer. */
const EMPTY = new Uint8Array(0);

/**
 * A connection whose first reads return bytes already read by the peek.
 * Writes, half-close and close go straight to the socket.
 */
export class PeekedConn implements ByteConn {
  #conn: ByteConn;
  #prefix: Uint8Array;

  /** Wraps `conn`, replaying `prefix` before anything else. */
  constructor(conn: ByteConn, prefix: Uint8Array) {
    this.#conn = conn;
    this.#prefix = prefix;
  }

  /** Drops the first `n` replay bytes (a head the caller handled itself). */
  skip(n: number): void {
    this.#prefix = this.#prefix.subarray(Math.min(n, this.#prefix.length));
  }

  /** Takes the replay bytes not yet read, so a caller can forward them itself. */
  takeBuffered(): Uint8Array {
    const out = this.#prefix;
    this.#prefix = EMPTY;
    return out;
  }

  /** Reads the replay bytes first, then from the socket. */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#prefix.length === 0) return this.#conn.read(p);
    const n = Math.min(p.length, this.#prefix.length);
    p.set(this.#prefix.subarray(0, n));
    this.#prefix = n === this.#prefix.length ? EMPTY : this.#prefix.subarray(n);
    return Promise.resolve(n);
  }

  /** Writes to the socket. */
  write(p: Uint8Array): Promise<number> {
    return this.#conn.write(p);
  }

  /** Half-closes the socket's write side. */
  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  /** Closes the socket (once, however often called). */
  close(): void {
    closeQuietly(this.#conn);
  }
}

/**
 * Reads the start of `conn` until its name is known.
 *
 * On a `PeekError` nothing was replayed: the caller answers with
 * `err.status` (or closes, for TLS) and closes `conn`.
 *
 * @example
 * ```ts
 * import { peek } from "./peek.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await client.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: A.Example.com.:8080\r\n\r\n"));
 * const { host, port } = await peek(await listener.accept());
 * // host === "a.example.com", port === 8080
 * client.close(); listener.close();
 * ```
 */
export async function peek(
  conn: ByteConn,
  options: PeekOptions = {},
): Promise<PeekResult> {
  const max = options.maxBytes ?? DEFAULT_PEEK_MAX_BYTES;
  const ms = options.timeout ?? DEFAULT_PEEK_TIMEOUT;
  // Most heads are small: start with a 4 KiB buffer from the pool (the
  // head is copied out of it) and double up to the limit.
  const pooled = acquire(PEEK_LEVEL);
  let buf = pooled.subarray(0, Math.min(max, SIZES[PEEK_LEVEL]));
  let len = 0;
  const deadline = new Deadline(ms);
  // Back to the pool unless a read may still land in it (a timeout).
  let reuse = true;
  try {
    for (;;) {
      if (len === max) throw new PeekTooLargeError(max);
      if (len === buf.length) {
        const bigger = new Uint8Array(Math.min(max, buf.length * 2));
        bigger.set(buf);
        buf = bigger;
      }
      const n = await deadline.read(conn, buf.subarray(len));
      if (n === TIMED_OUT) {
        reuse = false;
        throw new PeekTimeoutError(ms);
      }
      if (n === null) {
        throw new PeekBadRequestError(
          len === 0
            ? "Connection closed before sending anything"
            : "Connection closed inside the request head",
        );
      }
      const before = len;
      len += n;
      const bytes = buf.subarray(0, len);
      const found = bytes[0] === TLS_HANDSHAKE
        ? parseTls(bytes)
        : parseHttp(bytes, before);
      if (found) {
        return { ...found, conn: new PeekedConn(conn, buf.slice(0, len)) };
      }
    }
  } finally {
    deadline.clear();
    if (reuse) release(PEEK_LEVEL, pooled);
  }
}

/** The pool's level of the buffer a peek starts with (4 KiB). */
const PEEK_LEVEL = 1;

type Found = Omit<PeekResult, "conn">;

/** Heads are bytes; latin1 maps each to one character, whatever it is. */
const LATIN1 = new TextDecoder("latin1");
const CR = 13, LF = 10;

/** Finds the end of the head: the index after "\r\n\r\n" (or a bare "\n\n"). */
function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = Math.max(1, from); i < bytes.length; i++) {
    if (bytes[i] !== LF) continue;
    if (bytes[i - 1] === LF) return i + 1;
    if (bytes[i - 1] === CR && bytes[i - 2] === LF) return i + 1;
  }
  return -1;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function parseHttp(bytes: Uint8Array, before: number): Found | null {
  // Refuse early what cannot be an HTTP method, instead of waiting for the deadline.
  const first = bytes[0]!;
  if (first < 0x41 || first > 0x5a) {
    throw new PeekBadRequestError("Neither HTTP nor TLS");
  }
  const end = headEnd(bytes, before - 3);
  if (end < 0) return null;
  const text = LATIN1.decode(bytes.subarray(0, end));
  const lines = text.split("\n").map((l) =>
    l.endsWith("\r") ? l.slice(0, -1) : l
  );
  const [method, target, version, ...extra] = lines[0]!.split(" ");
  if (
    !method || !TOKEN.test(method) || !target || extra.length ||
    !version || !/^HTTP\/1\.[0-9]$/.test(version)
  ) {
    throw new PeekBadRequestError("Malformed request line");
  }
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) {
      throw new PeekBadRequestError("Malformed header line");
    }
    headers.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  const hosts = headers.filter(([n]) => n === "host");
  if (hosts.length > 1) {
    throw new PeekBadRequestError("More than one Host header");
  }
  // Absolute form wins over Host (RFC 9112 §3.2.2).
  const absolute = /^https?:\/\/([^/?#]*)/i.exec(target);
  const authority = absolute ? absolute[1]! : hosts[0]?.[1];
  if (!authority) throw new PeekBadRequestError("Missing Host header");
  const { host, port } = splitHostPort(authority.replace(/^[^@]*@/, ""));
  return {
    kind: "http",
    host,
    port,
    http: { method, target, version, headers },
    headLength: end,
  };
}

/** Splits `name[:port]` or `[v6][:port]`; lower-cases and drops a trailing dot. */
export function splitHostPort(
  authority: string,
): { host: string; port: number | undefined } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?$/.exec(
    authority,
  );
  if (!m) {
    throw new PeekBadRequestError(`Invalid host: "${authority.slice(0, 100)}"`);
  }
  let host = m[1]!.toLowerCase();
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)$/.test(host) || host === "") {
    throw new PeekBadRequestError(`Invalid host: "${authority.slice(0, 100)}"`);
  }
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) {
    throw new PeekBadRequestError(`Invalid port: ${m[2]}`);
  }
  return { host, port };
}

/** The ClientHello's SNI, as a peek result (throws a 400 for a bad one). */
function parseTls(bytes: Uint8Array): Found | null {
  let hello;
  try {
    hello = readClientHello(bytes);
  } catch (err) {
    if (err instanceof ClientHelloError) {
      throw new PeekBadRequestError(err.message);
    }
    throw err;
  }
  if (!hello) return null;
  return {
    kind: "tls",
    host: splitHostPort(hello.serverName).host,
    port: undefined,
    http: undefined,
    headLength: hello.length,
  };
}
