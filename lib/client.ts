/**
 * The tunnel client: asks the server for a tunnel, then joins every channel
 * the server opens to a new connection to the local port. When the server
 * goes away it reconnects with exponential backoff and jitter, presenting
 * the secret of its last name to get the same name back.
 */

import type { Channel } from "./mux/channel.ts";
import { Session } from "./mux/session.ts";
import { PeekedConn } from "./peek.ts";
import { relay } from "./relay.ts";
import { closeQuietly } from "./sockets.ts";
import { page } from "./pages.ts";
import {
  encodeControlRequest,
  FEATURE_PING,
  HANDSHAKE_TIMEOUT,
  HandshakeError,
  HEADER_FEATURES,
  HEADER_PUBLIC_HOST,
  HEADER_SECRET,
  readResponseHead,
} from "./handshake.ts";
import { VERSION } from "./version.ts";

/** First reconnect delay (ms); it doubles per failed attempt. */
export const MIN_BACKOFF = 500;
/** Longest reconnect delay (ms). */
export const MAX_BACKOFF = 30_000;
/** PING interval offered to the server (ms). */
export const CLIENT_PING_INTERVAL = 10_000;
/** Silence after which the client gives the connection up (ms). */
export const CLIENT_PING_TIMEOUT = 30_000;
/** Server answers that retrying cannot fix: the client stops. */
const FATAL_STATUSES = new Set([400, 401, 403, 404, 409]);

/** Options of {@linkcode connect}. */
export interface ClientOptions {
  /** The local port to expose. */
  port: number;
  /**
   * The local host to connect to.
   * @default {"127.0.0.1"}
   */
  localHost?: string;
  /**
   * The server's host name (the bare host of its tunnels).
   * @default {"localhost"}
   */
  server?: string;
  /**
   * The server's port.
   * @default {9999}
   */
  serverPort?: number;
  /** Token for a server started with `--token`. */
  token?: string | undefined;
  /** A subdomain to ask for. */
  subdomain?: string | undefined;
  /**
   * Whether to reconnect when the server goes away.
   * @default {true}
   */
  reconnect?: boolean;
  /**
   * First reconnect delay in ms (doubles up to `maxBackoff`).
   * @default {500}
   */
  minBackoff?: number;
  /**
   * Longest reconnect delay in ms.
   * @default {30000}
   */
  maxBackoff?: number;
  /**
   * PING interval and silence timeout in ms, if the server agrees.
   * @default {{ interval: 10000, timeout: 30000 }}
   */
  ping?: { interval: number; timeout: number };
  /** Called on every state change, for status output. */
  onEvent?: (event: ClientEvent) => void;
}

/** What the client reports through `onEvent`. */
export type ClientEvent =
  | { type: "connecting"; server: string; attempt: number }
  | { type: "connected"; url: string; resumed: boolean }
  | { type: "disconnected"; reason: string }
  | { type: "retrying"; delay: number; reason: string }
  | { type: "local-error"; message: string };

/** A running client; see {@linkcode connect}. */
export class TunnelClient {
  /** Resolves once the client stopped: `close()`, or a refusal retrying cannot fix (rejects then). */
  readonly finished: Promise<void>;
  /** Resolves with the first public URL; rejects if the server refuses. */
  readonly ready: Promise<string>;
  #o:
    & Required<Omit<ClientOptions, "token" | "subdomain" | "onEvent">>
    & ClientOptions;
  #url: string | undefined;
  #stopped = false;
  #session: Session | undefined;
  #conn: Deno.Conn | undefined;
  #wake: (() => void) | undefined;
  #resume: { name: string; secret: string } | undefined;
  #resolveReady!: (url: string) => void;
  #rejectReady!: (err: Error) => void;

