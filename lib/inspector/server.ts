/**
 * The inspector's HTTP server on loopback (default 127.0.0.1:4040, the next
 * free port if taken): the page, the ngrok-shaped JSON API, live updates by
 * server-sent events, replay. Hardened because what it shows is hostile:
 * only loopback `Host` values are answered (DNS rebinding), POST and DELETE
 * need `Content-Type: application/json` (no cross-site form posts), and
 * replay only ever reaches the local app.
 */

import { requestObject, REQUESTS_URI, summary } from "./api.ts";
import { PAGE } from "./page.ts";
import {
  replay,
  replayBytes,
  type ReplayEdits,
  ReplayError,
} from "./replay.ts";
import type { CaptureStore } from "./store.ts";

/** The inspector's default port (ngrok's). */
export const DEFAULT_INSPECT_PORT = 4040;
/** Ports tried after the default when it is taken. */
export const INSPECT_PORT_TRIES = 50;
/** Events queued for one slow live client before it misses some. */
export const MAX_QUEUED_EVENTS = 256;

/** Options of {@linkcode startInspector}. */
export interface InspectorOptions {
  /** The captures. */
  store: CaptureStore;
  /** Loopback address to bind. */
  hostname: string;
  /** Port; taken → the next free one (unless `exact`). */
  port: number;
  /** Fail instead of trying further ports. */
  exact?: boolean;
  /**
   * The tunnel's public URL now, the local address it forwards to, and,
   * for a pool's member, how many members the pool has.
   */
  tunnel: () => {
    publicUrl: string | undefined;
    local: string;
    pool?: { members: number } | undefined;
  };
  /** Opens a connection to the local app (for replay). */
  dialLocal: () => Promise<Deno.TcpConn>;
}

/** A running inspector. */
export interface Inspector {
  /** Where it listens. */
  addr: Deno.NetAddr;
  /** Its URL. */
  url: string;
  /** Stops it. */
  close(): Promise<void>;
}

/** True for the loopback names and addresses the inspector may bind. */
export function isLoopbackHost(h: string): boolean {
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Starts the inspector; throws if no port could be had. */
export function startInspector(o: InspectorOptions): Inspector {
  if (!isLoopbackHost(o.hostname)) {
    throw new TypeError(
      `The inspector binds loopback only, not "${o.hostname}"`,
    );
  }
  const tries = o.exact ? 1 : INSPECT_PORT_TRIES;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let lastErr: unknown;
  const abort = new AbortController();
  for (let i = 0; i < tries && !server; i++) {
    try {
      server = Deno.serve({
        hostname: o.hostname,
        port: o.port + i,
        signal: abort.signal,
        onListen() {},
        onError: () => new Response("Internal error", { status: 500 }),
      }, (req) =>
        req.method === "HEAD"
          ? headOf(
            handle(
              new Request(req.url, { method: "GET", headers: req.headers }),
              o,
              server!.addr.port,
              abort.signal,
            ),
          )
          : handle(req, o, server!.addr.port, abort.signal));
    } catch (err) {
      lastErr = err;
      if (!(err instanceof Deno.errors.AddrInUse)) break;
    }
  }
  if (!server) throw lastErr;
  const addr = server.addr;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const s = server;
  return {
    addr,
    url: `http://${host}:${addr.port}`,
    close: async () => {
      abort.abort();
      await s.shutdown();
    },
  };
}

/** HEAD is answered as GET is, without the body. */
async function headOf(answer: Promise<Response>): Promise<Response> {
  const r = await answer;
  await r.body?.cancel();
  return new Response(null, { status: r.status, headers: r.headers });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
    },
  });
}

