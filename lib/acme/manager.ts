/**
 * Keeps a certificate for `<host>` and `*.<host>` from an ACME CA, stored in
 * a state directory: the account key (`account-<id>.json`, one per
 * directory URL), the chain (`cert.pem`) and its key (`key.pem`).
 *
 * At start a stored certificate that covers both names and is not expired
 * is used as it is (no order); otherwise one is ordered, and start waits for
 * it, retrying with backoff. Renewal comes at two thirds of the lifetime (or
 * `renewBefore` ahead of expiry). A failed renewal is logged, the current
 * certificate keeps serving, and it is retried with backoff from
 * `retryMin` doubling to {@linkcode ACME_RETRY_MAX} (longer if the CA asks).
 * New files are written beside the old and renamed over them, key first,
 * then `onRenewed` is called so that the server swaps them in.
 */

import { X509Certificate } from "node:crypto";
import { AccountKey, b64url, sha256 } from "./jws.ts";
import { AcmeClient, AcmeError, type Dns01Responder } from "./client.ts";
import { covers, parseCertificate } from "../tls/mod.ts";

/** Let's Encrypt's production directory: the default. */
export const LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";
/** Let's Encrypt's staging directory: for trying things out. */
export const LETS_ENCRYPT_STAGING =
  "https://acme-staging-v02.api.letsencrypt.org/directory";
/** First wait after a failed order (ms); doubled each time. */
export const DEFAULT_ACME_RETRY_MIN = 60_000;
/** Longest wait between attempts (ms). */
export const ACME_RETRY_MAX = 60 * 60_000;

/** Options of {@linkcode CertificateManager}. */
export interface CertificateManagerOptions {
  /** The server's host: the certificate is for it and `*.` it. */
  host: string;
  /** ACME directory URL. */
  directory: string;
  /** Contact address for the account. */
  email?: string | undefined;
  /** Where the account and certificate are kept. */
  stateDir: string;
  /** Puts challenge TXT records in place. */
  dns: Dns01Responder;
  /** Extra CA certificates (PEM) to trust for the ACME server. */
  caCerts?: string[] | undefined;
  /** Renew when this little is left (ms); default: a third of the lifetime. */
  renewBefore?: number | undefined;
  /** First retry delay after a failure (ms). */
  retryMin?: number | undefined;
  /** Where progress and failures are logged. */
  log: (line: string) => void;
  /** A new certificate is in the files. */
  onRenewed?: () => void;
}

/** See the module doc. */
export class CertificateManager {
  #o: CertificateManagerOptions;
  #client: AcmeClient | undefined;
  #key: AccountKey | undefined;
  #http: Deno.HttpClient | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** The chain's path. */
  readonly certFile: string;
  /** The key's path. */
  readonly keyFile: string;
  /** Orders that ended in a certificate (for logs and tests). */
  issued = 0;

  /** A manager; {@linkcode start} does the work. */
  constructor(options: CertificateManagerOptions) {
    this.#o = options;
    this.certFile = `${options.stateDir}/cert.pem`;
    this.keyFile = `${options.stateDir}/key.pem`;
    if (options.caCerts?.length) {
      this.#http = Deno.createHttpClient({ caCerts: options.caCerts });
    }
  }

  get #names(): string[] {
    return [this.#o.host, `*.${this.#o.host}`];
  }

