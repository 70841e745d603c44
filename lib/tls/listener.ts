/**
 * The TLS-terminating listener: accepts TLS connections and hands them out as
 * {@linkcode NodeTlsConn}s, one certificate for every name, replaceable while
 * running.
 *
 * Why `node:tls` and not `Deno.listenTls` (checked on Deno 2.9.6; the test
 * `tls_test.ts` pins both facts):
 * - `Deno.listenTls` takes one certificate for the listener's lifetime. Its
 *   per-SNI hook (`Symbol.for("unstableSniResolver")`) is unofficial and
 *   caches each name's answer forever, errors included: a reload never
 *   reaches a name already seen, and every new SNI a visitor invents is kept
 *   (unbounded memory). Reopening the listener refuses or resets connections.
 * - `node:tls` `server.setSecureContext()` swaps the certificate for new
 *   handshakes with the listener untouched (no connection refused or reset),
 *   and each socket reports its SNI (`servername`), which the 421 check needs.
 * It costs speed (the bench's https rows say how much); correct reloads and
 * bounded memory come first.
 */

import { createServer, type TLSSocket } from "node:tls";
import type { Server } from "node:net";
import type { Certificate } from "./certificate.ts";
import { NodeTlsConn } from "./node_conn.ts";

/** Options of {@linkcode TlsListener}. */
export interface TlsListenerOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** The certificate served first. */
  certificate: Certificate;
  /** Milliseconds a client has to complete the TLS handshake. */
  handshakeTimeout: number;
  /** Called for each failed handshake (a scanner, a client that distrusts us). */
  onHandshakeError?: (err: Error) => void;
}

/** Accepts TLS connections; see the module doc for why `node:tls`. */
export class TlsListener implements AsyncIterable<NodeTlsConn> {
  /** The bound address (port resolved); valid once {@linkcode ready} resolved. */
  addr: Deno.NetAddr;
  /** Resolves once listening; rejects if the address cannot be bound. */
  readonly ready: Promise<void>;
  #server: Server & { setSecureContext(o: object): void };
  #queue: NodeTlsConn[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  /** Starts listening. */
  constructor(options: TlsListenerOptions) {
    this.addr = {
      transport: "tcp",
      hostname: options.hostname,
      port: options.port,
    };
    this.#server = createServer({
      cert: options.certificate.cert,
      key: options.certificate.key,
      allowHalfOpen: true,
      handshakeTimeout: options.handshakeTimeout,
    }, (sock: TLSSocket) => {
      if (this.#closed) {
        sock.destroy();
        return;
      }
      this.#queue.push(new NodeTlsConn(sock));
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    }) as Server & { setSecureContext(o: object): void };
    this.#server.on("tlsClientError", (err: Error, sock: TLSSocket) => {
      sock.destroy();
      options.onHandshakeError?.(err);
    });
    this.ready = new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(options.port, options.hostname, () => {
        this.#server.off("error", reject);
        const a = this.#server.address();
        if (a && typeof a === "object") {
          this.addr = { ...this.addr, port: a.port };
        }
        resolve();
      });
    });
    this.ready.catch(() => {});
  }

  /** Serves `certificate` to every handshake from now on. */
  setCertificate(certificate: Certificate): void {
    this.#server.setSecureContext({
      cert: certificate.cert,
      key: certificate.key,
    });
  }

  /** The next connection; rejects once closed. */
  async accept(): Promise<NodeTlsConn> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) return next;
      if (this.#closed) {
        throw new Deno.errors.BadResource("The listener is closed");
      }
      await new Promise<void>((r) => this.#wake = r);
    }
  }

  /** Stops listening; queued, unaccepted connections are closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const c of this.#queue.splice(0)) c.close();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<NodeTlsConn> {
    for (;;) {
      try {
        yield await this.accept();
      } catch {
        return;
      }
    }
  }
}
