/**
 * The admin API (`--admin 127.0.0.1:4041`): JSON over HTTP for the server's
 * operator, behind a bearer token (`--admin-token`, compared in constant
 * time; the CLI refuses a non-loopback address without one).
 *
 * - `GET /api/tunnels`: every tunnel (name, kind, client, since,
 *   connections, bytes);
 * - `GET /api/tunnels/:name`: one;
 * - `DELETE /api/tunnels/:name`: ends its session and blocks the name for
 *   {@linkcode DEFAULT_ADMIN_BLOCK} ms, or `?block=<seconds>`, or for good
 *   (until a restart) with `?block=forever`;
 * - `GET /api/status`: version, uptime, tunnels, limits.
 *
 * In a cluster, the listing adds the tunnels of the other nodes (name and
 * node), and a DELETE ends a tunnel wherever it is.
 *
 * Errors are JSON too: `{"error": "…"}` with 400, 401, 404 or 405.
 */

import { constantTimeEqual } from "../net/mod.ts";
import type { TunnelInfo } from "../server/mod.ts";

/** How long an ended tunnel's name stays blocked by default (ms). */
export const DEFAULT_ADMIN_BLOCK = 10 * 60_000;

/** What the API needs of the server (a `TunnelServer` has it). */
export interface AdminTarget {
  /** The tunnels up now. */
  readonly tunnels: TunnelInfo[];
  /** One, by name. */
  tunnel(name: string): TunnelInfo | undefined;
  /** Ends `name`'s tunnel and blocks the name for `blockMs`; true if one was open. */
  endTunnel(name: string, blockMs: number): boolean;
  /** The tunnels other nodes of a cluster serve, by name and node. */
  readonly tunnelsElsewhere?: Array<{ name: string; node: string }>;
}

/** Options of {@linkcode serveAdmin}. */
export interface AdminOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind (0: any). */
  port: number;
  /** The bearer token requests must carry; undefined: none asked. */
  token: string | undefined;
  /** The server. */
  server: AdminTarget;
  /** More for `GET /api/status` (version, limits, cluster). */
  status: () => Record<string, unknown>;
  /** Log sink for what the API changed. */
  log: (line: string) => void;
}

/** A running admin API. */
export interface AdminEndpoint {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /** Stops it. */
  close(): Promise<void>;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
    },
  });
}

const error = (status: number, message: string) =>
  json({ error: message }, status);

/** One tunnel as JSON, snake_case as ngrok's API. */
function shown(t: TunnelInfo): Record<string, unknown> {
  return {
    name: t.name,
    public_host: t.publicHost,
    kind: t.kind,
    client: t.client,
    started_at: new Date(t.started).toISOString(),
    connections: t.connections,
    open_connections: t.openConnections,
    bytes_in: t.bytesIn,
    bytes_out: t.bytesOut,
    ...(t.members
      ? {
        members: t.members.map((m) => ({
          client: m.client,
          started_at: new Date(m.started).toISOString(),
          state: m.state,
          open_connections: m.openConnections,
        })),
      }
      : {}),
  };
}

/** A tunnel another node of the cluster serves, as far as this one knows. */
function elsewhere(t: { name: string; node: string }): Record<string, unknown> {
  return { name: t.name, node: t.node, here: false };
}

/** How long `?block=` asks to block (ms), or an error line. */
function blockOf(value: string | null): number | string {
  if (value === null) return DEFAULT_ADMIN_BLOCK;
  if (value === "forever") return Infinity;
  if (!/^[0-9]{1,9}$/.test(value)) {
    return `block takes seconds or "forever", not "${value.slice(0, 20)}"`;
  }
  return Number(value) * 1000;
}

function handle(
  req: Request,
  o: Omit<AdminOptions, "hostname" | "port">,
  started: number,
): Response {
  if (o.token !== undefined) {
    const auth = req.headers.get("authorization") ?? "";
    if (!constantTimeEqual(auth, `Bearer ${o.token}`)) {
      return error(401, "This API needs Authorization: Bearer <--admin-token>");
    }
  }
  const url = new URL(req.url);
  const path = url.pathname.replace(/\/+$/, "");
  const method = req.method;
  if (path === "/api/status") {
    if (method !== "GET") return error(405, "GET only");
    return json({
      ...o.status(),
      uptime_seconds: Math.round((Date.now() - started) / 1000),
      tunnels: o.server.tunnels.length,
    });
  }
  if (path === "/api/tunnels") {
    if (method !== "GET") return error(405, "GET only");
    return json({
      tunnels: [
        ...o.server.tunnels.map(shown),
        ...(o.server.tunnelsElsewhere ?? []).map(elsewhere),
      ],
    });
  }
  const m = /^\/api\/tunnels\/([a-z0-9-]{1,63})$/.exec(path);
  if (!m) return error(404, "No such endpoint: see /api/tunnels, /api/status");
  const name = m[1]!;
  if (method === "GET") {
    const t = o.server.tunnel(name);
    const there = o.server.tunnelsElsewhere?.filter((x) => x.name === name);
    if (t) return json(shown(t));
    // Another node's: which one (its own admin API has the rest).
    if (there?.length) {
      return json(
        there.length === 1 ? elsewhere(there[0]!) : {
          name,
          nodes: there.map((x) => x.node),
        },
      );
    }
    return error(404, `No tunnel "${name}" is open`);
  }
  if (method === "DELETE") {
    const block = blockOf(url.searchParams.get("block"));
    if (typeof block === "string") return error(400, block);
    const ended = o.server.endTunnel(name, block);
    const seconds = block === Infinity ? "forever" : block / 1000;
    o.log(
      `admin: ${
        ended ? "ended tunnel" : "no tunnel open for"
      } ${name}; name blocked for ${
        seconds === "forever" ? "good" : `${seconds} s`
      }`,
    );
    return json({ name, ended, blocked_for: seconds });
  }
  return error(405, "GET or DELETE");
}

/**
 * The admin API as a fetch-style handler (for a server's own host, under
 * a path: `TunnelServer.mount`).
 */
export function adminHandler(
  o: Omit<AdminOptions, "hostname" | "port">,
): (req: Request) => Response {
  const started = Date.now();
  return (req) => handle(req, o, started);
}

/** Serves the admin API; throws if the address cannot be bound. */
export function serveAdmin(o: AdminOptions): AdminEndpoint {
  const handler = adminHandler(o);
  const server = Deno.serve({
    hostname: o.hostname,
    port: o.port,
    onListen() {},
    onError: () => error(500, "Internal error"),
  }, handler);
  return { addr: server.addr, close: () => server.shutdown() };
}
