/**
 * An ACME client (RFC 8555) for one job: a certificate for some names by
 * DNS-01. Every request is a JWS POST with a fresh nonce; `badNonce` is
 * retried with the nonce the error carries (§6.5), `Retry-After` is obeyed
 * when polling, and a problem document becomes an {@linkcode AcmeError}
 * with its type, detail and any `Retry-After` (rate limits), so the caller
 * can back off.
 */

import { type AccountKey, b64url, sha256 } from "./jws.ts";
import { generateCertificateKey, makeCsr, privateKeyPem } from "./csr.ts";

/** Time one ACME HTTP request may take (ms). */
export const ACME_REQUEST_TIMEOUT = 30_000;
/** Time an order may take from creation to certificate (ms). */
export const ACME_ORDER_TIMEOUT = 5 * 60_000;
/** Poll interval when the server gives no Retry-After (ms). */
export const ACME_POLL_INTERVAL = 1_000;
/**
 * The longest `Retry-After` obeyed (ms): a day. A bigger one (or a date
 * years ahead) waits a day, then asks again.
 */
export const ACME_MAX_RETRY_AFTER = 24 * 60 * 60_000;
/** Times a request is retried after `badNonce`. */
export const ACME_NONCE_RETRIES = 5;

/** An ACME server said no, or could not be reached; the message says why. */
export class AcmeError extends Error {
  /** The problem type (`urn:ietf:params:acme:error:…`), if the server gave one. */
  readonly type: string;
  /** Milliseconds the server asked us to wait (rate limits), or 0. */
  readonly retryAfter: number;
  /** Creates the error. */
  constructor(
    message: string,
    type = "",
    retryAfter = 0,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "AcmeError";
    this.type = type;
    this.retryAfter = retryAfter;
  }
}

/** Puts challenge TXT records in place (our DNS zone). */
export interface Dns01Responder {
  /** Serves `values` as TXT at `name`; an empty list removes them. */
  setTxt(name: string, values: string[]): void;
}

/** What an issued certificate comes as. */
export interface Issued {
  /** PEM chain, leaf first. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

interface Order {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: Problem;
}

interface Challenge {
  type: string;
  url: string;
  token: string;
  status: string;
  error?: Problem;
}

interface Authorization {
  status: string;
  identifier: { type: string; value: string };
  wildcard?: boolean;
  challenges: Challenge[];
}

interface Problem {
  type?: string;
  detail?: string;
  subproblems?: Problem[];
}

/** Options of {@linkcode AcmeClient}. */
export interface AcmeClientOptions {
  /** The directory URL. */
  directory: string;
  /** The account key. */
  key: AccountKey;
  /** The account URL, when the account exists already. */
  accountUrl?: string | undefined;
  /** For fetch: e.g. a client trusting a test CA. */
  httpClient?: Deno.HttpClient | undefined;
}

/** One ACME account at one directory; see the module doc. */
export class AcmeClient {
  #o: AcmeClientOptions;
  #dir: Directory | undefined;
  #nonces: string[] = [];
  /** The account URL (the JWS `kid`) once known. */
  accountUrl: string | undefined;

