/**
 * A visitor for a tunnel this process serves: admitted (the operator's and
 * the tunnel's lists, the limits, the plug-ins' gates), a channel opened to
 * the tunnel's client, then relayed. A refusal is answered before any byte
 * goes on. The relay's promise is handed on, not waited in: a connection
 * at rest holds no waiting calls.
 */

import {
  answer,
  type ByteConn,
  type NetConn,
  page,
  type PeekResult,
  unmapIpv4,
} from "../net/mod.ts";
import {
  type ChannelFacts,
  encodeFacts,
  OpenFailedError,
  relay,
} from "../wire/mod.ts";
import type { Tunnel } from "./control.ts";
import type { Outcome, ServerStats } from "./stats.ts";
import { refusal } from "./admission.ts";
import type { PublicSideOptions } from "./public.ts";

/** A visitor's address as the node they came in at saw it. */
export function visitorOf(conn: NetConn): { ip: string; port: number } {
  // A dual-stack listener reports IPv4 visitors as ::ffff:a.b.c.d.
  const ip = unmapIpv4(conn.remoteAddr.hostname);
  return { ip, port: conn.remoteAddr.port };
}

/** Answers `conn` with `bytes`, counting the outcome. */
export function refuse(
  stats: ServerStats,
  conn: Parameters<typeof answer>[0],
  bytes: Uint8Array,
  outcome: Outcome,
): Promise<void> {
  stats.count(outcome);
  return answer(conn, bytes);
}

/** Admits, opens and relays one visitor of `t` (see the module doc). */
export async function relayVisitor(
  o: PublicSideOptions,
  conn: NetConn,
  t: Tunnel,
  r: PeekResult,
  tls: ChannelFacts["tls"],
  who: { ip: string; port: number },
): Promise<void> {
  const ip = who.ip;
  const refused = refusal(t, r, ip, o);
  if (refused) return refuse(o.stats, r.conn, refused, "refused");
  for (const gate of o.gates) {
    const a = gate.check(t, r, ip);
    if (a) return refuse(o.stats, r.conn, a.bytes, a.outcome);
  }
  const done = o.track(conn);
  let ch;
  const opening = performance.now();
  try {
    ch = await t.session.open();
  } catch (err) {
    const why = err instanceof OpenFailedError
      ? err.message
      : "the tunnel closed";
    return refuse(
      o.stats,
      r.conn,
      page(
        502,
        `The tunnel's client did not accept the connection (${why}).`,
      ),
      "bad_gateway",
    ).finally(done);
  }
  let visitor: ByteConn, first: Uint8Array;
  try {
    t.connections++;
    const stats = o.stats;
    stats.count("routed");
    stats.channelOpen.observe((performance.now() - opening) / 1000);
    first = r.conn.takeBuffered();
    if (t.facts) {
      first = encodeFacts({
        ip,
        port: who.port,
        tls,
        host: r.port ? `${r.host}:${r.port}` : r.host,
        dstIp: conn.localAddr.hostname,
        dstPort: conn.localAddr.port,
      }, first);
    }
    visitor = stats.timeFirstByte(
      o.wrapVisitor(r.conn, t),
      opening,
      r.kind === "http",
    );
  } catch (err) {
    done();
    throw err;
  }
  // Handed on, not waited in (the relay's promise never rejects).
  return relay(visitor, ch, first).then(done);
}
