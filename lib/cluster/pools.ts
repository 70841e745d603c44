/**
 * Pools across the nodes of a cluster. A node with members of the pool
 * `<name>` keeps `/groktunnel/pools/<name>/<node>` (its address and member
 * count) under its node lease, and the pool's secret's hash holds the name
 * under `/groktunnel/holds/<name>`, as a client's secret holds its name.
 * Every node keeps a copy of the pool entries (a watch, as for names), and
 * spreads a pool's visitors over the nodes in proportion to their members:
 * its own members are served here, the rest hop to the node that has them.
 * A node whose last member leaves takes its entry out; the last node's
 * leaving holds the name for the pool's secret for the name hold.
 */

import { createHash } from "node:crypto";
import { type EtcdClient, EtcdError } from "./etcd.ts";
import { NameCopy, type NameHolder } from "./copy.ts";
import type { Refusal } from "../wire/mod.ts";

/** The cluster's pool entries, under the cluster's prefix. */
const POOLS = "pools/";

/** Options of {@linkcode ClusterPools}. */
export interface ClusterPoolsOptions {
  /** The etcd client. */
  etcd: EtcdClient;
  /** Where the cluster's keys live. */
  prefix: string;
  /** This node. */
  me: NameHolder;
  /** Milliseconds a name stays held once the pool's last node left. */
  nameHold: number;
  /** This node's leases: its own (entries) and its holds'. */
  leases(): Promise<{ node: string; hold: string }>;
  /** etcd did not answer. */
  down(err: unknown): void;
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex");

/** See the module doc. */
export class ClusterPools {
  #o: ClusterPoolsOptions;
  #copy: NameCopy;
  /** This node's pools: the secret's hash by name. */
  #local = new Map<string, string>();
  /** Each pool's turn, for the spread over nodes. */
  #turns = new Map<string, number>();

  /** Pools of this node's cluster; {@linkcode start} reads them. */
  constructor(options: ClusterPoolsOptions) {
    this.#o = options;
    this.#copy = new NameCopy(
      options.etcd,
      options.prefix + POOLS,
      options.down,
      () => {},
    );
  }

  /** Reads the entries and follows them. */
  start(): Promise<void> {
    return this.#copy.start();
  }

  /** Stops following. */
  close(): void {
    this.#copy.close();
  }

  /** True when this node has a pool `name` whose secret is `secret`. */
  owns(name: string, secret: string): boolean {
    return this.#local.get(name) === hash(secret);
  }

  /** The pools other nodes have members of, once per node. */
  elsewhere(): Array<{ name: string; node: string }> {
    const out = [];
    for (const [key, h] of this.#copy.entries()) {
      if (h.node !== this.#o.me.node && h.members! > 0) {
        out.push({ name: key.slice(0, key.indexOf("/")), node: h.node });
      }
    }
    return out;
  }

  /** True when some node has members of the pool `name`. */
  has(name: string): boolean {
    return (this.#copy.group(name)?.size ?? 0) > 0;
  }

  /**
   * Claims `name` for a pool whose secret is `secret`, on this node: a free
   * name, or one held for the same secret (the pool lives on other nodes,
   * or all its members left a moment ago). Undefined when it is ours now.
   * `given`: the client gave the secret (else the server made one up).
   */
  async claim(
    name: string,
    secret: string,
    given: boolean,
  ): Promise<Refusal | undefined> {
    const digest = hash(secret), p = this.#o.prefix;
    try {
      const { node, hold } = await this.#o.leases();
      const put = [
        { put: `${p}holds/${name}`, value: digest, lease: hold },
        { put: this.#key(name), value: this.#entry(0), lease: node },
      ];
      const free = await this.#o.etcd.txn([
        { key: `${p}names/${name}`, createRevision: 0 },
        { key: `${p}holds/${name}`, createRevision: 0 },
      ], put);
      const held = !free &&
        (await this.#o.etcd.range(`${p}holds/${name}`)).kvs[0];
      if (
        free ||
        (held && held.value === digest && await this.#o.etcd.txn([
          { key: `${p}names/${name}`, createRevision: 0 },
          { key: `${p}holds/${name}`, modRevision: held.modRevision },
        ], put))
      ) {
        this.#local.set(name, digest);
        this.#copy.set(`${name}/${this.#o.me.node}`, this.#holder(0));
        return undefined;
      }
      if (held && held.value !== digest && this.has(name)) {
        return given
          ? { status: 403, message: `Wrong pool secret for "${name}"` }
          : {
            status: 409,
            message:
              `The name "${name}" is a pool's: join it with its pool secret (--pool-secret)`,
          };
      }
      return {
        status: 409,
        message: `The name "${name}" is in use or held on another node`,
      };
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      this.#o.down(err);
      return {
        status: 503,
        message:
          "The cluster's store (etcd) cannot be reached: new tunnels are refused until it is back",
      };
    }
  }

  /**
   * This node has `n` members of the pool `name` now; with none, its entry
   * goes, and when no node has any, the name is held for the pool's secret
   * for the name hold (`release`: freed instead, a clean exit).
   */
  async members(name: string, n: number, release = false): Promise<void> {
    const digest = this.#local.get(name);
    if (digest === undefined) return;
    const etcd = this.#o.etcd, p = this.#o.prefix;
    try {
      if (n > 0) {
        const { node } = await this.#o.leases();
        await etcd.txn([], [{
          put: this.#key(name),
          value: this.#entry(n),
          lease: node,
        }]);
        this.#copy.set(`${name}/${this.#o.me.node}`, this.#holder(n));
        return;
      }
      this.#local.delete(name);
      this.#copy.remove(`${name}/${this.#o.me.node}`);
      await etcd.txn([], [{ delete: this.#key(name) }]);
      const others = (await etcd.range(`${p}${POOLS}${name}/`, true)).kvs;
      if (others.length > 0) return;
      const hold = release || this.#o.nameHold <= 0
        ? { delete: `${p}holds/${name}` }
        : {
          put: `${p}holds/${name}`,
          value: digest,
          lease: await etcd.grant(
            Math.max(1, Math.ceil(this.#o.nameHold / 1000)),
          ),
        };
      await etcd.txn([{ key: `${p}holds/${name}`, value: digest }], [hold]);
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      this.#o.down(err);
    }
  }

  /**
   * Where a visitor of the pool `name` goes, with `local` members up here:
   * another node (in turn, by members), or undefined for this node.
   */
  route(name: string, local: number): NameHolder | undefined {
    const group = this.#copy.group(name);
    if (!group) return undefined;
    let total = local;
    const others: NameHolder[] = [];
    for (const [node, h] of group) {
      if (node === this.#o.me.node || !(h.members! > 0)) continue;
      others.push(h);
      total += h.members!;
    }
    if (others.length === 0) {
      this.#turns.delete(name);
      return undefined;
    }
    const turn = this.#turns.get(name) ?? 0;
    this.#turns.set(name, (turn + 1) % total);
    let k = turn % total - local;
    if (k < 0) return undefined;
    for (const h of others) {
      k -= h.members!;
      if (k < 0) return h;
    }
    return undefined;
  }

  #key(name: string): string {
    return `${this.#o.prefix}${POOLS}${name}/${this.#o.me.node}`;
  }

  #holder(members: number): NameHolder {
    return { ...this.#o.me, members };
  }

  #entry(members: number): string {
    return JSON.stringify(this.#holder(members));
  }
}