  /**
   * Resolves once a usable certificate is in the files (stored or newly
   * ordered; ordering is retried with backoff until it works or
   * {@linkcode stop}), and schedules its renewal.
   */
  async start(): Promise<void> {
    Deno.mkdirSync(this.#o.stateDir, { recursive: true });
    const stored = this.#stored();
    if (stored) {
      this.#o.log(
        `acme: using the stored certificate (expires ${
          new Date(stored.notAfter).toISOString()
        }), no new order`,
      );
      this.#schedule(stored.renewAt);
      return;
    }
    for (;;) {
      if (this.#stopped) throw new AcmeError("stopped");
      const wait = await this.#renew();
      if (wait === 0) break;
      // Stopped while that order was under way: no wait after it.
      if (this.#stopped) throw new AcmeError("stopped");
      await new Promise<void>((r) => {
        this.#wake = r;
        // setTimeout holds at most ~24.8 days (a retry is at most a day).
        this.#timer = setTimeout(r, Math.min(wait, 2 ** 31 - 1));
      });
    }
  }

  /** Cancels the renewal timer (and a {@linkcode start} still waiting). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    this.#http?.close();
  }

  /** The stored certificate, if it covers the names and is valid now. */
  #stored(): { notAfter: number; renewAt: number } | undefined {
    let cert: string, key: string;
    try {
      cert = Deno.readTextFileSync(this.certFile);
      key = Deno.readTextFileSync(this.keyFile);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    try {
      const c = parseCertificate(cert, key);
      if (!this.#names.every((n) => covers(c, n.replace("*", "x")))) {
        this.#o.log(
          `acme: the stored certificate does not cover ${
            this.#names.join(" and ")
          }; ordering one`,
        );
        return undefined;
      }
      return { notAfter: c.notAfter, renewAt: this.#renewAt(cert) };
    } catch (err) {
      this.#o.log(
        `acme: the stored certificate cannot be used (${
          (err as Error).message
        }); ordering one`,
      );
      return undefined;
    }
  }

  #renewAt(pem: string): number {
    const leaf = new X509Certificate(pem);
    const from = Date.parse(leaf.validFrom), to = Date.parse(leaf.validTo);
    const before = this.#o.renewBefore;
    if (before !== undefined && before < to - from) return to - before;
    if (before !== undefined) {
      // Due the moment it is issued: that would order without end.
      this.#o.log(
        `acme: --acme-renew-before (${
          before / 1000
        } s) is not shorter than the certificate's lifetime (${
          (to - from) / 1000
        } s); renewing at two thirds of it instead`,
      );
    }
    return from + (to - from) * 2 / 3;
  }

  #schedule(at: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    // setTimeout holds at most ~24.8 days: wake up and look again.
    const wait = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
    this.#timer = setTimeout(async () => {
      if (Date.now() < at) return this.#schedule(at);
      const wait = await this.#renew();
      if (wait > 0) this.#schedule(Date.now() + wait);
    }, wait);
    Deno.unrefTimer(this.#timer);
  }

  #backoff(): number {
    const min = this.#o.retryMin ?? DEFAULT_ACME_RETRY_MIN;
    return Math.min(ACME_RETRY_MAX, min * 2 ** Math.max(0, this.#failures - 1));
  }

  /** One order; 0 when a new certificate is in the files, else ms to wait. */
  async #renew(): Promise<number> {
    const started = Date.now();
    const names = this.#names.join(", ");
    this.#o.log(`acme: ordering a certificate for ${names}`);
    try {
      const client = await this.#account();
      let issued;
      try {
        issued = await client.obtain(this.#names, this.#o.dns, this.#o.log);
      } catch (err) {
        // The CA forgot the account (a reset test CA, say): make a new one.
        if (
          !(err instanceof AcmeError) ||
          !err.type.endsWith(":accountDoesNotExist")
        ) throw err;
        this.#o.log(
          "acme: the CA does not know our account; creating it again",
        );
        client.accountUrl = undefined;
        await this.#account();
        issued = await client.obtain(this.#names, this.#o.dns, this.#o.log);
      }
      const checked = parseCertificate(issued.cert, issued.key);
      this.#write(this.keyFile, issued.key, 0o600);
      this.#write(this.certFile, issued.cert, 0o644);
      this.#failures = 0;
      this.issued++;
      this.#o.log(
        `acme: certificate issued in ${
          ((Date.now() - started) / 1000).toFixed(1)
        } s for ${names} (expires ${
          new Date(checked.notAfter).toISOString()
        }, ${checked.fingerprint.slice(0, 11)})`,
      );
      this.#schedule(this.#renewAt(issued.cert));
      this.#o.onRenewed?.();
      return 0;
    } catch (err) {
      this.#failures++;
      const wait = Math.max(
        this.#backoff(),
        err instanceof AcmeError ? err.retryAfter : 0,
      );
      this.#o.log(
        `acme: the order failed: ${(err as Error).message}; retrying in ${
          Math.round(wait / 1000)
        } s${
          this.#hasCurrent() ? "; the current certificate keeps serving" : ""
        }`,
      );
      return wait;
    }
  }

  #hasCurrent(): boolean {
    try {
      Deno.statSync(this.certFile);
      return true;
    } catch {
      return false;
    }
  }

  /** The client with its account (made and stored on first use). */
  async #account(): Promise<AcmeClient> {
    if (this.#client?.accountUrl) return this.#client;
    const id = b64url(await sha256(this.#o.directory)).slice(0, 12);
    const path = `${this.#o.stateDir}/account-${id}.json`;
    if (!this.#client) {
      let saved: { url?: string; key: JsonWebKey } | undefined;
      try {
        saved = JSON.parse(Deno.readTextFileSync(path));
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          throw new AcmeError(
            `cannot read the account in ${path}: ${(err as Error).message}`,
          );
        }
      }
      this.#key = saved
        ? await AccountKey.fromJwk(saved.key)
        : await AccountKey.generate();
      this.#client = new AcmeClient({
        directory: this.#o.directory,
        key: this.#key,
        accountUrl: saved?.url,
        httpClient: this.#http,
      });
      if (saved?.url) return this.#client;
    }
    const url = await this.#client.account(this.#o.email);
    this.#write(
      path,
      JSON.stringify({
        directory: this.#o.directory,
        url,
        key: await this.#key!.toJwk(),
      }),
      0o600,
    );
    this.#o.log(`acme: account ${url}`);
    return this.#client;
  }

  #write(path: string, text: string, mode: number): void {
    const tmp = `${path}.tmp`;
    Deno.writeTextFileSync(tmp, text, { mode });
    Deno.renameSync(tmp, path);
  }
}
