/**
 * Replay: a captured request sent again to the local app (and only there),
 * as it was or with edits, its answer captured like any other exchange.
 */

import { ConnectionTap, headersOf } from "./capture.ts";
import type { Capture, CaptureStore } from "./store.ts";

/** How long a replayed request waits for its answer (ms). */
export const REPLAY_TIMEOUT = 30_000;

/** Changes to make before sending. */
export interface ReplayEdits {
  /** Another method. */
  method?: string;
  /** Another request target (path and query). */
  path?: string;
  /** Replacement header fields, in order. */
  headers?: Array<[string, string]>;
  /** Replacement body (UTF-8). */
  body?: string;
}

/** A replay was refused; `status` is the API's answer. */
export class ReplayError extends Error {
  /** HTTP status for the API. */
  readonly status: number;
  /** Creates the error. */
  constructor(message: string, status: number) {
    super(message);
    this.name = "ReplayError";
    this.status = status;
  }
}

/** Latin1 text (one char per byte) back to bytes. */
function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// deno-lint-ignore no-control-regex
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** The bytes to send: the capture's, or a new request built from the edits. */
export function replayBytes(c: Capture, edits?: ReplayEdits): Uint8Array {
  const q = c.request;
  const editing = edits &&
    (edits.method !== undefined || edits.path !== undefined ||
      edits.headers !== undefined || edits.body !== undefined);
  if (!editing) {
    if (q.truncated) {
      throw new ReplayError(
        "The captured body was truncated; replay with edits to send a body",
        409,
      );
    }
    return bytesOf(q.rawHead + q.rawBody);
  }
  const method = edits.method ?? q.head.method;
  const path = edits.path ?? q.head.target;
  if (!TOKEN.test(method)) throw new ReplayError("Invalid method", 400);
  if (!/^\S+$/.test(path) || CTL.test(path)) {
    throw new ReplayError("Invalid path", 400);
  }
  const body = edits.body !== undefined
    ? new TextEncoder().encode(edits.body)
    : bytesOf(q.body);
  const fields = (edits.headers ?? headersOf(q, "request")).filter(([k]) => {
    const n = k.toLowerCase();
    return n !== "content-length" && n !== "transfer-encoding";
  });
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of fields) {
    if (!TOKEN.test(k) || CTL.test(v)) {
      throw new ReplayError(`Invalid header field: ${k.slice(0, 40)}`, 400);
    }
    head += `${k}: ${v}\r\n`;
  }
  if (body.length || !["GET", "HEAD"].includes(method.toUpperCase())) {
    head += `Content-Length: ${body.length}\r\n`;
  }
  head += "\r\n";
  const h = new TextEncoder().encode(head);
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  return out;
}

/**
 * Sends `bytes` to the local app on a new connection and captures the answer
 * into `store`, marked as a replay of `of`. Resolves once the answer is in.
 */
export async function replay(
  bytes: Uint8Array,
  of: string,
  dial: () => Promise<Deno.TcpConn>,
  store: CaptureStore,
): Promise<void> {
  let done!: () => void;
  const finished = new Promise<void>((r) => done = r);
  const off = store.listen((c) => {
    if (c.replayOf === of && c.remoteAddr === "replay") done();
  });
  const tap = new ConnectionTap(store, "replay", of);
  let conn: Deno.TcpConn;
  try {
    conn = await dial();
  } catch (err) {
    throw new ReplayError(
      `The local app is not answering: ${(err as Error).message}`,
      502,
    );
  }
  const timer = setTimeout(done, REPLAY_TIMEOUT);
  try {
    tap.fromVisitor(bytes);
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    const buf = new Uint8Array(64 * 1024);
    const reading = (async () => {
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        tap.fromApp(buf.subarray(0, n));
      }
      tap.end();
      done();
    })();
    await finished;
    try {
      conn.close();
    } catch { /* closed */ }
    await reading;
  } finally {
    clearTimeout(timer);
    off();
  }
}
