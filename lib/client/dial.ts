/**
 * How the client reaches the server: TCP, then TLS when asked. A verified
 * TLS connection uses Deno's own TLS (`Deno.startTls`, checked against the
 * runtime's root store or the given CA); `insecure` skips the check through
 * `node:tls` (`rejectUnauthorized: false`), the one TLS client here that can.
 * Every failure is a {@linkcode DialError} saying which step failed, with the
 * runtime's error as `cause`.
 */

import { connect as nodeTlsConnect } from "node:tls";
import { NodeTlsConn } from "../tls/mod.ts";
import type { ByteConn } from "../net/mod.ts";

/** How long dialing (TCP and TLS handshake) may take by default (ms). */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

/** Why dialing failed; `permanent` when retrying cannot help (DNS, bad certificate). */
export class DialError extends Error {
  /** True for failures that retrying will not fix. */
  readonly permanent: boolean;
  /** Creates the error. */
  constructor(message: string, permanent: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = "DialError";
    this.permanent = permanent;
  }
}

/** Where and how to dial. */
export interface DialOptions {
  /** Server host name or address, as the user gave it. */
  host: string;
  /** Server port. */
  port: number;
  /** Use TLS. */
  tls: boolean;
  /** PEM CA certificates to trust instead of the root store. */
  caCerts?: string[] | undefined;
  /** Skip certificate verification. */
  insecure?: boolean;
  /** Milliseconds for TCP and TLS together. */
  timeout: number;
  /** Aborts dialing. */
  signal?: AbortSignal | undefined;
}

/** True for names and addresses that never leave the machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") ||
    /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::1";
}

/** `*.localhost` is loopback (RFC 6761); dial it as IPv4, where servers bind by default. */
function dialHost(host: string): string {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") ? "127.0.0.1" : h;
}

/** What to do about a failed TLS handshake, when its error says. */
function tlsHint(why: string, o: DialOptions): string {
  if (/UnknownIssuer|unknown issuer|self.signed/i.test(why)) {
    return o.caCerts
      ? " (the certificate is not from the CA given with --ca)"
      : ". If the server's certificate comes from a CA of your own, give it with --ca <file> (and --allow-read=<file>), or use --insecure for a test";
  }
  if (/UnrecognisedName|unrecognized.name/i.test(why)) {
    return `. This port does not end TLS (a plain server passes TLS through to tunnels only): use --server http://${o.host}:${o.port}`;
  }
  if (
    /corrupt message|InvalidContentType|wrong version|packet length/i.test(why)
  ) {
    return `. The server answered without TLS: use --server http://${o.host}:${o.port}`;
  }
  return "";
}

/** Dials the server; see the module doc. */
export async function dialServer(o: DialOptions): Promise<ByteConn> {
  const signals = [AbortSignal.timeout(o.timeout)];
  if (o.signal) signals.push(o.signal);
  const signal = AbortSignal.any(signals);
  const where = `${o.host}:${o.port}`;
  const aborted = () =>
    o.signal?.aborted
      ? new DialError(`Connecting to ${where} was aborted`, true, {
        cause: o.signal.reason,
      })
      : new DialError(
        `Connecting to ${where} timed out after ${o.timeout} ms`,
        false,
      );
  if (o.tls && o.insecure) return await insecureTls(o, signal, aborted);
  let tcp: Deno.TcpConn;
  try {
    tcp = await Deno.connect({
      hostname: dialHost(o.host),
      port: o.port,
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw aborted();
    const dns = /lookup|resolve|name or service|nodename|dns/i.test(
      (err as Error).message,
    );
    throw new DialError(
      dns
        ? `Cannot resolve "${o.host}": ${(err as Error).message}`
        : `Cannot reach ${where}: ${(err as Error).message}`,
      dns,
      { cause: err },
    );
  }
  tcp.setNoDelay(true);
  tcp.setKeepAlive(true);
  if (!o.tls) return tcp;
  const tls = await Deno.startTls(tcp, {
    hostname: o.host.replace(/^\[|\]$/g, ""),
    ...(o.caCerts ? { caCerts: o.caCerts } : {}),
  });
  // `signal` carries the whole dial's deadline (TCP and TLS together).
  let onAbort = () => {};
  try {
    await Promise.race([
      tls.handshake(),
      new Promise<never>((_, reject) => {
        onAbort = () => reject(aborted());
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } catch (err) {
    try {
      tls.close();
    } catch { /* closed */ }
    if (err instanceof DialError) throw err;
    const why = (err as Error).message;
    throw new DialError(
      `TLS with ${where} failed: ${why}${tlsHint(why, o)}`,
      /certificate|issuer|expired|not valid/i.test(why),
      { cause: err },
    );
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  return tls;
}

function insecureTls(
  o: DialOptions,
  signal: AbortSignal,
  aborted: () => DialError,
): Promise<ByteConn> {
  return new Promise((resolve, reject) => {
    const options = {
      host: dialHost(o.host),
      port: o.port,
      rejectUnauthorized: false,
      // The session half-closes nothing, but a relay's EOF must not end it.
      allowHalfOpen: true,
      ...(/^[0-9.:\[\]]+$/.test(o.host) ? {} : { servername: o.host }),
    };
    const sock = nodeTlsConnect(options);
    const fail = (err: Error) => {
      sock.destroy();
      reject(
        err instanceof DialError ? err : new DialError(
          `Cannot reach ${o.host}:${o.port} over TLS: ${err.message}`,
          false,
          { cause: err },
        ),
      );
    };
    sock.once("error", fail);
    signal.addEventListener("abort", () => fail(aborted()), { once: true });
    sock.once("secureConnect", () => {
      sock.off("error", fail);
      const conn = new NodeTlsConn(sock);
      conn.setNoDelay(true);
      conn.setKeepAlive(true);
      resolve(conn);
    });
  });
}
