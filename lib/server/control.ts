/**
 * The control endpoint: what the bare host answers. A browser gets a short
 * page about the server; a client's `GET /` gets a tunnel (a name from the
 * {@linkcode Registry}, a `200`, then the session on the same connection);
 * a client's `DELETE /` with its name and secret (a clean exit) frees the
 * name at once instead of holding it.
 */

import {
  encodeControlResponse,
  encodeRefusal,
  FEATURE_FACTS,
  FEATURE_PING,
  FEATURE_POOL,
  HEADER_ALLOW_IP,
  HEADER_CLIENT,
  HEADER_DENY_IP,
  HEADER_FEATURES,
  HEADER_POOL,
  HEADER_POOL_SECRET,
  HEADER_RESUME,
  HEADER_SUBDOMAIN,
  Session,
  type SessionOptions,
} from "../wire/mod.ts";
import {
  answer,
  constantTimeEqual,
  type Handler,
  IpFilter,
  type NetConn,
  type PeekResult,
  reason,
  serveOnce,
  writeAll,
} from "../net/mod.ts";
import type { Registered, Registry } from "./registry.ts";
import type { OpenedTunnel, TunnelKind } from "./tunnel_kind.ts";
import type { LogSink } from "./log.ts";
import type { ServerStats } from "./stats.ts";
import { aboutPage, releaseName } from "./bare_host.ts";
import { Pool } from "../pool/mod.ts";

/** What the server keeps of a tunnel's session: one client's, or a pool's. */
export type TunnelSession = Pick<
  Session,
  "open" | "channelCount" | "closed" | "close" | "bytesIn" | "bytesOut"
>;

/** A tunnel as the server keeps it. */
export interface Tunnel extends Registered {
  /** The public host, `<name>.<host>[:port]`. */
  publicHost: string;
  /** The client's address. */
  client: string;
  /** When it started (ms since the epoch). */
  started: number;
  /** The multiplexed session to the client (a pool's: to its members). */
  session: TunnelSession;
  /** The pool, when several clients share the tunnel. */
  pool?: Pool | undefined;
  /** Public connections relayed so far. */
  connections: number;
  /** The client reads channel facts first on every channel. */
  facts: boolean;
  /** The client's own allow and deny lists for visitors. */
  visitors: IpFilter;
  /** Its kind's part (a port for TCP, a claim in a cluster). */
  opened: OpenedTunnel;
}

/** What the endpoint needs from the server. */
export interface ControlContext {
  /** The public base host. */
  host: string;
  /** The bearer token clients must present, if any. */
  token: string | undefined;
  /** The name table. */
  registry: Registry<Tunnel>;
  /** Log sink. */
  log: LogSink;
  /** What the server counts. */
  stats: ServerStats;
  /** True once the server is shutting down. */
  closing: () => boolean;
  /** PING interval and timeout for clients that offer it (ms). */
  ping: { interval: number; timeout: number };
  /** Each tunnel's session: channels at once, what it may owe, how long. */
  session: Required<
    Pick<SessionOptions, "maxChannels" | "maxOwed" | "owedTimeout">
  >;
  /** Called when a tunnel ended (after it left the registry). */
  ended: (t: Tunnel, why: string) => void;
  /** The kinds of tunnel offered, by the protocol a client asks for. */
  kinds: { http: TunnelKind } & Record<string, TunnelKind | undefined>;
  /** Members a pool may have. */
  maxPoolMembers: number;
  /** Handlers of paths on the bare host (an admin API), by prefix. */
  mounts: Map<string, Handler>;
}

/** Where a control request came in: decides the public URL and what is allowed. */
export interface Entrance {
  /** The scheme visitors use for tunnels of clients coming in here. */
  scheme: "http" | "https";
  /** The port visitors use (left out of URLs when it is the scheme's default). */
  publicPort: number | undefined;
  /** If set, tunnels are refused here with this one-line reason (403). */
  refuseTunnels?: string;
}

/** The control endpoint; see the module doc. */
export class ControlEndpoint {
  #c: ControlContext;

  /** An endpoint over `context`. */
  constructor(context: ControlContext) {
    this.#c = context;
  }