async function handle(
  req: Request,
  o: InspectorOptions,
  port: number,
  closing: AbortSignal,
): Promise<Response> {
  // DNS rebinding: a page elsewhere whose name resolves to 127.0.0.1 must
  // not read captures. Only loopback Host values with our port are served.
  const host = req.headers.get("host") ?? "";
  const allowed = [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];
  if (!allowed.includes(host.toLowerCase())) {
    return new Response(
      "Forbidden: the inspector answers loopback names only\n",
      {
        status: 403,
      },
    );
  }
  const url = new URL(req.url);
  const path = url.pathname;
  if (req.method === "POST" || req.method === "DELETE") {
    const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim()
      .toLowerCase();
    if (type !== "application/json") {
      return new Response(
        "POST and DELETE need Content-Type: application/json\n",
        {
          status: 415,
        },
      );
    }
  }
  if (path === "/" && req.method === "GET") {
    return new Response(PAGE, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
      },
    });
  }
  const tunnel = o.tunnel();
  if (path === "/api/tunnels" && req.method === "GET") {
    return json({
      tunnels: tunnel.publicUrl
        ? [{
          name: "command_line",
          uri: "/api/tunnels/command_line",
          public_url: tunnel.publicUrl,
          proto: new URL(tunnel.publicUrl).protocol.slice(0, -1),
          config: { addr: tunnel.local, inspect: true },
          // Ours, beside ngrok's shape: a pool's member says so.
          ...(tunnel.pool ? { pool: { members: tunnel.pool.members } } : {}),
        }]
        : [],
      uri: "/api/tunnels",
    });
  }
  if (path === REQUESTS_URI) {
    if (req.method === "GET") {
      const limit = Number(url.searchParams.get("limit") ?? 500) || 500;
      const list = o.store.list().slice(0, limit);
      return json({
        uri: REQUESTS_URI,
        requests: url.searchParams.has("summary")
          ? list.map(summary)
          : list.map((c) => requestObject(c, "command_line")),
        // Ours, beside ngrok's shape: requests not captured (over the rate).
        not_captured: o.store.notCaptured,
      });
    }
    if (req.method === "DELETE") {
      o.store.clear();
      return new Response(null, { status: 204 });
    }
    if (req.method === "POST") {
      let body: ReplayEdits & { id?: unknown };
      try {
        body = await req.json();
      } catch {
        return json({ error: "The body is not JSON" }, 400);
      }
      const c = typeof body.id === "string" ? o.store.get(body.id) : undefined;
      if (!c) return json({ error: "No such request" }, 404);
      try {
        const bytes = replayBytes(c, body);
        await replay(bytes, c.id, o.dialLocal, o.store);
      } catch (err) {
        if (err instanceof ReplayError) {
          return json({ error: err.message }, err.status);
        }
        throw err;
      }
      return new Response(null, { status: 204 });
    }
    return new Response("Method not allowed\n", { status: 405 });
  }
  if (path.startsWith(`${REQUESTS_URI}/`) && req.method === "GET") {
    const c = o.store.get(
      decodeURIComponent(path.slice(REQUESTS_URI.length + 1)),
    );
    return c
      ? json(requestObject(c, "command_line"))
      : json({ error: "No such request" }, 404);
  }
  if (path === "/api/events" && req.method === "GET") {
    return events(o.store, closing);
  }
  return new Response("Not found\n", { status: 404 });
}

/** Server-sent events: one per new or changed capture; a slow reader misses some. */
function events(store: CaptureStore, closing: AbortSignal): Response {
  const enc = new TextEncoder();
  let stop = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(enc.encode(": live\n\n"));
      const off = store.listen((c) => {
        if ((controller.desiredSize ?? 0) <= 0) return; // drop, never wait
        controller.enqueue(
          enc.encode(`event: request\ndata: ${JSON.stringify(summary(c))}\n\n`),
        );
      });
      // Other open pages empty their lists too.
      const offClear = store.onClear(() => {
        if ((controller.desiredSize ?? 0) <= 0) return;
        controller.enqueue(enc.encode("event: clear\ndata: {}\n\n"));
      });
      const end = () => {
        off();
        offClear();
        try {
          controller.close();
        } catch { /* closed */ }
      };
      stop = end;
      closing.addEventListener("abort", end, { once: true });
    },
    cancel() {
      stop();
    },
  }, { highWaterMark: MAX_QUEUED_EVENTS });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
    },
  });
}
