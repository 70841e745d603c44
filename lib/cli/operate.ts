/**
 * Starts what an operator asked for beside a running server: the metrics
 * endpoint (`--metrics`) and the admin API (`--admin`). Each is a function
 * of its own folder; this only joins them to the server and the flags.
 */

import { renderServerMetrics, serveMetrics } from "../metrics/mod.ts";
import { serveAdmin } from "../admin/mod.ts";
import {
  DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
  DEFAULT_MAX_TUNNELS,
  DEFAULT_MAX_TUNNELS_PER_IP,
  type ServerOptions,
  type TunnelServer,
} from "../server/mod.ts";
import { PROCESS_BUDGET } from "../wire/mod.ts";
import { VERSION } from "../version.ts";
import type { OperateSettings } from "./flags.ts";

/** What was started; `close` stops all of it. */
export interface Operated {
  /** Lines to show at start-up. */
  lines: string[];
  /** Stops the endpoints. */
  close(): Promise<void>;
}

/** Starts the endpoints `settings` ask for; throws if one cannot bind. */
export function startOperate(
  server: TunnelServer,
  settings: OperateSettings,
  options: ServerOptions,
  log: (line: string) => void,
): Operated {
  const closers: Array<() => Promise<void>> = [];
  const lines: string[] = [];
  const url = (a: Deno.NetAddr) =>
    `http://${
      a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname
    }:${a.port}`;
  try {
    const m = settings.metrics;
    if (m) {
      const perTunnel = m.perTunnel;
      const endpoint = serveMetrics(
        m.hostname,
        m.port,
        () =>
          renderServerMetrics(server, {
            version: VERSION,
            budget: { used: PROCESS_BUDGET.used, limit: PROCESS_BUDGET.limit },
          }, perTunnel),
      );
      closers.push(() => endpoint.close());
      lines.push(`metrics on ${url(endpoint.addr)}/metrics`);
    }
    const a = settings.admin;
    if (a) {
      const endpoint = serveAdmin({
        hostname: a.hostname,
        port: a.port,
        token: a.token,
        server,
        log,
        status: () => ({
          version: VERSION,
          host: server.host,
          limits: {
            max_tunnels: options.maxTunnels ?? DEFAULT_MAX_TUNNELS,
            max_tunnels_per_ip: options.maxTunnelsPerIp ??
              DEFAULT_MAX_TUNNELS_PER_IP,
            max_connections_per_tunnel: options.maxConnectionsPerTunnel ??
              DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
            memory_budget_bytes: PROCESS_BUDGET.limit,
          },
          cluster: options.cluster
            ? { node_id: options.cluster.nodeId }
            : undefined,
        }),
      });
      closers.push(() => endpoint.close());
      lines.push(
        `admin API on ${url(endpoint.addr)}/api${a.token ? " (token)" : ""}`,
      );
    }
  } catch (err) {
    for (const c of closers) c();
    throw err;
  }
  return {
    lines,
    close: async () => {
      await Promise.all(closers.map((c) => c()));
    },
  };
}