  /** A client; nothing is sent until a method is called. */
  constructor(options: AcmeClientOptions) {
    this.#o = options;
    this.accountUrl = options.accountUrl;
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    // RFC 8555 §6.1: every ACME request goes over https; a URL the server
    // hands us that is not https (or not a URL) is not followed.
    if (!/^https:\/\//i.test(url)) {
      throw new AcmeError(
        `the ACME server gave a URL that is not https: ${
          JSON.stringify(String(url).slice(0, 200))
        }`,
      );
    }
    try {
      const res = await fetch(url, {
        ...init,
        signal: AbortSignal.timeout(ACME_REQUEST_TIMEOUT),
        ...(this.#o.httpClient ? { client: this.#o.httpClient } : {}),
      } as RequestInit);
      const nonce = res.headers.get("replay-nonce");
      if (nonce && this.#nonces.length < 16) this.#nonces.push(nonce);
      return res;
    } catch (err) {
      throw new AcmeError(
        `cannot reach ${new URL(url).origin}: ${(err as Error).message}`,
        "",
        0,
        { cause: err },
      );
    }
  }

  async #directory(): Promise<Directory> {
    if (this.#dir) return this.#dir;
    const res = await this.#fetch(this.#o.directory, {});
    if (!res.ok) {
      await res.body?.cancel();
      throw new AcmeError(
        `the ACME directory ${this.#o.directory} answered ${res.status}`,
      );
    }
    const d = await res.json() as Directory;
    if (!d.newNonce || !d.newAccount || !d.newOrder) {
      throw new AcmeError(`${this.#o.directory} is not an ACME directory`);
    }
    return this.#dir = d;
  }

  async #nonce(): Promise<string> {
    const n = this.#nonces.pop();
    if (n) return n;
    const res = await this.#fetch((await this.#directory()).newNonce, {
      method: "HEAD",
    });
    await res.body?.cancel();
    const fresh = this.#nonces.pop();
    if (!fresh) throw new AcmeError("the ACME server gave no nonce");
    return fresh;
  }

