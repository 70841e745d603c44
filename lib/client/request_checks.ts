/**
 * What a visitor's request must pass before any byte of it reaches the app
 * (the request filter asks, head by head): the tunnel's credentials, no
 * CONNECT, and the name the connection was routed by.
 */

import { basicAuthOk, unauthorized } from "./basic_auth.ts";
import type { Http1Head } from "../wire/mod.ts";
import { page } from "../net/mod.ts";

/** A host's name for comparing: lower case, no port, no trailing dot. */
export function nameOf(host: string): string {
  let h = host.toLowerCase();
  const bracket = h.startsWith("[") ? h.indexOf("]") : -1;
  if (bracket > 0) h = h.slice(0, bracket + 1);
  else if (h.indexOf(":") >= 0 && h.indexOf(":") === h.lastIndexOf(":")) {
    h = h.slice(0, h.indexOf(":"));
  }
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/** The authority of an absolute-form target (`http://host:port/…`), or "". */
function targetAuthority(target: string): string {
  const m = /^https?:\/\/([^/?#]*)/i.exec(target);
  return m ? m[1]!.replace(/^[^@]*@/, "") : "";
}

/**
 * The answer for a request that must not reach the app (undefined: it may):
 * credentials missing or wrong, CONNECT, or another name than the one the
 * connection was routed by (`routed`; undefined: not known).
 */
export function refusal(
  head: Http1Head,
  basicAuth: readonly string[] | undefined,
  routed: string | undefined,
): Uint8Array | undefined {
  let host: string | undefined;
  let authorization: string | undefined;
  for (const [name, value] of head.headers) {
    const l = name.length;
    if (l === 4 && name.toLowerCase() === "host") host = value;
    else if (l === 13 && name.toLowerCase() === "authorization") {
      authorization = value;
    }
  }
  if (basicAuth?.length && !basicAuthOk(authorization, basicAuth)) {
    return unauthorized();
  }
  if (head.method === "CONNECT") {
    return page(
      405,
      "CONNECT is not served here: the app is a web server, not a proxy.",
      { headers: ["Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"] },
    );
  }
  if (routed === undefined) return undefined;
  // RFC 9112 §3.2.2: an absolute-form target's authority is the host.
  const asked = targetAuthority(head.target) || host;
  if (asked === undefined) {
    if (head.version === "HTTP/1.0") return undefined;
    return page(400, "Refused: a request without a Host field.");
  }
  if (nameOf(asked) !== routed) {
    return page(
      421,
      `This connection was opened for ${routed}, not ${
        nameOf(asked).slice(0, 255)
      }: open a new one for that name.`,
      { headOnly: head.method === "HEAD" },
    );
  }
  return undefined;
}
