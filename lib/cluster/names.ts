/**
 * The cluster's name table, kept in etcd. Under `/groktunnel/names/<name>`
 * a node claims a name for a client it serves (create-if-absent in one
 * transaction) under its node lease, kept alive every third of
 * {@linkcode NODE_LEASE_TTL}: a node that dies loses its names within that
 * time. Under `/groktunnel/holds/<name>` the SHA-256 of the client's secret
 * proves ownership: a client that comes back, to any node, with its secret
 * gets its name again (even before a dead node's lease ran out), and nobody
 * else does while the hold lasts (a vanished client's hold lasts the name
 * hold; a live client's lasts as long as its node, plus that).
 *
 * Every node keeps a copy of all names (lib/cluster/copy.ts), fed by a
 * watch, so routing a public connection never waits on etcd. When etcd
 * cannot be reached, the copy keeps serving what is up, and new claims are
 * refused (503) until it is back; leases and the watch recover by
 * themselves.
 */

import { createHash } from "node:crypto";
import { type EtcdClient, EtcdError } from "./etcd.ts";
import { NameCopy, type NameHolder, parseHolder } from "./copy.ts";
import type { Refusal } from "../wire/mod.ts";

/** Seconds a node's lease lives without keepalive (its names then go). */
export const NODE_LEASE_TTL = 10;
/** Longest a node waits for etcd before it starts listening (ms). */
export const START_WAIT = 5_000;
/** Where the cluster's keys live. */
export const CLUSTER_PREFIX = "/groktunnel/";
const NAMES = `${CLUSTER_PREFIX}names/`;
const HOLDS = `${CLUSTER_PREFIX}holds/`;

/** Options of {@linkcode ClusterNames}. */
export interface ClusterNamesOptions {
  /** The etcd client. */
  etcd: EtcdClient;
  /** This node's id (unique in the cluster). */
  nodeId: string;
  /** This node's internal address for hops. */
  nodeAddr: string;
  /** Milliseconds a vanished client's name stays held for it. */
  nameHold: number;
  /** Log sink. */
  log: (line: string) => void;
  /** A name of this node was taken over by another node (its client moved). */
  lost?: (name: string) => void;
}

function hash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

const UNREACHABLE: Refusal = {
  status: 503,
  message:
    "The cluster's store (etcd) cannot be reached: new tunnels are refused until it is back; tunnels already up keep working",
};

/** See the module doc. */
export class ClusterNames {
  #o: ClusterNamesOptions;
  #lease: string | undefined;
  #holdLease: string | undefined;
  #copy: NameCopy;
  /** Names this node serves now, with their secret's hash. */
  #mine = new Map<string, string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #healthy = false;
  #saidDown = false;
  /** Changes etcd missed while away, done once it is back. */
  #later: Array<() => Promise<void>> = [];

