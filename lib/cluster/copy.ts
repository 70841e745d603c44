/**
 * A node's copy of every name in the cluster: read from etcd once, then
 * kept current by a watch, read again after any break. Routing reads this
 * copy, so it never waits on etcd, and keeps working while etcd is away.
 */

import { type EtcdClient, EtcdError } from "./etcd.ts";

/** Where a name is served. */
export interface NameHolder {
  /** The node's id. */
  node: string;
  /** The node's internal address (`host:port`) for hops. */
  addr: string;
  /** A pool's entry: how many members the node has. */
  members?: number;
}

/** A holder as stored in etcd (JSON), or undefined if it is not one. */
export function parseHolder(value: string): NameHolder | undefined {
  try {
    const v = JSON.parse(value) as Partial<NameHolder>;
    if (typeof v.node !== "string" || typeof v.addr !== "string") {
      return undefined;
    }
    return typeof v.members === "number"
      ? { node: v.node, addr: v.addr, members: v.members }
      : { node: v.node, addr: v.addr };
  } catch {
    return undefined;
  }
}

/**
 * See the module doc. Values are parsed by `parse` (a {@linkcode
 * NameHolder} by default); what it rejects is left out.
 */
export class NameCopy<T = NameHolder> {
  #etcd: EtcdClient;
  #prefix: string;
  #down: (err: unknown) => void;
  #put: (name: string, h: T) => void;
  #parse: (value: string) => T | undefined;
  #names = new Map<string, T>();
  /** Keys `<group>/<node>` by group (a pool's nodes), kept with `#names`. */
  #groups = new Map<string, Map<string, T>>();
  #stop = new AbortController();

  /**
   * A copy of the names under `prefix`; `down` hears of etcd failing,
   * `put` of every name set by someone (after the first read).
   */
  constructor(
    etcd: EtcdClient,
    prefix: string,
    down: (err: unknown) => void,
    put: (name: string, h: T) => void,
    parse: (value: string) => T | undefined = parseHolder as (
      value: string,
    ) => T | undefined,
  ) {
    this.#etcd = etcd;
    this.#prefix = prefix;
    this.#down = down;
    this.#put = put;
    this.#parse = parse;
  }

  /** Every key and its value now. */
  entries(): IterableIterator<[string, T]> {
    return this.#names.entries();
  }

  /** Starts following; resolves after the first read (or its failure). */
  start(): Promise<void> {
    return new Promise((loaded) => this.#loop(loaded));
  }

  /** Stops following. */
  close(): void {
    this.#stop.abort();
  }

  /** Where `name` is served, as far as this copy knows. */
  get(name: string): T | undefined {
    return this.#names.get(name);
  }

  /** Sets a name at once (this node's own claims, before the watch says so). */
  set(name: string, h: T): void {
    this.#names.set(name, h);
    this.#group(name, h);
  }

  /** Drops a key at once (this node's own deletes, before the watch says so). */
  remove(name: string): void {
    this.#names.delete(name);
    this.#group(name, undefined);
  }

  /** The holders of keys `<group>/…` (a pool's nodes). */
  group(group: string): ReadonlyMap<string, T> | undefined {
    return this.#groups.get(group);
  }

  /** Keeps `#groups` with a key that was set (`h`) or deleted. */
  #group(key: string, h: T | undefined): void {
    const slash = key.indexOf("/");
    if (slash < 0) return;
    const g = key.slice(0, slash), rest = key.slice(slash + 1);
    let m = this.#groups.get(g);
    if (h) {
      if (!m) this.#groups.set(g, m = new Map());
      m.set(rest, h);
    } else if (m) {
      m.delete(rest);
      if (m.size === 0) this.#groups.delete(g);
    }
  }

  async #loop(loaded: () => void): Promise<void> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      try {
        let kvs, revision;
        try {
          ({ kvs, revision } = await this.#etcd.range(this.#prefix, true));
        } finally {
          loaded();
        }
        const fresh = new Map<string, T>();
        for (const kv of kvs) {
          const h = this.#parse(kv.value);
          if (h) fresh.set(kv.key.slice(this.#prefix.length), h);
        }
        this.#names = fresh;
        this.#groups.clear();
        for (const [k, h] of fresh) this.#group(k, h);
        await this.#etcd.watch(this.#prefix, revision + 1, (events) => {
          for (const e of events) {
            const name = e.kv.key.slice(this.#prefix.length);
            if (e.type === "DELETE") {
              this.#names.delete(name);
              this.#group(name, undefined);
              continue;
            }
            const h = this.#parse(e.kv.value);
            if (!h) continue;
            this.#names.set(name, h);
            this.#group(name, h);
            this.#put(name, h);
          }
        }, stop);
      } catch (err) {
        if (stop.aborted) return;
        if (err instanceof EtcdError || err instanceof TypeError) {
          this.#down(err);
        }
      }
      if (!stop.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
