/**
 * Several server nodes sharing their names through a real three-member etcd
 * cluster (Debian's etcd-server, started here on loopback ports with temp
 * data dirs). One etcd cluster, three nodes, one backend and a round-robin
 * TCP balancer (where DNS round-robin or an L4 balancer stands in real use)
 * are shared by the steps, in order.
 */

import assert from "node:assert/strict";
import { bytesBody, startBackend } from "./backend.ts";
import {
  decoder,
  encoder,
  promtool,
  readAll,
  readHashedBody,
  readHead,
  sha256,
  within,
} from "./helpers.ts";
import { Proc, rawRequest } from "./process.ts";
import { startBalancer } from "./l4.ts";
import { HOST, makeCerts, makeLocalhostCert } from "./certs.ts";
import { HopSigner } from "../lib/cluster/hop.ts";

const SECRET = "cluster-test-secret-0123456789";
const MiB = 1024 * 1024;

/** `n` distinct ports that were free a moment ago (held together, then let go). */
function freePorts(n: number): number[] {
  const ls = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = ls.map((l) => l.addr.port);
  for (const l of ls) l.close();
  return ports;
}

/** One etcd member. */
class Member {
  proc: Deno.ChildProcess | undefined;
  piping: Promise<void> = Promise.resolve();
  constructor(
    readonly name: string,
    readonly dir: string,
    readonly client: number,
    readonly peer: number,
  ) {}
  /** What it printed (for a failure's message). */
  async log(): Promise<string> {
    return (await Deno.readTextFile(`${this.dir}.log`).catch(() => ""))
      .split("\n").slice(-5).join("\n");
  }
  start(cluster: string): void {
    const out = Deno.openSync(`${this.dir}.log`, {
      append: true,
      create: true,
    });
    this.proc = new Deno.Command("etcd", {
      args: [
        "--name",
        this.name,
        "--data-dir",
        this.dir,
        "--listen-client-urls",
        `http://127.0.0.1:${this.client}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${this.client}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${this.peer}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${this.peer}`,
        "--initial-cluster",
        cluster,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        "groktunnel-test",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.piping = this.proc.stderr.pipeTo(out.writable).catch(() => {});
  }
  async kill(): Promise<void> {
    try {
      this.proc?.kill("SIGKILL");
    } catch { /* gone */ }
    await this.proc?.status;
    await this.piping;
    this.proc = undefined;
  }
}

/** Waits until `f` resolves truthy (or fails after `ms`). */
async function until<T>(
  what: string,
  ms: number,
  f: () => Promise<T | undefined | false>,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`${what}: not within ${ms} ms (${last ?? "no"})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A 16 MiB download through `port` as `host`: its SHA-256. */
async function download(port: number, host: string, n: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      encoder.encode(
        `GET /bytes/${n} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    return await readHashedBody(conn, n);
  } finally {
    conn.close();
  }
}

/** A raw control handshake asking for `name`: the status and body. */
async function claimRaw(port: number, name: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      encoder.encode(
        `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nX-Groktunnel-Client: test\r\nX-Groktunnel-Subdomain: ${name}\r\n\r\n`,
      ),
    );
    const { head, rest } = await readHead(conn, 20_000);
    return {
      status: Number(head.split(" ")[1]),
      text: head + decoder.decode(rest),
    };
  } finally {
    conn.close();
  }
}

