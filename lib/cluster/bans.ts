/**
 * An operator's stop, across the cluster: ending a tunnel at any node (its
 * admin API) writes `/groktunnel/bans/<name>` with until when and why, on a
 * lease as long as the block (none for good). Every node follows the bans
 * (a watch, as for names), ends its own tunnel of that name and refuses the
 * name until then, wherever its client comes back.
 */

import { type EtcdClient, EtcdError } from "./etcd.ts";
import { NameCopy } from "./copy.ts";

/** A ban as stored: until when (ms since the epoch; null: for good), and why. */
interface Ban {
  until: number | null;
  why: string;
}

function parseBan(value: string): Ban | undefined {
  try {
    const v = JSON.parse(value) as Partial<Ban>;
    return (typeof v.until === "number" || v.until === null) &&
        typeof v.why === "string"
      ? { until: v.until, why: v.why.slice(0, 200) }
      : undefined;
  } catch {
    return undefined;
  }
}

/** See the module doc. */
export class ClusterBans {
  #etcd: EtcdClient;
  #prefix: string;
  #copy: NameCopy<Ban>;
  #end: (name: string, ms: number, why: string) => void;

  /** Bans under `prefix`; `end` ends this node's tunnel of a banned name. */
  constructor(
    etcd: EtcdClient,
    prefix: string,
    end: (name: string, ms: number, why: string) => void,
    down: (err: unknown) => void,
  ) {
    this.#etcd = etcd;
    this.#prefix = `${prefix}bans/`;
    this.#end = end;
    this.#copy = new NameCopy<Ban>(
      etcd,
      this.#prefix,
      down,
      (name, ban) => this.#apply(name, ban),
      parseBan,
    );
  }

  /** Reads the bans (applying those in force) and follows them. */
  async start(): Promise<void> {
    await this.#copy.start();
    for (const [name, ban] of this.#copy.entries()) this.#apply(name, ban);
  }

  /** Stops following. */
  close(): void {
    this.#copy.close();
  }

  /** Bans `name` on every node for `ms` (Infinity: for good), saying `why`. */
  async ban(name: string, ms: number, why: string): Promise<void> {
    const forever = !Number.isFinite(ms);
    const value = JSON.stringify({
      until: forever ? null : Date.now() + ms,
      why,
    });
    try {
      const lease = forever
        ? undefined
        : await this.#etcd.grant(Math.max(1, Math.ceil(ms / 1000)));
      await this.#etcd.txn([], [{
        put: this.#prefix + name,
        value,
        ...(lease ? { lease } : {}),
      }]);
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
    }
  }

  #apply(name: string, ban: Ban): void {
    const ms = ban.until === null ? Infinity : ban.until - Date.now();
    if (ms > 0) this.#end(name, ms, ban.why);
  }
}
