/**
 * What an operator asks for beside a running server: the flags
 * (`--metrics`, `--admin` and their companions, checked), and starting the
 * metrics endpoint and the admin API. Each is a function of its own folder;
 * this only joins them to the server and the flags.
 */

import { renderServerMetrics, serveMetrics } from "../metrics/mod.ts";
import { adminHandler, serveAdmin } from "../admin/mod.ts";
import {
  DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
  DEFAULT_MAX_TUNNELS,
  DEFAULT_MAX_TUNNELS_PER_IP,
  type ServerOptions,
  type TunnelServer,
} from "../server/mod.ts";
import { PROCESS_BUDGET } from "../wire/mod.ts";
import { DEFAULT_MAX_POOL_MEMBERS } from "../pool/mod.ts";
import { VERSION } from "../version.ts";
import { type Flags, parsePort, UsageError } from "./args.ts";
import { env } from "./style.ts";
import { isLoopbackHost } from "../inspector/mod.ts";

/** `host:port` (or `:port`, on 127.0.0.1) for a listening flag; a usage error if not. */
export function parseListen(
  value: string,
  flag: string,
): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+))?:([0-9]+)$/.exec(value);
  if (!m) {
    throw new UsageError(
      `${flag} takes host:port such as 127.0.0.1:9090, not "${value}"`,
    );
  }
  return {
    hostname: m[1] ?? m[2] ?? "127.0.0.1",
    port: parsePort(m[3]!, flag, true),
  };
}

/** What --metrics, --admin and their friends ask for (undefined: off). */
export interface OperateSettings {
  /** Where to serve metrics, and whether per tunnel. */
  metrics: { hostname: string; port: number; perTunnel: boolean } | undefined;
  /** Where to serve the admin API, and its token. */
  admin:
    | { hostname: string; port: number; token: string | undefined }
    | undefined;
  /** The path on the server's own host to serve it under too, and its token. */
  adminPath: { path: string; token: string } | undefined;
}

/** Checks the operating flags; a usage error for what cannot work. */
export function operateSettings(f: Flags): OperateSettings {
  const str = (k: string) => f[k] as string | undefined;
  const metrics = str("metrics");
  if (f["metrics-per-tunnel"] && metrics === undefined) {
    throw new UsageError("--metrics-per-tunnel needs --metrics <host:port>");
  }
  const admin = str("admin");
  const token = str("admin-token") ?? env("GROKTUNNEL_ADMIN_TOKEN");
  const path = str("admin-path");
  if (str("admin-token") !== undefined && admin === undefined && !path) {
    throw new UsageError(
      "--admin-token needs --admin <host:port> or --admin-path <path>",
    );
  }
  if (path !== undefined && !/^(\/[a-zA-Z0-9._~-]+)+$/.test(path)) {
    throw new UsageError(
      `--admin-path takes a path below / such as /_admin, not "${
        path.slice(0, 40)
      }"`,
    );
  }
  if (path !== undefined && !token) {
    throw new UsageError(
      "--admin-path needs --admin-token or GROKTUNNEL_ADMIN_TOKEN: the API is then on the public host",
    );
  }
  const at = admin === undefined ? undefined : parseListen(admin, "--admin");
  if (at && !token && !isLoopbackHost(at.hostname)) {
    throw new UsageError(
      `--admin on ${at.hostname} (not loopback) needs --admin-token or GROKTUNNEL_ADMIN_TOKEN: the API ends tunnels`,
    );
  }
  return {
    metrics: metrics === undefined ? undefined : {
      ...parseListen(metrics, "--metrics"),
      perTunnel: f["metrics-per-tunnel"] === true,
    },
    admin: at && { ...at, token: token || undefined },
    adminPath: path === undefined ? undefined : { path, token: token! },
  };
}

/** `--bandwidth`: bytes a second, with K or M for KiB or MiB. */
export function parseBandwidth(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^([0-9]{1,12})([kKmM]?)$/.exec(value);
  const n = m
    ? Number(m[1]) *
      ({
        "": 1,
        k: 1024,
        m: 1024 * 1024,
      }[m[2]!.toLowerCase() as "" | "k" | "m"])
    : 0;
  if (!m || n < 1) {
    throw new UsageError(
      `--bandwidth takes bytes a second such as 1048576 or 1M, not "${value}"`,
    );
  }
  return n;
}

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
    const admin = {
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
          max_pool_members: options.maxPoolMembers ??
            DEFAULT_MAX_POOL_MEMBERS,
          memory_budget_bytes: PROCESS_BUDGET.limit,
        },
        cluster: options.cluster
          ? { node_id: options.cluster.nodeId }
          : undefined,
      }),
    };
    const a = settings.admin;
    if (a) {
      const endpoint = serveAdmin({
        ...admin,
        hostname: a.hostname,
        port: a.port,
        token: a.token,
      });
      closers.push(() => endpoint.close());
      lines.push(
        `admin API on ${url(endpoint.addr)}/api${a.token ? " (token)" : ""}`,
      );
    }
    const p = settings.adminPath;
    if (p) {
      server.mount(p.path, adminHandler({ ...admin, token: p.token }));
      lines.push(`admin API on the server's host at ${p.path}/api (token)`);
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
