/**
 * Whether a visitor may have a channel to a tunnel now: the operator's and
 * the client's visitor lists, the tunnel's connections at once, and the
 * process's memory budget. A refusal is decided before a byte goes on.
 */

import {
  type IpFilter,
  page,
  type PeekResult,
  TLS_ACCESS_DENIED,
  TLS_INTERNAL_ERROR,
} from "../net/mod.ts";
import { PROCESS_BUDGET } from "../wire/mod.ts";
import type { Tunnel } from "./control.ts";

/** The answer for a visitor `ip` who may not reach `t` now; undefined: go on. */
export function refusal(
  t: Tunnel,
  r: PeekResult,
  ip: string,
  o: { visitors: IpFilter; maxConnections: number },
): Uint8Array | undefined {
  const headOnly = r.http?.method === "HEAD";
  if (!o.visitors.allows(ip) || !t.visitors.allows(ip)) {
    return r.kind === "tls" ? TLS_ACCESS_DENIED : page(
      403,
      `Your address (${ip}) may not reach ${t.publicHost}.`,
      { headOnly },
    );
  }
  if (t.session.channelCount >= o.maxConnections) {
    return page(
      503,
      `Too many connections to ${t.publicHost} at once; try again shortly.`,
    );
  }
  if (PROCESS_BUDGET.spent) {
    return r.kind === "tls" ? TLS_INTERNAL_ERROR : page(
      503,
      "The server holds as much unread data as it may (--memory-budget); try again shortly.",
      { headOnly },
    );
  }
  return undefined;
}