Deno.test("cluster: three nodes on a three-member etcd", async (t) => {
  const dataRoot = await Deno.makeTempDir({ prefix: "groktunnel-etcd-" });
  const free = freePorts(14);
  const metricsPort = free[12]!, adminPort = free[13]!;
  const members = [0, 1, 2].map((i) =>
    new Member(`e${i + 1}`, `${dataRoot}/e${i + 1}`, free[i]!, free[3 + i]!)
  );
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`)
    .join(",");
  for (const m of members) m.start(initial);
  const etcd = `etcd://${
    members.map((m) => `127.0.0.1:${m.client}`).join(",")
  }`;
  const backend = startBackend();
  const ports = free.slice(6, 9);
  const hops = free.slice(9, 12);
  const node = (i: number) =>
    new Proc([
      "server",
      "-p",
      String(ports[i]),
      "--cluster",
      etcd,
      "--node-id",
      `n${i + 1}`,
      "--node-addr",
      `127.0.0.1:${hops[i]}`,
      ...(i === 0
        ? [
          "--metrics",
          `127.0.0.1:${metricsPort}`,
          "--admin",
          `127.0.0.1:${adminPort}`,
        ]
        : []),
    ], { GROKTUNNEL_CLUSTER_SECRET: SECRET });
  const nodes: Proc[] = [];
  const clients: Proc[] = [];
  const client = (port: number, name: string) => {
    const c = new Proc([
      String(backend.addr.port),
      "-p",
      String(port),
      "--subdomain",
      name,
      "--quiet",
      "--no-inspect",
    ]);
    clients.push(c);
    return c;
  };
  const balancer = startBalancer(ports);
  try {
    // etcd up (a leader elected), then the nodes.
    await until("etcd answers", 30_000, async () => {
      for (const m of members) {
        const exited = await Promise.race([
          m.proc!.status.then(() => true),
          Promise.resolve(false),
        ]);
        if (exited) throw new Error(`etcd ${m.name} exited: ${await m.log()}`);
      }
      const r = await fetch(
        `http://127.0.0.1:${members[0]!.client}/v3/kv/range`,
        {
          method: "POST",
          body: JSON.stringify({ key: btoa("x") }),
          signal: AbortSignal.timeout(2000),
        },
      );
      await r.body?.cancel();
      return r.ok;
    });
    for (let i = 0; i < 3; i++) nodes.push(node(i));
    for (const n of nodes) await n.waitFor("stderr", /listening on/, 30_000);

    await t.step(
      "a pool with a member on each of two nodes: every node spreads its visitors over both",
      async () => {
        const apps = ["A", "B"].map((id) =>
          Deno.serve(
            { hostname: "127.0.0.1", port: 0, onListen() {} },
            () => new Response(id),
          )
        );
        const member = (i: number, env: Record<string, string> = {}) =>
          new Proc([
            String(apps[i]!.addr.port),
            "-p",
            String(ports[i]),
            "--subdomain",
            "pooled",
            "--pool",
            "--quiet",
            "--no-inspect",
          ], env);
        const a = member(0);
        const secret = (await a.waitFor("stderr", /pool secret (\S+)/))[1]!;
        const b = member(1, { GROKTUNNEL_POOL_SECRET: secret });
        try {
          await b.waitFor("stdout", /^http:\/\/\S+$/m);
          const spread = async (port: number, n: number) => {
            const seen = new Map<string, number>();
            for (let i = 0; i < n; i++) {
              const r = await rawRequest(port, `pooled.localhost:${port}`);
              const key = r.status === 200 ? r.text : `status ${r.status}`;
              seen.set(key, (seen.get(key) ?? 0) + 1);
            }
            return seen;
          };
          for (const port of ports) {
            // Each node hears of the other's members through etcd's watch.
            await until(
              `both members through :${port}`,
              10_000,
              async () => (await spread(port, 10)).size === 2,
            );
            const seen = await spread(port, 60);
            assert.deepEqual([...seen.keys()].sort(), ["A", "B"]);
            for (const [id, n] of seen) {
              assert.ok(n >= 24 && n <= 36, `${id}: ${n} of 60 at :${port}`);
            }
          }
          // Through the third node: no secret 409, a wrong one 403.
          for (
            const [env, status] of [
              [{}, 409],
              [{ GROKTUNNEL_POOL_SECRET: "not-the-pool-secret" }, 403],
            ] as const
          ) {
            const c = new Proc([
              String(apps[0]!.addr.port),
              "-p",
              String(ports[2]),
              "--subdomain",
              "pooled",
              "--pool",
              "--no-inspect",
            ], env);
            assert.equal((await within(15_000, c.done, "refused")).code, 1);
            assert.match(
              c.stderr,
              new RegExp(`refused the tunnel: ${status} `),
            );
          }
          // B leaves with Ctrl-C: every node sends all to A.
          assert.equal((await b.stop("SIGINT")).code, 0);
          for (const port of ports) {
            await until(`only A through :${port}`, 10_000, async () => {
              const seen = await spread(port, 20);
              return seen.size === 1 && seen.get("A") === 20;
            });
          }
        } finally {
          await a.stop();
          await b.stop();
          for (const app of apps) await app.shutdown();
        }
      },
    );

    await t.step(
      "every tunnel through every node, 16 MiB byte-exact",
      async () => {
        const names = ["alpha", "beta", "gamma"];
        for (let i = 0; i < 3; i++) {
          await client(ports[i]!, names[i]!).waitFor(
            "stdout",
            /^http:\/\/\S+$/m,
          );
        }
        const want = sha256(bytesBody(16 * MiB));
        for (const name of names) {
          for (const port of ports) {
            const host = `${name}.localhost:${port}`;
            await until(
              `${name} at :${port}`,
              5_000,
              async () =>
                (await rawRequest(port, host, "/hello")).status === 200,
            );
            const got = await download(port, host, 16 * MiB);
            assert.match(got.head, /^HTTP\/1\.1 200/);
            assert.equal(got.length, 16 * MiB);
            assert.equal(got.sha256, want, `${name} through :${port}`);
          }
        }
      },
    );

    await t.step(
      "any node's admin API lists every node's tunnels, and ends one wherever it is",
      async () => {
        const api = `http://127.0.0.1:${adminPort}/api/tunnels`;
        const listed = await (await fetch(api)).json();
        const where = Object.fromEntries(
          listed.tunnels.map((x: { name: string; node?: string }) => [
            x.name,
            x.node ?? "here",
          ]),
        );
        assert.equal(where.alpha, "here");
        assert.equal(where.beta, "n2");
        assert.equal(where.gamma, "n3");
        const delta = client(ports[2]!, "delta");
        await delta.waitFor("stdout", /^http:\/\/\S+$/m);
        await until(
          "n1 knows delta",
          5_000,
          async () => (await fetch(`${api}/delta`)).status === 200,
        );
        assert.deepEqual(await (await fetch(`${api}/delta`)).json(), {
          name: "delta",
          node: "n3",
          here: false,
        });
        const ended = await fetch(`${api}/delta?block=60`, {
          method: "DELETE",
        });
        assert.deepEqual(await ended.json(), {
          name: "delta",
          ended: true,
          blocked_for: 60,
        });
        // n3 ends it; its client, refused everywhere, gives up.
        const exit = await within(15_000, delta.done, "delta's client exits");
        assert.equal(exit.code, 1);
        assert.match(
          delta.stderr,
          /403 The name "delta" is blocked by the server's operator/,
        );
        for (const port of ports) {
          const r = await rawRequest(port, `delta.localhost:${port}`, "/");
          assert.equal(r.status, 404);
        }
        const again = new Proc([
          String(backend.addr.port),
          "-p",
          String(ports[1]),
          "--subdomain",
          "delta",
          "--no-inspect",
        ]);
        assert.equal((await within(15_000, again.done, "refused")).code, 1);
        assert.match(again.stderr, /403 The name "delta" is blocked/);
      },
    );

    await t.step(
      "a node's metrics: etcd up, hops taken in, visitors sent elsewhere",
      async () => {
        const text = await (await fetch(
          `http://127.0.0.1:${metricsPort}/metrics`,
        )).text();
        const value = (re: RegExp) => Number(re.exec(text)?.[1]);
        assert.equal(value(/^groktunnel_cluster_etcd_up (\S+)$/m), 1);
        // alpha is n1's: the other two nodes sent it at least a request
        // and a download each; n1 sent beta's and gamma's the same way.
        assert.ok(
          value(/^groktunnel_cluster_hops_in_total (\S+)$/m) >= 4,
          text,
        );
        assert.ok(
          value(
            /^groktunnel_public_connections_total\{outcome="elsewhere"\} (\S+)$/m,
          ) >= 4,
        );
        const checked = await promtool(text);
        assert.equal(checked.code, 0, checked.out);
      },
    );

    await t.step(
      "a forged or stale hop is refused; a signed one is served as the visitor",
      async () => {
        const hop = async (line: string) => {
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: hops[0]!,
          });
          try {
            await conn.write(
              encoder.encode(
                `${line}\nGET /headers HTTP/1.1\r\nHost: alpha.localhost:${
                  ports[0]
                }\r\nConnection: close\r\n\r\n`,
              ),
            );
            const { head, rest } = await readHead(conn);
            let body = decoder.decode(rest);
            const buf = new Uint8Array(4096);
            for (;;) {
              const n = await conn.read(buf).catch(() => null);
              if (n === null) break;
              body += decoder.decode(buf.subarray(0, n));
            }
            return { status: Number(head.split(" ")[1]), body };
          } finally {
            conn.close();
          }
        };
        const forged = await hop(
          `GTHOP/2 ${Date.now()} ${
            "cd".repeat(12)
          } 203.0.113.9 4444 none alpha.localhost:${ports[0]} ${
            "ab".repeat(32)
          }`,
        );
        assert.equal(forged.status, 403);
        const visitor = {
          ip: "203.0.113.9",
          port: 4444,
          tls: "none" as const,
          host: `alpha.localhost:${ports[0]}`,
        };
        const wrongKey = new HopSigner("not-the-cluster-secret-at-all");
        const other = decoder.decode(wrongKey.line(visitor)).trim();
        assert.equal((await hop(other)).status, 403);
        const signer = new HopSigner(SECRET);
        const stale = decoder.decode(
          signer.line(visitor, Date.now() - 120_000),
        ).trim();
        assert.equal((await hop(stale)).status, 403);
        await nodes[0]!.waitFor(
          "stderr",
          /refused a hop from 127\.0\.0\.1: stale/,
        );
        const good = decoder.decode(signer.line(visitor)).trim();
        const ok = await hop(good);
        assert.equal(ok.status, 200);
        // The app sees the visitor the entry node saw, not the hop's socket.
        assert.equal(JSON.parse(ok.body)["x-forwarded-for"], "203.0.113.9");
        // The same line again (seen on the wire): its nonce was taken.
        assert.equal((await hop(good)).status, 403);
        await nodes[0]!.waitFor(
          "stderr",
          /refused a hop from 127\.0\.0\.1: replayed hop line/,
        );
        // A good line signed for another host cannot open this tunnel.
        const elsewhere = decoder.decode(
          signer.line({ ...visitor, host: `beta.localhost:${ports[0]}` }),
        ).trim();
        const misrouted = await hop(elsewhere);
        assert.equal(misrouted.status, 403);
        assert.match(misrouted.body, /Not a hop for this host/);
      },
    );

    await t.step(
      "two clients race for one --subdomain on two nodes: exactly one wins",
      async () => {
        for (const round of [1, 2, 3]) {
          const name = `race${round}`;
          const a = client(ports[0]!, name), b = client(ports[1]!, name);
          const [sa, sb] = await Promise.all([
            Promise.race([
              a.waitFor("stdout", /^http:\/\/\S+$/m, 20_000).then(() => "won"),
              a.done.then(() => "lost"),
            ]),
            Promise.race([
              b.waitFor("stdout", /^http:\/\/\S+$/m, 20_000).then(() => "won"),
              b.done.then(() => "lost"),
            ]),
          ]);
          assert.deepEqual([sa, sb].sort(), ["lost", "won"], `round ${round}`);
          const loser = sa === "lost" ? a : b;
          assert.equal((await loser.done).code, 1);
          assert.match(loser.stderr, /in use/);
        }
      },
    );

    await t.step(
      "SIGKILL a node: its client comes back on another with its name; other tunnels never fail",
      async () => {
        // Clients through the balancer: one per node, in turn.
        const names = ["kilo", "lima", "mike"];
        const holders: number[] = [];
        for (const name of names) {
          await client(balancer.port, name).waitFor(
            "stdout",
            /^http:\/\/\S+$/m,
          );
          const i = await until(`${name}'s node`, 5_000, () =>
            Promise.resolve(
              nodes.findIndex((n) =>
                n.stderr.includes(
                  `tunnel ${name}.localhost:${balancer.port} started`,
                )
              ) + 1,
            ));
          holders.push(i - 1);
        }
        const victim = holders[0]!;
        const survivors = [0, 1, 2].filter((i) => i !== victim);
        const others = names.slice(1).filter((_, k) =>
          holders[k + 1] !== victim
        );
        assert.ok(others.length >= 1, `holders ${holders}`);
        // Steady requests to the other tunnels through the surviving nodes.
        let ok = 0, failed = 0, stop = false;
        const errors: string[] = [];
        const steady = (async () => {
          for (let k = 0; !stop; k++) {
            const port = ports[survivors[k % survivors.length]!]!;
            const name = others[k % others.length]!;
            try {
              const r = await rawRequest(
                port,
                `${name}.localhost:${port}`,
                "/hello",
              );
              if (r.status === 200) ok++;
              else {
                failed++;
                errors.push(`${name}@${port}: ${r.status}`);
              }
            } catch (err) {
              failed++;
              errors.push((err as Error).message);
            }
          }
        })();
        await new Promise((r) => setTimeout(r, 300));
        const killedAt = Date.now();
        nodes[victim]!.child.kill("SIGKILL");
        await nodes[victim]!.done;
        const port = ports[survivors[0]!]!;
        await until(
          "kilo back",
          15_000,
          async () =>
            (await rawRequest(port, `kilo.localhost:${port}`, "/hello"))
              .status === 200,
        );
        const back = Date.now() - killedAt;
        console.log(`kilo served again ${back} ms after its node was killed`);
        await new Promise((r) => setTimeout(r, 500));
        stop = true;
        await steady;
        assert.equal(failed, 0, errors.slice(0, 5).join("; "));
        assert.ok(ok > 20, `only ${ok} requests`);
        assert.match(
          clients[clients.length - 3]!.stderr,
          /reconnected; same URL/,
        );
        // The node comes back (same ports) for the next step.
        nodes[victim] = node(victim);
        await nodes[victim]!.waitFor("stderr", /listening on/);
      },
    );

    await t.step(
      "etcd: one member down, all works; two down, tunnels work, new ones 503; back, it heals",
      async () => {
        const existing = ["alpha", "beta", "gamma"];
        const allServe = async () => {
          for (const name of existing) {
            for (const port of ports) {
              const r = await rawRequest(
                port,
                `${name}.localhost:${port}`,
                "/hello",
              );
              assert.equal(r.status, 200, `${name} via :${port}`);
            }
          }
        };
        // The killed node's clients are back (they reconnect on their own).
        await until("every tunnel through every node", 20_000, async () => {
          await allServe();
          return true;
        });
        await members[0]!.kill();
        await allServe();
        const one = await claimRaw(ports[1]!, "quorate");
        assert.equal(one.status, 200, one.text);
        await members[1]!.kill();
        await allServe();
        const refused = await claimRaw(ports[2]!, "noquorum");
        assert.equal(refused.status, 503, refused.text);
        assert.match(refused.text, /etcd\) cannot be reached/);
        await allServe();
        members[0]!.start(initial);
        members[1]!.start(initial);
        const healed = await until(
          "a claim after etcd heals",
          60_000,
          async () => {
            const r = await claimRaw(ports[2]!, "healed");
            return r.status === 200 ? r : undefined;
          },
        );
        assert.equal(healed.status, 200);
        await allServe();
      },
    );
  } finally {
    balancer.close();
    for (const c of clients) await c.stop();
    for (const n of nodes) await n.stop("SIGKILL");
    await backend.shutdown();
    for (const m of members) await m.kill();
    await Deno.remove(dataRoot, { recursive: true }).catch(() => {});
  }
});

