/**
 * Who is calling, told to the local app: `X-Forwarded-For`, `-Proto`,
 * `-Host` and `Forwarded` (RFC 7239) built from what the server saw of the
 * visitor (its channel facts), and the `Host` rewrite for dev servers that
 * check it. A pure function over a parsed head and its bytes, splicing only
 * the lines that change; lib/client/request_filter.ts applies it to every request
 * of a connection.
 */

import type { ChannelFacts, Http1Head } from "../wire/mod.ts";
import type { ClientFeature } from "./stage.ts";

/**
 * `replace` (default): drop what the visitor sent in these headers and add
 * what the server saw, so the app can trust them. `append`: keep theirs and
 * add ours (another proxy in front). `off`: leave them alone.
 */
export type ForwardedMode = "replace" | "append" | "off";

const FORWARDED_NAMES = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
]);

/** Per-connection memory of the last added lines (keep-alive reuses them). */
export interface RewriteCache {
  /** The Host value the lines were made for. */
  host?: string;
  /** `X-Forwarded-*` and `Forwarded` lines for it, as bytes. */
  lines?: Uint8Array;
}

/** How a head is rewritten. */
export interface RewriteOptions {
  /** The forwarded-headers mode. */
  mode: ForwardedMode;
  /** What the server saw; without it no forwarded values are added. */
  facts: ChannelFacts | undefined;
  /** A replacement `Host` value, if any. */
  host: string | undefined;
  /** Drop `Authorization` (it carried the tunnel's own credentials). */
  dropAuthorization: boolean;
}

/** RFC 7239 node: IPv6 bracketed and quoted. */
function forwardedFor(ip: string): string {
  return ip.includes(":") ? `"[${ip}]"` : ip;
}

/** A token, or a quoted-string when it is not one. */
function quoteIfNeeded(v: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v)
    ? v
    : `"${v.replace(/["\\]/g, "\\$&")}"`;
}

/** Writes `text` (latin1: one byte per char) into `out` at `at`; returns the end. */
function putLatin1(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/**
 * The head's bytes after rewriting: lines dropped or replaced in place, ours
 * added before the blank line; every other byte as it came. Returns `bytes`
 * itself when nothing changes.
 */
export function rewriteHead(
  head: Http1Head,
  bytes: Uint8Array,
  o: RewriteOptions,
  cache: RewriteCache = {},
  alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n),
): Uint8Array {
  const { headers, spans } = head;
  // Edits by field index: null drops the line, a string replaces it.
  let edits: Map<number, string | null> | undefined;
  const edit = (i: number, v: string | null) => (edits ??= new Map()).set(i, v);
  let xff = -1, fwd = -1, hasProto = false, hasHost = false;
  for (let i = 0; i < headers.length; i++) {
    const name = headers[i]![0];
    const l = name.length;
    if (l === 4 && name.toLowerCase() === "host") {
      if (o.host !== undefined) edit(i, `${name}: ${o.host}\r\n`);
    } else if (
      o.mode !== "off" && (l === 9 || l === 15 || l === 16 || l === 17)
    ) {
      const n = name.toLowerCase();
      if (!FORWARDED_NAMES.has(n)) continue;
      if (o.mode === "replace") edit(i, null);
      else if (n === "x-forwarded-for") xff = i;
      else if (n === "forwarded") fwd = i;
      else if (n === "x-forwarded-proto") hasProto = true;
      else hasHost = true;
    } else if (
      l === 13 && o.dropAuthorization && name.toLowerCase() === "authorization"
    ) {
      edit(i, null);
    }
  }
  let lines: Uint8Array | undefined;
  if (o.mode !== "off" && o.facts) {
    const f = o.facts;
    // The name the connection was routed by, never what the visitor wrote.
    const host = f.host;
    const plain = xff < 0 && fwd < 0 && !hasProto && !hasHost;
    // The same lines as the last request's (keep-alive): no text is made.
    if (plain && cache.host === host) lines = cache.lines;
    else {
      const proto = f.tls === "terminated" ? "https" : "http";
      const forwarded = `for=${forwardedFor(f.ip)};proto=${proto};host=${
        quoteIfNeeded(host)
      }`;
      // append: a list gets our entry after the visitor's (or front
      // proxy's); their -Proto and -Host stay as they are.
      let tail = "";
      if (xff >= 0) {
        edit(xff, null);
        tail += `X-Forwarded-For: ${headers[xff]![1]}, ${f.ip}\r\n`;
      } else tail += `X-Forwarded-For: ${f.ip}\r\n`;
      if (!hasProto) tail += `X-Forwarded-Proto: ${proto}\r\n`;
      if (!hasHost) tail += `X-Forwarded-Host: ${host}\r\n`;
      if (fwd >= 0) {
        edit(fwd, null);
        tail += `Forwarded: ${headers[fwd]![1]}, ${forwarded}\r\n`;
      } else tail += `Forwarded: ${forwarded}\r\n`;
      lines = new Uint8Array(tail.length);
      putLatin1(lines, 0, tail);
      if (plain) {
        cache.host = host;
        cache.lines = lines;
      }
    }
  }
  if (!edits && !lines) return bytes;
  let size = bytes.length + (lines?.length ?? 0);
  for (const [i, text] of edits ?? []) {
    size += (text?.length ?? 0) - (spans[2 * i + 1]! - spans[2 * i]!);
  }
  const out = alloc(size);
  let from = 0, at = 0;
  for (const i of edits ? [...edits.keys()].sort((a, b) => a - b) : []) {
    const start = spans[2 * i]!, end = spans[2 * i + 1]!;
    out.set(bytes.subarray(from, start), at);
    at += start - from;
    const text = edits!.get(i);
    if (text) at = putLatin1(out, at, text);
    from = end;
  }
  // Everything up to the blank line, ours, then the blank line.
  out.set(bytes.subarray(from, bytes.length - 2), at);
  at += bytes.length - 2 - from;
  if (lines) {
    out.set(lines, at);
    at += lines.length;
  }
  out[at] = 13;
  out[at + 1] = 10;
  return out;
}

/** Forwarded headers and the Host rewrite as a stage of the request filter. */
export const forwardedFeature: ClientFeature = (o) => {
  const mode = o.forwardedHeaders ?? "replace";
  const host = o.hostHeader === "rewrite"
    ? `localhost:${o.port}`
    : o.hostHeader;
  if (mode === "off" && host === undefined) return undefined;
  return {
    httpOnly: true,
    join(c) {
      c.rules.forwarded = mode;
      c.rules.host = host;
    },
  };
};
