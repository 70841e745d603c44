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
  HEADER_ALLOW_IP,
  HEADER_CLIENT,
  HEADER_DENY_IP,
  HEADER_FEATURES,
  HEADER_RESUME,
  HEADER_SUBDOMAIN,
  Session,
  type SessionOptions,
} from "../wire/mod.ts";
import {
  answer,
  constantTimeEqual,
  IpFilter,
  type NetConn,
  page,
  type PeekResult,
  reason,
  writeAll,
} from "../net/mod.ts";
import type { Registered, Registry } from "./registry.ts";
import { VERSION } from "../version.ts";
import type { OpenedTunnel, TunnelKind } from "./tunnel_kind.ts";
import type { LogSink } from "./log.ts";
import type { ServerStats } from "./stats.ts";

/** A tunnel as the server keeps it. */
export interface Tunnel extends Registered {
  /** The public host, `<name>.<host>[:port]`. */
  publicHost: string;
  /** The client's address. */
  client: string;
  /** When it started (ms since the epoch). */
  started: number;
  /** The multiplexed session to the client. */
  session: Session;
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
      return this.#release(conn, header(HEADER_RESUME));
    }
    if (!isClient || http.method !== "GET" || path !== "/") {
      const headOnly = http.method === "HEAD";
      const server = `${entrance.scheme}://${this.#c.host}${
        portSuffix(entrance.scheme, entrance.publicPort)
      }`;
      await answer(
        conn,
        path === "/" && (http.method === "GET" || headOnly)
          ? page(
            200,
            `Expose a local port through this server with the command below. To get the groktunnel command, in a clone of its repository: deno install -g --allow-net --allow-env --v8-flags=--max-semi-space-size=2 -n groktunnel main.ts`,
            {
              headOnly,
              title: `groktunnel server on ${this.#c.host}`,
              code: `groktunnel 3000 --server ${server}`,
              footer: `groktunnel ${VERSION}`,
            },
          )
          : page(404, `Nothing here. Tunnels are at <name>.${this.#c.host}.`, {
            headOnly,
          }),
      );
      return;
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
    const [resumeName, resumeSecret] = (header(HEADER_RESUME) ?? "").split(" ");
    const claim = this.#c.registry.claim(
      ip,
      header(HEADER_SUBDOMAIN),
      resumeName && resumeSecret
        ? { name: resumeName, secret: resumeSecret }
        : undefined,
    );
    if ("status" in claim) return refuse(claim.status, claim.message);
    const { name, secret, replaced } = claim;
    if (replaced) {
      // The same client again: its old connection is dead but not yet
      // noticed (gone first, so that its port can be taken again).
      this.#c.registry.remove(replaced);
      this.#c.ended(replaced, "replaced by a reconnect");
      replaced.session.close();
      await replaced.opened.close("replaced");
    }
    const opened = await kind.open({ name, secret, ip, entrance, header });
    if ("status" in opened) return refuse(opened.status, opened.message);
    const publicHost = opened.publicHost;
    const offered = (header(HEADER_FEATURES) ?? "").split(",").map((f) =>
      f.trim()
    );
    const ping = offered.includes(FEATURE_PING);
    const facts = offered.includes(FEATURE_FACTS);
    const extra: Record<string, string> = {
      "X-Groktunnel-Secret": secret,
      "X-Groktunnel-Url": `${opened.scheme}://${publicHost}`,
      ...opened.headers,
    };
    const accepted = [ping && FEATURE_PING, facts && FEATURE_FACTS].filter(
      Boolean,
    );
    if (accepted.length) extra["X-Groktunnel-Features"] = accepted.join(", ");
    // The head is handled; bytes after it (if any) belong to the session.
    r.conn.skip(r.headLength);
    try {
      await writeAll(conn, encodeControlResponse(publicHost, extra));
    } catch (err) {
      await opened.close("failed");
      throw err;
    }
    conn.setKeepAlive(true);
    const session = new Session(r.conn, {
      ...this.#c.session,
      acceptChannels: false,
    });
    if (ping) session.enablePing(this.#c.ping);
    const tunnel: Tunnel = {
      name,
      secret,
      ip,
      publicHost,
      client: `${ip}:${conn.remoteAddr.port}`,
      started: Date.now(),
      session,
      connections: 0,
      facts,
      visitors,
      opened,
    };
    this.#c.registry.add(tunnel, protocol === "http");
    opened.start?.(tunnel);
    this.#c.stats.tunnelsStarted++;
    this.#c.stats.handshake.observe((performance.now() - began) / 1000);
    this.#c.log(
      `tunnel ${publicHost} started for ${tunnel.client}${
        entrance.scheme === "https" ? " (https)" : ""
      }`,
      {
        event: "tunnel_start",
        name,
        host: publicHost,
        kind: protocol,
        client: tunnel.client,
        scheme: opened.scheme,
      },
    );
    const why = await session.closed;
    const vanished = this.#c.registry.remove(tunnel);
    if (vanished) this.#c.ended(tunnel, why.message);
    // Released: the client's DELETE took it out of the registry first.
    await opened.close(vanished ? "vanished" : "released");
  }

  async #release(conn: NetConn, resume: string | undefined): Promise<void> {
    const [name, secret] = (resume ?? "").split(" ");
    const local = name && secret
      ? this.#c.registry.release(name, secret)
      : { ok: false, live: undefined };
    const live = local.live;
    // Held beyond this process too (a cluster): the client may have been
    // served by another node.
    const kinds = Object.values(this.#c.kinds);
    const elsewhere = name && secret
      ? (await Promise.all(
        kinds.map((k) => k?.released?.(name, secret) ?? false),
      )).some(Boolean)
      : false;
    const ok = local.ok || elsewhere;
    if (live) {
      this.#c.ended(live, "the client stopped");
      live.session.close();
    }
    if (ok) { for (const k of kinds) k?.forget?.(name!); }
    if (ok) this.#c.log(`name ${name} released by its client`);
    await answer(
      conn,
      ok
        ? encodeRefusal(200, "OK", `Released "${name}"`)
        : encodeRefusal(404, reason(404), "No such name held for that secret"),
    );
  }
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