Deno.test("cluster: with TLS ended at the nodes and hops over TLS (--cluster-tls), a visitor at the other node gets the tunnel's bytes", async () => {
  const dataRoot = await Deno.makeTempDir({ prefix: "groktunnel-etcd-" });
  const certs = await makeCerts();
  // The nodes' own certificate (for 127.0.0.1, their --node-addr) and CA.
  const nodeTls = await makeLocalhostCert();
  const [client, peer, p1, p2, h1, h2] = freePorts(6) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const member = new Member("solo", `${dataRoot}/solo`, client, peer);
  member.start(`solo=http://127.0.0.1:${peer}`);
  const backend = startBackend();
  const procs: Proc[] = [];
  try {
    await until("etcd answers", 30_000, async () => {
      const r = await fetch(`http://127.0.0.1:${client}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: btoa("x") }),
        signal: AbortSignal.timeout(2000),
      });
      await r.body?.cancel();
      return r.ok;
    });
    const read = `--allow-read=${certs.dir},${nodeTls.dir}`;
    for (const [port, hop, id] of [[p1, h1, "a"], [p2, h2, "b"]] as const) {
      const n = new Proc(
        [
          "server",
          "-h",
          HOST,
          "-p",
          String(port),
          "--tls-cert",
          certs.cert1,
          "--tls-key",
          certs.key1,
          "--cluster",
          `etcd://127.0.0.1:${client}`,
          "--node-id",
          id,
          "--node-addr",
          `127.0.0.1:${hop}`,
          "--cluster-tls",
          `${nodeTls.cert},${nodeTls.key},${nodeTls.ca}`,
        ],
        { GROKTUNNEL_CLUSTER_SECRET: SECRET },
        [read],
      );
      procs.push(n);
      await n.waitFor("stderr", /listening on/, 30_000);
    }
    const c = new Proc(
      [
        String(backend.addr.port),
        "--server",
        `https://${HOST}:${p1}`,
        "--ca",
        certs.ca1File,
        "--subdomain",
        "secure",
        "--quiet",
        "--no-inspect",
      ],
      {},
      [read],
    );
    procs.push(c);
    await c.waitFor("stdout", /^https:\/\/\S+$/m);
    const name = `secure.${HOST}`;
    const curl = (port: number) =>
      new Deno.Command("curl", {
        args: [
          "-sS",
          "--fail",
          "--cacert",
          certs.ca1File,
          "--resolve",
          `${name}:${port}:127.0.0.1`,
          `https://${name}:${port}/bytes/${4 * MiB}`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const want = sha256(bytesBody(4 * MiB));
    // Node b does not hold it: it ends TLS, then hops to node a.
    const viaB = await until("secure through node b", 10_000, async () => {
      const out = await curl(p2);
      return out.success ? out : undefined;
    });
    assert.equal(sha256(viaB.stdout), want);
    const viaA = await curl(p1);
    assert.ok(viaA.success, decoder.decode(viaA.stderr));
    assert.equal(sha256(viaA.stdout), want);
    // The hop port speaks TLS only: a correctly signed line in the clear
    // gets nothing (the handshake fails), and nothing is logged as served.
    const line = new HopSigner(SECRET).line({
      ip: "203.0.113.9",
      port: 4444,
      tls: "terminated",
      host: `${name}:${p1}`,
    });
    const plain = await Deno.connect({ hostname: "127.0.0.1", port: h1 });
    await plain.write(line);
    await plain.write(encoder.encode(
      `GET /hello HTTP/1.1\r\nHost: ${name}:${p1}\r\nConnection: close\r\n\r\n`,
    ));
    const got = decoder.decode(
      await within(
        15_000,
        readAll(plain).catch(() => new Uint8Array()),
        "the hop port hangs up",
      ),
    );
    plain.close();
    assert.doesNotMatch(got, /HTTP\/1\.1 200/);
  } finally {
    for (const p of procs) await p.stop();
    await backend.shutdown();
    await member.kill();
    await Deno.remove(dataRoot, { recursive: true }).catch(() => {});
    await Deno.remove(certs.dir, { recursive: true }).catch(() => {});
    await Deno.remove(nodeTls.dir, { recursive: true }).catch(() => {});
  }
});
