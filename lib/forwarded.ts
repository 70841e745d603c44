/**
 * Who is calling, told to the local app: `X-Forwarded-For`, `-Proto`,
 * `-Host` and `Forwarded` (RFC 7239) built from what the server saw of the
 * visitor (its channel facts), and the `Host` rewrite for dev servers that
 * check it. Pure functions over a parsed head; lib/request_filter.ts applies
 * them to every request of a connection.
 */

import type { ChannelFacts } from "./facts.ts";
import type { Http1Head } from "./http1/parser.ts";

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

/** The head's fields after rewriting (the request line is unchanged). */
export function rewriteFields(
  head: Http1Head,
  o: RewriteOptions,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let originalHost = "";
  for (const [name, value] of head.headers) {
    const n = name.toLowerCase();
    if (n === "host") {
      originalHost = value;
      out.push([name, o.host ?? value]);
    } else if (o.mode === "replace" && FORWARDED_NAMES.has(n)) {
      continue;
    } else if (n === "authorization" && o.dropAuthorization) {
      continue;
    } else out.push([name, value]);
  }
  if (o.mode === "off" || !o.facts) return out;
  const f = o.facts;
  const proto = f.tls === "terminated" ? "https" : "http";
  const host = originalHost || f.host;
  const ours: Record<string, string> = {
    "X-Forwarded-For": f.ip,
    "X-Forwarded-Proto": proto,
    "X-Forwarded-Host": host,
    "Forwarded": `for=${forwardedFor(f.ip)};proto=${proto};host=${
      quoteIfNeeded(host)
    }`,
  };
  for (const [name, value] of Object.entries(ours)) {
    const n = name.toLowerCase();
    const at = o.mode === "append"
      ? out.findLastIndex(([k]) => k.toLowerCase() === n)
      : -1;
    if (at < 0) out.push([name, value]);
    else if (n === "x-forwarded-for" || n === "forwarded") {
      // A list: the visitor's (or the front proxy's) entries, then ours.
      out[at] = [out[at]![0], `${out[at]![1]}, ${value}`];
    }
    // append: X-Forwarded-Proto/-Host from the proxy in front stay as they are.
  }
  return out;
}

/** The head as bytes: request line, fields, blank line (latin1). */
export function encodeHead(
  head: Http1Head,
  fields: Array<[string, string]>,
): Uint8Array {
  let text = `${head.method} ${head.target} ${head.version}\r\n`;
  for (const [k, v] of fields) text += `${k}: ${v}\r\n`;
  text += "\r\n";
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
