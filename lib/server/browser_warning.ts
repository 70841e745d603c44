/**
 * `--browser-warning`: a browser's first visit to a tunnel (a GET or HEAD
 * whose `Accept` has text/html) gets a page first, as ngrok's free endpoints
 * and localtunnel do against phishing: it names the tunnel, says who runs
 * what is behind it (someone's own computer, not this server's operator)
 * and warns against entering passwords. Its "Continue" link sets a cookie
 * for that host (so per tunnel name) and goes back to the page asked for.
 * API clients (no text/html), webhooks (POST) and anything sending
 * `groktunnel-skip-browser-warning` never see it.
 */

import { page, type PeekResult } from "../net/mod.ts";
import type { Tunnel } from "./control.ts";
import type { Gate, GateAnswer, ServerFeature } from "./plugin.ts";

/** The header that skips the page (any value). */
export const SKIP_WARNING_HEADER = "groktunnel-skip-browser-warning";
/** The cookie that remembers the click, for a day. */
export const WARNING_COOKIE = "groktunnel_warned";
/** The path of the page's link: sets the cookie, then back (`?to=`). */
export const CONTINUE_PATH = "/__groktunnel/continue";

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The path to go back to: only a path on this host (no `//elsewhere`). */
function backTo(target: string): string {
  const q = target.indexOf("?");
  const to = new URLSearchParams(q < 0 ? "" : target.slice(q + 1)).get("to");
  return to && to.startsWith("/") && !to.startsWith("//") &&
      !to.startsWith("/\\") && !/[\r\n]/.test(to)
    ? to
    : "/";
}

/** The warning page for `host`, whose link returns to `target`. */
function warningPage(
  host: string,
  target: string,
  headOnly: boolean,
): Uint8Array {
  const next = `${CONTINUE_PATH}?to=${encodeURIComponent(target)}`;
  const body = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>You are about to visit ${escape(host)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}
a.go{display:inline-block;padding:.5em 1em;background:#224;color:#fff;border-radius:.3em;text-decoration:none}
@media (prefers-color-scheme:dark){body{background:#161616;color:#ddd}}</style></head>
<body><h1>You are about to visit ${escape(host)}</h1>
<p>This address is a tunnel: it shows a page served from someone's own computer, not by the operator of this server.</p>
<p>Do not enter passwords, card numbers or other secrets unless you know and trust who runs it.</p>
<p><a class="go" href="${escape(next)}">Continue to ${escape(host)}</a></p>
<footer>groktunnel</footer></body></html>
`;
  const bytes = new TextEncoder().encode(body);
  const head = "HTTP/1.1 200 OK\r\n" +
    "Content-Type: text/html; charset=utf-8\r\n" +
    `Content-Length: ${bytes.length}\r\n` +
    "Cache-Control: no-store\r\n" +
    "X-Frame-Options: DENY\r\n" +
    "Connection: close\r\n\r\n";
  const h = new TextEncoder().encode(head);
  if (headOnly) return h;
  const out = new Uint8Array(h.length + bytes.length);
  out.set(h);
  out.set(bytes, h.length);
  return out;
}

/** See the module doc. */
export class BrowserWarning implements Gate {
  check(t: Tunnel, r: PeekResult, _ip: string): GateAnswer | undefined {
    const http = r.http;
    if (r.kind !== "http" || !http) return undefined;
    const method = http.method;
    if (method !== "GET" && method !== "HEAD") return undefined;
    let html = false, skip = false, warned = false;
    for (const [name, value] of http.headers) {
      if (name === "accept") html ||= value.includes("text/html");
      else if (name === SKIP_WARNING_HEADER) skip = true;
      else if (name === "cookie") {
        warned ||= value.split(";").some((c) =>
          c.trim() === `${WARNING_COOKIE}=1`
        );
      }
    }
    const target = http.target;
    if (target === CONTINUE_PATH || target.startsWith(`${CONTINUE_PATH}?`)) {
      const location = backTo(target);
      return {
        outcome: "warned",
        bytes: page(303, `On to ${location}`, {
          headOnly: method === "HEAD",
          headers: [
            `Location: ${location}`,
            `Set-Cookie: ${WARNING_COOKIE}=1; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax`,
          ],
        }),
      };
    }
    if (!html || skip || warned) return undefined;
    return {
      outcome: "warned",
      bytes: warningPage(
        t.publicHost,
        target.startsWith("/") ? target : "/",
        method === "HEAD",
      ),
    };
  }
}

/** The warning page as a plug-in: on with `browserWarning`. */
export const browserWarningFeature: ServerFeature = (o) =>
  o.browserWarning ? { gates: [new BrowserWarning()] } : undefined;
