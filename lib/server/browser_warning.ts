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
  return page(
    200,
    "This address is a tunnel: it shows a page served from someone's own computer, not by the operator of this server.",
    {
      headOnly,
      title: `You are about to visit ${host}`,
      more: [
        "Do not enter passwords, card numbers or other secrets unless you know and trust who runs it.",
      ],
      link: {
        href: `${CONTINUE_PATH}?to=${encodeURIComponent(target)}`,
        text: `Continue to ${host}`,
      },
      headers: ["X-Frame-Options: DENY"],
    },
  );
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
