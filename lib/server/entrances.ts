/**
 * The server's entrances: the ports it listens on and what each is for.
 * The main port speaks plain TCP (TLS passed through by SNI), or, with a
 * certificate, ends TLS itself (lib/tls/); beside a TLS port, an optional
 * plain HTTP port redirects visitors to https. Plug-ins add more (a
 * cluster's hop port).
 */

import type { NodeTlsConn } from "../tls/mod.ts";
import type { Entrance, EntranceContext, Listener } from "./plugin.ts";
import type { NetConn, PeekResult } from "../net/mod.ts";
import type { PublicSide } from "./public.ts";
import {
  CertificateReloader,
  DEFAULT_CERT_RELOAD_INTERVAL,
  readCertificate,
  TlsListener,
} from "../tls/mod.ts";

/** Certificate files for a server that ends TLS itself. */
export interface ServerTlsOptions {
  /** PEM certificate chain, leaf first (normally `*.<host>` and `<host>`). */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
  /**
   * Milliseconds between looks at the files for a new pair; 0: only on
   * `TunnelServer.reloadCertificate`.
   * @default {5000}
   */
  reloadInterval?: number;
}

/**
 * Accepts on `listener` until it closes, handing each connection to
 * `serve` (not awaited). A failed accept (out of file descriptors, say) is
 * logged and retried after a pause, never a spin or a crash.
 */
export async function acceptAll(
  listener: Listener,
  o: {
    closing: () => boolean;
    log: (line: string) => void;
    serve: (conn: NetConn) => void;
  },
): Promise<void> {
  for (;;) {
    let conn: NetConn;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (o.closing()) return;
      o.log(`accept failed: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    o.serve(conn);
  }
}

/** An entrance whose connections are peeked, then served by `serve`. */
function peeked(
  listener: Listener,
  serve: (p: PublicSide, conn: NodeTlsConn, r: PeekResult) => Promise<void>,
): Entrance {
  return {
    listener,
    async serve(conn, context: EntranceContext) {
      const r = await context.peek(conn, conn);
      // Handed on, not waited in.
      if (r) return serve(context.public, conn as NodeTlsConn, r);
    },
  };
}

/** What {@linkcode openEntrances} opened. */
export interface Entrances {
  /** The main port's address. */
  addr: Deno.NetAddr;
  /** The plain HTTP port beside a TLS one, if any. */
  httpAddr: Deno.NetAddr | undefined;
  /** Every port, with how its connections are served. */
  list: Entrance[];
  /** Looks at the certificate files, when the server ends TLS. */
  reloader: CertificateReloader | undefined;
  /** Resolves once every port listens. */
  ready: Promise<void>;
}

/** Options of {@linkcode openEntrances}. */
export interface EntranceOptions {
  /** Address to bind. */
  hostname: string;
  /** The main port (0: any). */
  port: number;
  /** Certificate files: the main port ends TLS. */
  tls: ServerTlsOptions | undefined;
  /** With `tls`: a plain HTTP port beside it. */
  httpPort: number | undefined;
  /** Milliseconds a TLS handshake may take. */
  handshakeTimeout: number;
  /** Where the reloader logs. */
  log: (line: string) => void;
}

/**
 * Binds the ports; throws if one cannot be bound (what was bound is closed
 * again), or a `CertificateError` for unusable certificate files.
 */
export function openEntrances(o: EntranceOptions): Entrances {
  const { hostname, port } = o;
  if (!o.tls) {
    const plain = Deno.listen({ hostname, port });
    return {
      addr: plain.addr,
      httpAddr: undefined,
      list: [peeked(plain, (p, c, r) => p.plain(c, r))],
      reloader: undefined,
      ready: Promise.resolve(),
    };
  }
  const cert = readCertificate(o.tls);
  // Bind once with Deno to fail now (and learn the port for 0), then let
  // node:tls take the address: its listen() only fails later.
  const probe = Deno.listen({ hostname, port });
  const addr = probe.addr;
  probe.close();
  const tls = new TlsListener({
    hostname,
    port: addr.port,
    certificate: cert,
    handshakeTimeout: o.handshakeTimeout,
  });
  const reloader = new CertificateReloader({
    certFile: o.tls.certFile,
    keyFile: o.tls.keyFile,
    interval: o.tls.reloadInterval ?? DEFAULT_CERT_RELOAD_INTERVAL,
    current: cert,
    apply: (c) => tls.setCertificate(c),
    log: o.log,
  });
  const list = [peeked(tls, (p, c, r) => p.terminated(c, r))];
  let httpAddr: Deno.NetAddr | undefined;
  if (o.httpPort !== undefined) {
    try {
      const http = Deno.listen({ hostname, port: o.httpPort });
      httpAddr = http.addr;
      list.push(peeked(http, (p, c, r) => p.redirect(c, r)));
    } catch (err) {
      tls.close();
      reloader.close();
      throw err;
    }
  }
  return { addr, httpAddr, list, reloader, ready: tls.ready };
}