  /** Starts connecting; prefer {@linkcode connect}. */
  constructor(options: ClientOptions) {
    if (
      !Number.isInteger(options.port) || options.port < 1 ||
      options.port > 65535
    ) {
      throw new RangeError(`Invalid local port: ${options.port}`);
    }
    this.#o = {
      localHost: "127.0.0.1",
      server: "localhost",
      serverPort: 9999,
      reconnect: true,
      minBackoff: MIN_BACKOFF,
      maxBackoff: MAX_BACKOFF,
      ping: { interval: CLIENT_PING_INTERVAL, timeout: CLIENT_PING_TIMEOUT },
      ...options,
    };
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.finished = this.#run();
  }

  /** The public URL now (it changes only if the server forgot the name). */
  get url(): string | undefined {
    return this.#url;
  }

  /** Ends the session (the server frees the name at once) and stops. */
  close(): Promise<void> {
    this.#stopped = true;
    this.#session?.close();
    if (this.#conn) closeQuietly(this.#conn);
    this.#wake?.();
    this.#rejectReady(new HandshakeError("Closed before the tunnel was up"));
    return this.finished.catch(() => {});
  }

  #emit(event: ClientEvent): void {
    this.#o.onEvent?.(event);
  }

  async #run(): Promise<void> {
    const server = `${this.#o.server}:${this.#o.serverPort}`;
    for (let attempt = 0; !this.#stopped;) {
      this.#emit({ type: "connecting", server, attempt });
      let reason: string;
      try {
        const up = await this.#connectOnce();
        if (up) attempt = 0;
        reason = up ?? "closed";
        if (up !== undefined) this.#emit({ type: "disconnected", reason });
      } catch (err) {
        if (
          err instanceof HandshakeError && err.status !== undefined &&
          FATAL_STATUSES.has(err.status)
        ) {
          this.#stopped = true;
          this.#rejectReady(err);
          throw err;
        }
        reason = (err as Error).message;
      }
      if (this.#stopped || !this.#o.reconnect) break;
      const base = Math.min(
        this.#o.maxBackoff,
        this.#o.minBackoff * 2 ** attempt++,
      );
      const delay = Math.round(base * (0.5 + Math.random() * 0.5));
      this.#emit({ type: "retrying", delay, reason });
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    this.#rejectReady(new HandshakeError("Stopped before the tunnel was up"));
  }

  /** One connection's life; resolves with why it ended (after it was up). */
  async #connectOnce(): Promise<string | undefined> {
    const conn = await dial(dialHost(this.#o.server), this.#o.serverPort);
    this.#conn = conn;
    try {
      if (this.#stopped) return undefined;
      conn.setNoDelay(true);
      conn.setKeepAlive(true);
      const request = encodeControlRequest({
        host: this.#o.server,
        port: this.#o.serverPort,
        version: VERSION,
        token: this.#o.token,
        subdomain: this.#o.subdomain,
        resume: this.#resume,
        features: [FEATURE_PING],
      });
      let off = 0;
      while (off < request.length) {
        off += await conn.write(request.subarray(off));
      }
      const head = await readResponseHead(conn);
      if (head.status !== 200) {
        const message = await refusalMessage(conn, head.rest, head.headers);
        throw new HandshakeError(
          `The server refused the tunnel: ${head.status} ${message}`,
          head.status,
        );
      }
      const publicHost = head.headers.get(HEADER_PUBLIC_HOST);
      if (!publicHost) {
        throw new HandshakeError(
          "The server's answer has no X-Public-Host: is it a groktunnel server?",
          400,
        );
      }
      const session = new Session(new PeekedConn(conn, head.rest));
      this.#session = session;
      if (this.#stopped) session.close();
      const features = (head.headers.get(HEADER_FEATURES) ?? "").split(",").map(
        (f) => f.trim(),
      );
      if (features.includes(FEATURE_PING)) session.enablePing(this.#o.ping);
      const name = publicHost.split(".")[0]!;
      const secret = head.headers.get(HEADER_SECRET);
      const resumed = this.#resume?.name === name;
      this.#resume = secret ? { name, secret } : undefined;
      this.#url = `http://${publicHost}`;
      this.#emit({ type: "connected", url: this.#url, resumed });
      this.#resolveReady(this.#url);
      for await (const ch of session) this.#serve(ch);
      return (await session.closed).message;
    } finally {
      closeQuietly(conn);
    }
  }

  async #serve(ch: Channel): Promise<void> {
    const target = `${this.#o.localHost}:${this.#o.port}`;
    let local: Deno.TcpConn;
    try {
      local = await Deno.connect({
        hostname: this.#o.localHost,
        port: this.#o.port,
      });
    } catch (err) {
      const why = (err as Error).message;
      this.#emit({
        type: "local-error",
        message: `Local server ${target} is not answering (${why}): sent 502`,
      });
      try {
        await ch.write(
          page(
            502,
            `The local server at ${target} is not answering. Is it running?`,
          ),
        );
      } catch { /* the public side is gone */ }
      ch.close();
      return;
    }
    local.setNoDelay(true);
    await relay(local, ch);
  }
}

/**
 * Connects to a groktunnel server and exposes a local port; resolves once the
 * tunnel is up (retrying while the server is unreachable).
 *
 * @example Expose a local Deno.serve on a public URL
 * ```ts ignore
 * import { connect } from "jsr:@x/groktunnel";
 * Deno.serve({ port: 3000 }, () => new Response("hello"));
 * const tunnel = await connect({ port: 3000, server: "localhost", serverPort: 9999 });
 * console.log(tunnel.url); // http://k3x9q….localhost:9999
 * await tunnel.close();
 * ```
 */
export async function connect(options: ClientOptions): Promise<TunnelClient> {
  const client = new TunnelClient(options);
  client.finished.catch(() => {});
  await client.ready;
  return client;
}

/** `*.localhost` is loopback (RFC 6761); dial it as IPv4, where servers bind by default. */
function dialHost(host: string): string {
  return host === "localhost" || host.endsWith(".localhost")
    ? "127.0.0.1"
    : host;
}

async function dial(hostname: string, port: number): Promise<Deno.TcpConn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const dialing = Deno.connect({ hostname, port });
  try {
    return await Promise.race([
      dialing,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`Connecting to ${hostname}:${port} timed out`)),
          HANDSHAKE_TIMEOUT,
        );
      }),
    ]);
  } catch (err) {
    dialing.then((c) => c.close(), () => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a refusal's short body (bounded) to show the server's reason. */
async function refusalMessage(
  conn: Deno.Conn,
  rest: Uint8Array,
  headers: Map<string, string>,
): Promise<string> {
  const want = Math.min(Number(headers.get("content-length") ?? 0) || 0, 4096);
  const buf = new Uint8Array(4096);
  buf.set(rest.subarray(0, want));
  let got = Math.min(rest.length, want);
  const until = Date.now() + 2000;
  while (got < want && Date.now() < until) {
    const n = await conn.read(buf.subarray(got, want)).catch(() => null);
    if (n === null) break;
    got += n;
  }
  return new TextDecoder().decode(buf.subarray(0, got)).trim();
}