  /** A table for this node; {@linkcode start} connects it. */
  constructor(options: ClusterNamesOptions) {
    this.#o = options;
    this.#copy = new NameCopy(
      options.etcd,
      NAMES,
      (err) => this.#down(err),
      (name, h) => {
        if (h.node !== options.nodeId && this.#mine.delete(name)) {
          // Its client came back through another node: that one serves it.
          options.lost?.(name);
        }
      },
    );
  }

  /** Whether etcd answered the last time it was asked. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /**
   * Gets the leases and the names (retrying in the background when etcd is
   * down: the node starts anyway, refusing claims until then).
   */
  async start(): Promise<void> {
    await this.#ensureLeases().catch((err) => this.#down(err));
    this.#timer = setInterval(
      () => this.#keepAlive(),
      NODE_LEASE_TTL * 1000 / 3,
    );
    Deno.unrefTimer(this.#timer);
    // Ready once the names are read, etcd failed to answer once, or
    // START_WAIT passed: a node without etcd still starts (and serves
    // what it can, refusing claims) rather than hang.
    const first = this.#copy.start();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      first,
      new Promise((r) => timer = setTimeout(r, START_WAIT)),
    ]);
    clearTimeout(timer);
  }

  /** Stops: frees this node's names now (their holds stay for the clients). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#copy.close();
    if (this.#lease) {
      await this.#o.etcd.revoke(this.#lease).catch(() => {});
    }
  }

  /** Every name in the cluster and where it is served. */
  holders(): IterableIterator<[string, NameHolder]> {
    return this.#copy.entries();
  }

  /** The node serving `name`, if it is another node. */
  remote(name: string): NameHolder | undefined {
    const h = this.#copy.get(name);
    return h && h.node !== this.#o.nodeId ? h : undefined;
  }

  /**
   * Claims `name` for a client of this node, proving with `secret` when the
   * name is held. Undefined when it is ours now, else why not.
   */
  async claim(name: string, secret: string): Promise<Refusal | undefined> {
    const digest = hash(secret);
    try {
      await this.#ensureLeases();
      const me = this.#me;
      const put = [
        { put: NAMES + name, value: me, lease: this.#lease! },
        { put: HOLDS + name, value: digest, lease: this.#holdLease! },
      ];
      // Nobody has it and nobody holds it.
      if (
        await this.#o.etcd.txn([
          { key: NAMES + name, createRevision: 0 },
          { key: HOLDS + name, createRevision: 0 },
        ], put)
      ) return this.#won(name, digest);
      // Held for this secret: ours, wherever it was served (a client that
      // moved, or whose node died), as long as the hold is the one read.
      const hold = (await this.#o.etcd.range(HOLDS + name)).kvs[0];
      if (hold && hold.value === digest) {
        const current = (await this.#o.etcd.range(NAMES + name)).kvs[0];
        if (
          await this.#o.etcd.txn([
            { key: HOLDS + name, modRevision: hold.modRevision },
            current
              ? { key: NAMES + name, modRevision: current.modRevision }
              : { key: NAMES + name, createRevision: 0 },
          ], put)
        ) return this.#won(name, digest);
      }
      this.#healthy = true;
      const holder = (await this.#o.etcd.range(NAMES + name)).kvs[0];
      return {
        status: 409,
        message: holder
          ? `The name "${name}" is in use (on node ${safeNode(holder.value)})`
          : `The name "${name}" is held for its previous client; that client can reclaim it`,
      };
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      this.#down(err);
      return UNREACHABLE;
    }
  }

  #won(name: string, digest: string): undefined {
    this.#healthy = true;
    this.#mine.set(name, digest);
    this.#copy.set(name, { node: this.#o.nodeId, addr: this.#o.nodeAddr });
    return undefined;
  }

  /**
   * A client of this node vanished: its name stops routing here, and stays
   * held for its secret for the name hold (on a lease of its own).
   */
  async vanished(name: string): Promise<void> {
    const digest = this.#mine.get(name);
    this.#mine.delete(name);
    if (digest) await this.#vanish(name, digest);
  }

  /** {@linkcode vanished}'s etcd part; retried until etcd takes it. */
  async #vanish(name: string, digest: string): Promise<void> {
    try {
      const etcd = this.#o.etcd;
      const hold = this.#o.nameHold > 0
        ? {
          put: HOLDS + name,
          value: digest,
          lease: await etcd.grant(
            Math.max(1, Math.ceil(this.#o.nameHold / 1000)),
          ),
        }
        : { delete: HOLDS + name };
      // Only while it is still ours: a client that moved is another node's.
      await etcd.txn([
        { key: NAMES + name, value: this.#me },
        { key: HOLDS + name, value: digest },
      ], [{ delete: NAMES + name }, hold]);
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      this.#down(err);
      // Else the name would keep routing here (under our live lease) for
      // a client that is gone: try again once etcd answers.
      this.#later.push(() => this.#vanish(name, digest));
    }
  }

  /**
   * A client left cleanly (through any node): its name is free now, if
   * `secret` is the one that holds it. Whether it was.
   */
  async released(name: string, secret: string): Promise<boolean> {
    const digest = hash(secret);
    if (this.#mine.get(name) === digest) this.#mine.delete(name);
    try {
      return await this.#o.etcd.txn([{ key: HOLDS + name, value: digest }], [
        { delete: NAMES + name },
        { delete: HOLDS + name },
      ]);
    } catch (err) {
      if (err instanceof EtcdError) this.#down(err);
      else throw err;
      return false;
    }
  }

  /** This node's leases (got first if need be): its own, and its holds'. */
  async leases(): Promise<{ node: string; hold: string }> {
    await this.#ensureLeases();
    return { node: this.#lease!, hold: this.#holdLease! };
  }

  get #me(): string {
    return JSON.stringify({ node: this.#o.nodeId, addr: this.#o.nodeAddr });
  }

  async #ensureLeases(): Promise<void> {
    if (this.#lease && this.#holdLease) return;
    const etcd = this.#o.etcd;
    this.#lease ??= await etcd.grant(NODE_LEASE_TTL);
    this.#holdLease ??= await etcd.grant(
      NODE_LEASE_TTL + Math.ceil(this.#o.nameHold / 1000),
    );
    this.#healthy = true;
  }

  async #keepAlive(): Promise<void> {
    try {
      if (!this.#lease || !this.#holdLease) return await this.#ensureLeases();
      const etcd = this.#o.etcd;
      const [node, hold] = await Promise.all([
        etcd.keepAlive(this.#lease),
        etcd.keepAlive(this.#holdLease),
      ]);
      if (!this.#healthy && this.#saidDown) {
        this.#o.log("cluster: etcd is reachable again");
      }
      this.#healthy = true;
      this.#saidDown = false;
      for (const redo of this.#later.splice(0)) await redo();
      if (!node || !hold) {
        // Expired while etcd was away: new leases, and our names again.
        this.#o.log("cluster: our lease expired; claiming our names again");
        if (!node) this.#lease = undefined;
        if (!hold) this.#holdLease = undefined;
        await this.#ensureLeases();
        await claimAgain(this.#o, this.#mine, this.#me, {
          node: this.#lease!,
          hold: this.#holdLease!,
        });
      }
    } catch (err) {
      if (err instanceof EtcdError) this.#down(err);
    }
  }

  #down(err: unknown): void {
    // Once per outage (also when etcd was never reached), not per retry.
    if (this.#healthy || !this.#saidDown) {
      this.#saidDown = true;
      this.#o.log(
        `cluster: ${
          (err as Error).message
        }; tunnels already up keep working, new ones are refused`,
      );
    }
    this.#healthy = false;
  }
}

/** After the leases expired: each of `mine` claimed again under new ones. */
async function claimAgain(
  o: ClusterNamesOptions,
  mine: Map<string, string>,
  me: string,
  leases: { node: string; hold: string },
): Promise<void> {
  for (const [name, digest] of mine) {
    const ok = await o.etcd.txn(
      [{ key: NAMES + name, createRevision: 0 }],
      [
        { put: NAMES + name, value: me, lease: leases.node },
        { put: HOLDS + name, value: digest, lease: leases.hold },
      ],
    );
    if (!ok) o.log(`cluster: ${name} was taken meanwhile`);
  }
}

function safeNode(value: string): string {
  return (parseHolder(value)?.node ?? "?").replace(/[^\w.-]/g, "?").slice(
    0,
    64,
  );
}
