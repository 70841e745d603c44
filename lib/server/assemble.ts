/**
 * How a server is put together from its options: the name table, the kinds
 * of tunnel, the control endpoint, the peek and the plug-ins' wrappers
 * (server.ts runs them).
 */

import {
  answer,
  type ByteConn,
  type NetConn,
  page,
  peek,
  PeekError,
  type PeekResult,
} from "../net/mod.ts";
import { Registry } from "./registry.ts";
import {
  type ControlContext,
  ControlEndpoint,
  type Tunnel,
} from "./control.ts";
import { HttpTunnels } from "./http_tunnels.ts";
import type { PluginContext, ServerPlugin } from "./plugin.ts";
import type { ServerStats } from "./stats.ts";
import {
  DEFAULT_MAX_TUNNELS,
  DEFAULT_MAX_TUNNELS_PER_IP,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PING_TIMEOUT,
  type ServerOptions,
} from "./options.ts";
import { DEFAULT_MAX_POOL_MEMBERS } from "../pool/mod.ts";
import { DEFAULT_MAX_OWED, DEFAULT_OWED_TIMEOUT } from "../wire/mod.ts";

/** What `conn` wants; a page to `answerTo` when it cannot tell (undefined then). */
export async function peekOrAnswer(
  conn: ByteConn,
  answerTo: NetConn,
  options: { timeout: number; maxBytes: number },
  stats: ServerStats,
): Promise<PeekResult | undefined> {
  try {
    return await peek(conn, options);
  } catch (err) {
    if (err instanceof PeekError) {
      stats.count("bad_request");
      await answer(answerTo, page(err.status, err.message));
    }
    return undefined;
  }
}

/** The name table of a server with these options. */
export function registryOf(
  o: ServerOptions,
  host: string,
  nameHold: number,
): Registry<Tunnel> {
  return new Registry<Tunnel>({
    host,
    maxTunnels: o.maxTunnels ?? DEFAULT_MAX_TUNNELS,
    maxTunnelsPerIp: o.maxTunnelsPerIp ?? DEFAULT_MAX_TUNNELS_PER_IP,
    nameHold,
    reserved: new Set(
      ["_new", ...(o.reservedNames ?? [])].map((n) => n.toLowerCase()),
    ),
  });
}

/** The kinds of tunnel: HTTP (its names also claimed where a plug-in says), and the plug-ins'. */
export function kindsOf(
  plugins: ServerPlugin[],
  host: string,
): ControlContext["kinds"] {
  return {
    ...Object.assign({}, ...plugins.map((p) => p.kinds)),
    http: new HttpTunnels(host, plugins.find((p) => p.names)?.names),
  };
}

/** A visitor's connection to `t` as every plug-in wraps it, in order. */
export function wrapAll(
  plugins: ServerPlugin[],
  conn: ByteConn,
  t: Tunnel,
): ByteConn {
  for (const p of plugins) {
    if (p.wrapVisitor) conn = p.wrapVisitor(conn, t);
  }
  return conn;
}

/** The control endpoint of a server with these options. */
export function controlEndpoint(
  o: ServerOptions,
  c: PluginContext,
  core: Pick<
    ControlContext,
    "registry" | "kinds" | "closing" | "ended" | "stats" | "mounts"
  >,
): ControlEndpoint {
  return new ControlEndpoint({
    ...core,
    host: c.host,
    token: o.token || undefined,
    maxPoolMembers: o.maxPoolMembers ?? DEFAULT_MAX_POOL_MEMBERS,
    log: c.log,
    ping: {
      interval: o.pingInterval ?? DEFAULT_PING_INTERVAL,
      timeout: o.pingTimeout ?? DEFAULT_PING_TIMEOUT,
    },
    session: {
      maxChannels: c.maxConnections,
      maxOwed: o.maxOwed ?? DEFAULT_MAX_OWED,
      owedTimeout: o.stallTimeout ?? DEFAULT_OWED_TIMEOUT,
    },
  });
}

export function normaliseHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}