  /** A signed POST (`payload` undefined: POST-as-GET); throws on a problem. */
  async #post(
    url: string,
    payload: unknown,
    accept = "application/json",
  ): Promise<Response> {
    const kid = url === this.#dir?.newAccount ? undefined : this.accountUrl;
    for (let attempt = 0;; attempt++) {
      const body = await this.#o.key.jws(
        url,
        await this.#nonce(),
        payload,
        kid,
      );
      const res = await this.#fetch(url, {
        method: "POST",
        headers: { "content-type": "application/jose+json", accept },
        body,
      });
      if (res.ok) return res;
      const problem = await res.json().catch(() => ({})) as Problem;
      if (
        problem.type === "urn:ietf:params:acme:error:badNonce" &&
        attempt < ACME_NONCE_RETRIES
      ) continue;
      throw new AcmeError(
        describe(problem, `${res.status} from ${url}`),
        problem.type ?? "",
        retryAfter(res.headers.get("retry-after")),
      );
    }
  }

  /** Creates the account (or finds the existing one for this key); its URL. */
  async account(email?: string): Promise<string> {
    const dir = await this.#directory();
    const res = await this.#post(dir.newAccount, {
      termsOfServiceAgreed: true,
      ...(email ? { contact: [`mailto:${email}`] } : {}),
    });
    await res.body?.cancel();
    const url = res.headers.get("location");
    if (!url) throw new AcmeError("the new account has no URL (Location)");
    return this.accountUrl = url;
  }

  /**
   * Orders a certificate for `names`, answers the DNS-01 challenges through
   * `dns`, finalizes with a new key, and downloads the chain.
   */
  async obtain(
    names: string[],
    dns: Dns01Responder,
    log: (line: string) => void,
  ): Promise<Issued> {
    const deadline = Date.now() + ACME_ORDER_TIMEOUT;
    if (!this.accountUrl) await this.account();
    const dir = await this.#directory();
    const created = await this.#post(dir.newOrder, {
      identifiers: names.map((value) => ({ type: "dns", value })),
    });
    const orderUrl = created.headers.get("location");
    let order = await created.json() as Order;
    if (!orderUrl) throw new AcmeError("the new order has no URL (Location)");
    const thumbprint = await this.#o.key.thumbprint();
    // Challenge name → TXT values, and the challenges to start.
    const txt = new Map<string, string[]>();
    const pending: Array<
      { authz: string; challenge: Challenge; name: string }
    > = [];
    for (const url of order.authorizations) {
      const authz = await (await this.#post(url, undefined))
        .json() as Authorization;
      if (authz.status === "valid") continue;
      const challenge = authz.challenges.find((c) => c.type === "dns-01");
      const name = `${authz.wildcard ? "*." : ""}${authz.identifier.value}`;
      if (!challenge) {
        throw new AcmeError(
          `the server offers no dns-01 challenge for ${name}`,
        );
      }
      const keyAuthorization = `${challenge.token}.${thumbprint}`;
      const at = `_acme-challenge.${authz.identifier.value.toLowerCase()}`;
      const values = txt.get(at) ?? [];
      values.push(b64url(await sha256(keyAuthorization)));
      txt.set(at, values);
      pending.push({ authz: url, challenge, name });
    }
    try {
      for (const [at, values] of txt) dns.setTxt(at, values);
      for (const p of pending) {
        if (p.challenge.status === "pending") {
          await (await this.#post(p.challenge.url, {})).body?.cancel();
        }
      }
      for (const p of pending) {
        const authz = await this.#poll<Authorization>(
          p.authz,
          (a) => a.status !== "pending" && a.status !== "processing",
          deadline,
        );
        if (authz.status !== "valid") {
          const c = authz.challenges.find((c) => c.type === "dns-01");
          throw new AcmeError(
            `the dns-01 challenge for ${p.name} is ${authz.status}: ${
              c?.error ? describe(c.error, "no detail") : "no detail"
            }`,
            c?.error?.type ?? "",
          );
        }
        log(`acme: ${p.name} validated`);
      }
    } finally {
      for (const at of txt.keys()) dns.setTxt(at, []);
    }
    order = await this.#poll<Order>(
      orderUrl,
      (o) => o.status !== "pending",
      deadline,
    );
    if (order.status !== "ready" && order.status !== "valid") {
      throw new AcmeError(
        `the order is ${order.status}: ${
          order.error ? describe(order.error, "") : "no detail"
        }`,
        order.error?.type ?? "",
      );
    }
    const keys = await generateCertificateKey();
    if (order.status === "ready") {
      const csr = await makeCsr(names, keys);
      await (await this.#post(order.finalize, { csr: b64url(csr) })).body
        ?.cancel();
      order = await this.#poll<Order>(
        orderUrl,
        (o) => o.status !== "processing" && o.status !== "ready",
        deadline,
      );
    }
    if (order.status !== "valid" || !order.certificate) {
      throw new AcmeError(
        `the order ended ${order.status}${
          order.error ? `: ${describe(order.error, "")}` : ""
        }`,
        order.error?.type ?? "",
      );
    }
    const res = await this.#post(
      order.certificate,
      undefined,
      "application/pem-certificate-chain",
    );
    const cert = await res.text();
    if (!cert.includes("BEGIN CERTIFICATE")) {
      throw new AcmeError("the certificate download is not PEM");
    }
    return { cert, key: await privateKeyPem(keys.privateKey) };
  }

  /** POST-as-GET `url` until `done` says so, waiting as the server asks. */
  async #poll<T>(
    url: string,
    done: (t: T) => boolean,
    deadline: number,
  ): Promise<T> {
    for (;;) {
      const res = await this.#post(url, undefined);
      const t = await res.json() as T;
      if (done(t)) return t;
      const wait = retryAfter(res.headers.get("retry-after")) ||
        ACME_POLL_INTERVAL;
      if (Date.now() + wait > deadline) {
        throw new AcmeError(
          `gave up waiting for ${url} after ${ACME_ORDER_TIMEOUT / 1000} s`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(wait, 60_000)));
    }
  }
}

/**
 * `Retry-After` (seconds or an HTTP date) in ms, at most
 * {@linkcode ACME_MAX_RETRY_AFTER}; 0 when absent or bad.
 */
export function retryAfter(value: string | null, now = Date.now()): number {
  if (!value) return 0;
  let ms: number;
  if (/^\d+$/.test(value.trim())) ms = Number(value.trim()) * 1000;
  else {
    const at = Date.parse(value);
    ms = Number.isNaN(at) ? 0 : Math.max(0, at - now);
  }
  return Math.min(ms, ACME_MAX_RETRY_AFTER);
}

function describe(p: Problem, fallback: string): string {
  const type = p.type?.replace("urn:ietf:params:acme:error:", "");
  const main = [type, p.detail].filter(Boolean).join(": ") || fallback;
  const subs = (p.subproblems ?? []).map((s) => describe(s, "")).filter(
    Boolean,
  );
  return subs.length ? `${main} (${subs.join("; ")})` : main;
}
