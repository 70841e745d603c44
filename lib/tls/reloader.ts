/**
 * Keeps the served certificate in step with its files: they are checked
 * every {@linkcode DEFAULT_CERT_RELOAD_INTERVAL} (and at once on
 * {@linkcode CertificateReloader.reload}, which the CLI calls on SIGHUP).
 * A pair that fails the checks is logged and the current one keeps serving;
 * a good new pair is handed to `apply` for new handshakes.
 */

import {
  type Certificate,
  CertificateError,
  type CertificateFiles,
  readCertificate,
} from "./certificate.ts";

/** How often the certificate files are looked at for changes (ms). */
export const DEFAULT_CERT_RELOAD_INTERVAL = 5_000;

/** Options of {@linkcode CertificateReloader}. */
export interface CertificateReloaderOptions extends CertificateFiles {
  /** The pair serving now (read at start). */
  current: Certificate;
  /** Puts a new pair in service. */
  apply: (c: Certificate) => void;
  /** Where outcomes are logged. */
  log: (line: string) => void;
  /**
   * Milliseconds between looks at the files; 0 turns polling off.
   * @default {5000}
   */
  interval?: number;
}

/** Watches a certificate pair's files; see the module doc. */
export class CertificateReloader {
  #o: CertificateReloaderOptions;
  #current: Certificate;
  #stamp: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastError = "";

  /** Starts watching. */
  constructor(options: CertificateReloaderOptions) {
    this.#o = options;
    this.#current = options.current;
    this.#stamp = this.#stat();
    const every = options.interval ?? DEFAULT_CERT_RELOAD_INTERVAL;
    if (every > 0) {
      this.#timer = setInterval(() => {
        if (this.#stat() !== this.#stamp) this.reload();
      }, every);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** The pair serving now. */
  get current(): Certificate {
    return this.#current;
  }

  /**
   * Reads the files again and applies them if they changed and pass the
   * checks; true if a new certificate is now served.
   */
  reload(): boolean {
    this.#stamp = this.#stat();
    let next: Certificate;
    try {
      next = readCertificate(this.#o);
    } catch (err) {
      const why = err instanceof CertificateError ? err.message : String(err);
      // A pair half-written (the cert before its key) fails until the other
      // file lands: say it once, not on every look.
      if (why !== this.#lastError) {
        this.#o.log(
          `certificate reload failed, still serving ${
            short(this.#current)
          }: ${why}`,
        );
      }
      this.#lastError = why;
      return false;
    }
    this.#lastError = "";
    if (next.fingerprint === this.#current.fingerprint) return false;
    this.#o.apply(next);
    this.#o.log(
      `certificate reloaded: now serving ${short(next)} (was ${
        short(this.#current)
      })`,
    );
    this.#current = next;
    return true;
  }

  /** Stops watching. */
  close(): void {
    clearInterval(this.#timer);
  }

  #stat(): string {
    return [this.#o.certFile, this.#o.keyFile].map((f) => {
      try {
        const s = Deno.statSync(f);
        return `${s.ino}:${s.size}:${s.mtime?.getTime()}`;
      } catch {
        return "missing";
      }
    }).join("|");
  }
}

/** A certificate in a log line: its names, expiry and fingerprint's start. */
export function short(c: Certificate): string {
  return `${c.names.slice(0, 2).join(", ") || "(no DNS names)"} until ${
    new Date(c.notAfter).toISOString().slice(0, 10)
  } [${c.fingerprint.slice(0, 11)}]`;
}
