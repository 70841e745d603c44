/**
 * etcd's v3 API through its JSON gateway, with nothing but `fetch`: leases,
 * ranges, transactions (compare-and-set) and a watch stream. Keys and values
 * are base64 on the wire; here they are strings. Every call tries the
 * endpoints in turn and fails with {@linkcode EtcdError} after
 * {@linkcode ETCD_REQUEST_TIMEOUT} on each, so a caller never waits long on
 * an etcd that lost quorum.
 */

/** Time one etcd request may take on one endpoint (ms). */
export const ETCD_REQUEST_TIMEOUT = 2_000;

/** etcd could not be reached, or refused; the message says why. */
export class EtcdError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EtcdError";
  }
}

/** A key-value pair as read. */
export interface KeyValue {
  /** The key. */
  key: string;
  /** The value. */
  value: string;
  /** Revision that created it. */
  createRevision: number;
  /** Revision that last changed it. */
  modRevision: number;
  /** Its lease ("0": none). */
  lease: string;
}

/** One change seen by a watch. */
export interface WatchEvent {
  /** A put or a delete. */
  type: "PUT" | "DELETE";
  /** The pair (a delete has only the key). */
  kv: KeyValue;
}

/** A comparison of a transaction. */
export type Compare =
  | { key: string; createRevision: number }
  | { key: string; modRevision: number }
  | { key: string; value: string };

/** An operation of a transaction. */
export type Op =
  | { put: string; value: string; lease?: string }
  | { delete: string };

const enc = new TextEncoder();
const b64 = (s: string) => {
  let bin = "";
  for (const b of enc.encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
};
const unb64 = (s: string | undefined) => {
  if (!s) return "";
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
};

/** The end of the range of keys starting with `prefix`. */
export function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

function kv(r: RawKv): KeyValue {
  return {
    key: unb64(r.key),
    value: unb64(r.value),
    createRevision: Number(r.create_revision ?? 0),
    modRevision: Number(r.mod_revision ?? 0),
    lease: r.lease ?? "0",
  };
}

function op(o: Op) {
  return "put" in o
    ? {
      request_put: {
        key: b64(o.put),
        value: b64(o.value),
        ...(o.lease ? { lease: o.lease } : {}),
      },
    }
    : { request_delete_range: { key: b64(o.delete) } };
}

/** A client of one etcd cluster; see the module doc. */
export class EtcdClient {
  #endpoints: string[];
  #next = 0;

  /** A client for `endpoints` (`http://host:port`). */
  constructor(endpoints: string[]) {
    if (!endpoints.length) throw new EtcdError("no etcd endpoints");
    this.#endpoints = endpoints;
  }

  /** One POST to the gateway, endpoint by endpoint until one answers. */
  async call(path: string, body: unknown): Promise<Record<string, unknown>> {
    let last: unknown;
    for (let i = 0; i < this.#endpoints.length; i++) {
      const base = this.#endpoints[(this.#next + i) % this.#endpoints.length]!;
      try {
        const res = await fetch(`${base}${path}`, {
          method: "POST",
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(ETCD_REQUEST_TIMEOUT),
        });
        const json = await res.json() as Record<string, unknown>;
        if (!res.ok) {
          // A member without quorum, or a bad request: try the next one.
          last = new EtcdError(
            `etcd ${base}${path}: ${res.status} ${
              String(json.message ?? json.error ?? "")
            }`,
          );
          continue;
        }
        this.#next = (this.#next + i) % this.#endpoints.length;
        return json;
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof EtcdError ? last : new EtcdError(
      `etcd unreachable (${this.#endpoints.join(", ")}): ${
        (last as Error)?.message ?? last
      }`,
      { cause: last },
    );
  }

  /** A new lease of `ttl` seconds; its id. */
  async grant(ttl: number): Promise<string> {
    const r = await this.call("/v3/lease/grant", { TTL: ttl });
    if (!r.ID) throw new EtcdError("etcd granted no lease");
    return String(r.ID);
  }

  /** Renews a lease; false when it no longer exists. */
  async keepAlive(id: string): Promise<boolean> {
    const r = await this.call("/v3/lease/keepalive", { ID: id });
    const result = r.result as { TTL?: string } | undefined;
    return Number(result?.TTL ?? 0) > 0;
  }

  /** Ends a lease now (its keys go with it). */
  async revoke(id: string): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: id });
  }

  /** The pairs under `prefix` (or the one `key`), and the store's revision. */
  async range(
    key: string,
    prefix = false,
  ): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call("/v3/kv/range", {
      key: b64(key),
      ...(prefix ? { range_end: b64(prefixEnd(key)) } : {}),
    });
    const header = r.header as { revision?: string } | undefined;
    return {
      kvs: ((r.kvs ?? []) as RawKv[]).map(kv),
      revision: Number(header?.revision ?? 0),
    };
  }

  /** If every comparison holds, `then`, else `otherwise`; whether it held. */
  async txn(
    compare: Compare[],
    then: Op[],
    otherwise: Op[] = [],
  ): Promise<boolean> {
    const r = await this.call("/v3/kv/txn", {
      compare: compare.map((c) =>
        "createRevision" in c
          ? {
            key: b64(c.key),
            result: "EQUAL",
            target: "CREATE",
            create_revision: String(c.createRevision),
          }
          : "modRevision" in c
          ? {
            key: b64(c.key),
            result: "EQUAL",
            target: "MOD",
            mod_revision: String(c.modRevision),
          }
          : {
            key: b64(c.key),
            result: "EQUAL",
            target: "VALUE",
            value: b64(c.value),
          }
      ),
      success: then.map(op),
      failure: otherwise.map(op),
    });
    return r.succeeded === true;
  }

  /**
   * Watches the keys under `prefix` from `revision` on, calling `onEvents`
   * per batch, until `signal` aborts or the stream ends (then it resolves;
   * the caller decides whether to watch again).
   */
  async watch(
    prefix: string,
    revision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const base = this.#endpoints[this.#next % this.#endpoints.length]!;
    this.#next++; // the next watch tries another member
    const res = await fetch(`${base}/v3/watch`, {
      method: "POST",
      body: JSON.stringify({
        create_request: {
          key: b64(prefix),
          range_end: b64(prefixEnd(prefix)),
          start_revision: String(revision),
        },
      }),
      signal,
    });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new EtcdError(`etcd watch on ${base}: ${res.status}`);
    }
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      text += decoder.decode(chunk, { stream: true });
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
        const line = text.slice(0, nl).trim();
        text = text.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as {
          result?: {
            header?: { revision?: string };
            events?: Array<{ type?: string; kv: RawKv }>;
            compact_revision?: string;
            canceled?: boolean;
          };
          error?: unknown;
        };
        if (msg.error || msg.result?.canceled) {
          throw new EtcdError(
            `etcd watch ended: ${JSON.stringify(msg.error ?? msg.result)}`,
          );
        }
        const events = (msg.result?.events ?? []).map((e) => ({
          type: e.type === "DELETE" ? "DELETE" as const : "PUT" as const,
          kv: kv(e.kv),
        }));
        onEvents(events, Number(msg.result?.header?.revision ?? 0));
      }
    }
  }
}