  /** Answers one request to the bare host; a tunnel's life when it is one. */
  async handle(
    conn: NetConn,
    r: PeekResult,
    entrance: Entrance,
  ): Promise<void> {
    const http = r.http!;
    const header = (name: string) =>
      http.headers.find(([n]) => n === name)?.[1];
    const path = http.target.replace(/^https?:\/\/[^/]*/i, "") || "/";
    const isClient = header(HEADER_CLIENT) !== undefined ||
      (header("user-agent") ?? "").startsWith("Go-http-client/");
    if (isClient && http.method === "DELETE" && path === "/") {
      return releaseName(this.#c, conn, header(HEADER_RESUME));
    }
    for (const [prefix, handler] of this.#c.mounts) {
      if (path === prefix || path.startsWith(`${prefix}/`)) {
        r.conn.skip(r.headLength);
        return serveOnce(conn, r, handler, prefix);
      }
    }
    if (!isClient || http.method !== "GET" || path !== "/") {
      return answer(conn, aboutPage(this.#c.host, entrance, http.method, path));
    }
    await this.#tunnel(conn, r, entrance, header);
  }

  async #tunnel(
    conn: NetConn,
    r: PeekResult,
    entrance: Entrance,
    header: (name: string) => string | undefined,
  ): Promise<void> {
    const ip = conn.remoteAddr.hostname;
    const began = performance.now();
    const refuse = (status: number, message: string) => {
      this.#c.stats.tunnelsRefused++;
      this.#c.log(`refused tunnel for ${ip}: ${status} ${message}`, {
        event: "tunnel_refused",
        ip,
        status,
        reason: message,
      });
      return answer(conn, encodeRefusal(status, reason(status), message));
    };
    if (this.#c.closing()) return refuse(503, "The server is shutting down");
    if (entrance.refuseTunnels) return refuse(403, entrance.refuseTunnels);
    if (this.#c.token !== undefined) {
      const auth = header("authorization") ?? "";
      if (!constantTimeEqual(auth, `Bearer ${this.#c.token}`)) {
        return refuse(
          401,
          auth ? "Wrong token" : "This server requires a token (--token)",
        );
      }
    }
    const protocol = (header("x-groktunnel-protocol") ?? "http").toLowerCase();
    if (protocol !== "http" && protocol !== "tcp") {
      return refuse(400, `Unknown tunnel protocol "${protocol.slice(0, 20)}"`);
    }
    const kind = this.#c.kinds[protocol];
    if (!kind) {
      return refuse(
        403,
        `This server does not offer ${protocol.toUpperCase()} tunnels (its operator can turn them on with --${protocol}-ports)`,
      );
    }
    let visitors: IpFilter;
    try {
      const list = (h: string) =>
        (header(h) ?? "").split(",").map((x) => x.trim()).filter(Boolean);
      visitors = new IpFilter(list(HEADER_ALLOW_IP), list(HEADER_DENY_IP));
    } catch (err) {
      return refuse(400, (err as Error).message);
    }
    const offered = (header(HEADER_FEATURES) ?? "").split(",").map((f) =>
      f.trim()
    );
    const pooled = header(HEADER_POOL) !== undefined;
    if (pooled && !offered.includes(FEATURE_POOL)) {
      return refuse(400, "A pool's member must offer the pool feature");
    }
    const [resumeName, resumeSecret] = (header(HEADER_RESUME) ?? "").split(" ");
    const claim = this.#c.registry.claim(
      ip,
      header(HEADER_SUBDOMAIN) ??
        (pooled ? kind.poolName?.(header) : undefined),
      resumeName && resumeSecret
        ? { name: resumeName, secret: resumeSecret }
        : undefined,
      pooled ? { secret: header(HEADER_POOL_SECRET) } : undefined,
    );
    if ("status" in claim) return refuse(claim.status, claim.message);
    const { name, secret, replaced, join } = claim;
    const cannotJoin = join &&
      joinRefusal(join, protocol, offered.includes(FEATURE_FACTS));
    if (cannotJoin) return refuse(cannotJoin.status, cannotJoin.message);
    if (replaced) {
      // The same client again: its old connection is dead but not yet
      // noticed (gone first, so that its port can be taken again).
      this.#c.registry.remove(replaced);
      this.#c.ended(replaced, "replaced by a reconnect");
      replaced.session.close();
      await replaced.opened.close("replaced");
    }
    const opened = join?.opened ??
      await kind.open({
        name,
        secret,
        ip,
        entrance,
        header,
        pooled: pooled
          ? { withSecret: header(HEADER_POOL_SECRET) !== undefined }
          : undefined,
      });
    if ("status" in opened) return refuse(opened.status, opened.message);
    const publicHost = opened.publicHost;
    const ping = offered.includes(FEATURE_PING);
    const facts = offered.includes(FEATURE_FACTS);
    const pool = join?.pool ??
      (pooled ? new Pool(this.#c.maxPoolMembers) : undefined);
    const extra: Record<string, string> = {
      "X-Groktunnel-Secret": secret,
      "X-Groktunnel-Url": `${opened.scheme}://${publicHost}`,
      ...opened.headers,
    };
    if (pool) {
      extra["X-Groktunnel-Pool-Secret"] = secret;
      extra["X-Groktunnel-Pool-Members"] = String(pool.members.length + 1);
    }
    const accepted = [
      ping && FEATURE_PING,
      facts && FEATURE_FACTS,
      pool && FEATURE_POOL,
    ].filter(Boolean);
    if (accepted.length) extra["X-Groktunnel-Features"] = accepted.join(", ");
    // The head is handled; bytes after it (if any) belong to the session.
    r.conn.skip(r.headLength);
    try {
      await writeAll(conn, encodeControlResponse(publicHost, extra));
    } catch (err) {
      if (!join) await opened.close("failed");
      throw err;
    }
    conn.setKeepAlive(true);
    const session = new Session(r.conn, {
      ...this.#c.session,
      acceptChannels: false,
    });
    if (ping) session.enablePing(this.#c.ping);
    const client = `${ip}:${conn.remoteAddr.port}`;
    const member = pool?.join(session, client);
    if (member && "status" in member) {
      // The pool filled up or ended while this one's answer was written.
      session.close();
      if (!join) await opened.close("failed");
      return;
    }
    if (member) {
      this.#c.registry.member(ip, 1);
      void opened.members?.(pool!.members.length);
    }
    const tunnel: Tunnel = join ?? {
      name,
      secret,
      ip,
      publicHost,
      client,
      started: Date.now(),
      session: pool ?? session,
      pool,
      pooled: pool !== undefined,
      connections: 0,
      facts,
      visitors,
      opened,
    };
    if (!join) {
      this.#c.registry.add(tunnel, protocol === "http");
      opened.start?.(tunnel);
      this.#c.stats.tunnelsStarted++;
    }
    this.#c.stats.handshake.observe((performance.now() - began) / 1000);
    this.#started(tunnel, client, protocol, entrance, !!join);
    const why = await session.closed;
    if (member) {
      this.#c.registry.member(ip, -1);
      const last = tunnel.pool!.leave(member);
      if (!last) {
        void opened.members?.(tunnel.pool!.members.length);
        return this.#memberLeft(tunnel, client, why.message);
      }
    }
    const vanished = this.#c.registry.remove(tunnel);
    if (vanished) this.#c.ended(tunnel, why.message);
    // Released: the client's DELETE took it out of the registry first.
    await opened.close(vanished ? "vanished" : "released");
  }

  /** Logs a tunnel's start, or a pool's new member. */
  #started(
    t: Tunnel,
    client: string,
    protocol: string,
    entrance: Entrance,
    joined: boolean,
  ): void {
    const members = t.pool ? ` (pool of ${t.pool.members.length})` : "";
    this.#c.log(
      `tunnel ${t.publicHost} ${
        joined ? "joined by" : "started for"
      } ${client}${entrance.scheme === "https" ? " (https)" : ""}${members}`,
      {
        event: joined ? "member_join" : "tunnel_start",
        name: t.name,
        host: t.publicHost,
        kind: protocol,
        client,
        scheme: t.opened.scheme,
        ...(t.pool ? { members: t.pool.members.length } : {}),
      },
    );
  }

  /** A pool's member left; the others go on. */
  #memberLeft(t: Tunnel, client: string, why: string): void {
    this.#c.log(
      `tunnel ${t.publicHost}: member ${client} left (${why}); ${
        t.pool!.members.length
      } left in the pool`,
      {
        event: "member_leave",
        name: t.name,
        client,
        members: t.pool!.members.length,
        reason: why,
      },
    );
  }
}

/** Why a client may not join the pool `t` (another protocol, or it is full). */
function joinRefusal(
  t: Tunnel,
  protocol: string,
  facts: boolean,
): { status: number; message: string } | undefined {
  if (t.facts !== facts) {
    return {
      status: 400,
      message: "A pool's members must all take channel facts, or none",
    };
  }
  if ((t.opened.scheme === "tcp") !== (protocol === "tcp")) {
    return {
      status: 409,
      message: `The pool "${t.name}" is of ${
        t.opened.scheme === "tcp" ? "TCP" : "HTTP"
      } tunnels`,
    };
  }
  return t.pool!.refusal();
}

/** `:port`, or nothing for the scheme's default port. */
export function portSuffix(
  scheme: "http" | "https",
  port: number | undefined,
): string {
  if (!port) return "";
  return (scheme === "http" && port === 80) ||
      (scheme === "https" && port === 443)
    ? ""
    : `:${port}`;
}
