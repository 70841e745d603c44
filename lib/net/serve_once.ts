/**
 * One HTTP request on a peeked connection answered by a fetch-style
 * handler (`Request` in, `Response` out), then the connection closes: for
 * the few paths a server serves on its own host (an API under a path). The
 * request has no body (one is refused with 413): these are reads and
 * deletes.
 */

import type { PeekResult } from "./peek.ts";
import { reason } from "./pages.ts";
import { type ByteConn, writeAll } from "./sockets.ts";

/** Largest answer a handler may give (bytes of body). */
export const MAX_HANDLER_BODY = 16 * 1024 * 1024;

/** A fetch-style handler. */
export type Handler = (req: Request) => Response | Promise<Response>;

/**
 * Answers `r` (its head peeked) on `conn` with `handler`, which sees the
 * path without `prefix`; `Connection: close`.
 */
export async function serveOnce(
  conn: ByteConn,
  r: PeekResult,
  handler: Handler,
  prefix: string,
): Promise<void> {
  const http = r.http!;
  const path = http.target.replace(/^https?:\/\/[^/]*/i, "") || "/";
  const headers = new Headers();
  for (const [name, value] of http.headers) {
    try {
      headers.append(name, value);
    } catch { /* a header fetch will not take: left out */ }
  }
  const length = Number(headers.get("content-length") ?? 0);
  let res: Response;
  if (length > 0 || headers.has("transfer-encoding")) {
    res = new Response("No request body here\n", { status: 413 });
  } else {
    try {
      res = await handler(
        new Request(`http://${r.host}${path.slice(prefix.length) || "/"}`, {
          method: http.method,
          headers,
        }),
      );
    } catch {
      res = new Response("Internal error\n", { status: 500 });
    }
  }
  const body = new Uint8Array(
    (await res.arrayBuffer()).slice(0, MAX_HANDLER_BODY),
  );
  let head = `HTTP/1.1 ${res.status} ${reason(res.status)}\r\n`;
  res.headers.forEach((v, k) => {
    if (k !== "content-length" && k !== "connection") head += `${k}: ${v}\r\n`;
  });
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  const out = new TextEncoder().encode(head);
  await writeAll(conn, http.method === "HEAD" ? out : concat(out, body));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
