/**
 * Several clients behind one name (`--pool`), with real processes: two
 * members in front of two apps that say who they are. New connections are
 * spread, keep-alive and WebSocket connections stay with their member, a
 * pool refuses clients without its secret, a member whose app stops gets
 * nothing new (with and without `--health-path`), a member killed with -9
 * costs only what was in flight on it, a rolling restart with Ctrl-C loses
 * no request, and a TCP pool spreads Redis clients over two redis-servers.
 */

import assert from "node:assert/strict";
import { decoder, encoder, within } from "./helpers.ts";
import { freePort, Proc, rawRequest } from "./process.ts";
import { WsPeer } from "./ws.ts";
import { startRedis } from "./redis.ts";
import { DEFAULT_PING_TIMEOUT } from "../lib/server/options.ts";

/** An app that answers every request with its id, and `/ws` with a WebSocket that says it. */
function app(id: string, port = 0): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = () => socket.send(id);
        return response;
      }
      if (path === "/teapot") return new Response("short", { status: 418 });
      return new Response(id);
    },
  );
}

/** A client asking to join the pool `name` for `localPort` (it may be refused). */
function poolClient(
  localPort: number,
  serverPort: number,
  name: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Proc {
  return new Proc([
    String(localPort),
    "-p",
    String(serverPort),
    "--subdomain",
    name,
    "--pool",
    "--quiet",
    ...extra,
  ], env);
}

/** A member of the pool `name` for `localPort`; resolves once it is up. */
async function member(
  ...args: Parameters<typeof poolClient>
): Promise<Proc> {
  const p = poolClient(...args);
  await p.waitFor("stdout", /^http:\/\/\S+$/m);
  return p;
}

/** The server's log line count of `re` (members joining, leaving). */
function count(text: string, re: RegExp): number {
  return text.match(new RegExp(re.source, "g"))?.length ?? 0;
}

/** Waits until `re` has matched `p`'s stderr more than `before` times. */
async function another(p: Proc, re: RegExp, before: number): Promise<void> {
  await within(
    15_000,
    (async () => {
      while (count(p.stderr, re) <= before) {
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    `another ${re}`,
  );
}

/** `n` requests on new connections, `parallel` at a time: each answer's text (or its status). */
async function spread(
  port: number,
  host: string,
  n: number,
  parallel = 10,
): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  let left = n;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (left-- > 0) {
        const r = await rawRequest(port, host, "/");
        const key = r.status === 200
          ? r.text
          : `status ${r.status} ${/<p>(.*?)<\/p>/.exec(r.text)?.[1]}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }),
  );
  return seen;
}

/** The server, as every test here starts it; `extra` adds flags. */
async function poolServer(extra: string[] = []) {
  const server = new Proc(["server", "-p", "0", ...extra]);
  const port = Number(
    (await server.waitFor("stderr", /listening on 127\.0\.0\.1:(\d+)/))[1],
  );
  return { server, port };
}

Deno.test("a pool of two: spread, sticky connections, its secret, its limit, its metrics and each member's inspector", async (t) => {
  const metricsPort = freePort();
  const { server, port } = await poolServer([
    "--max-pool-members",
    "2",
    "--metrics",
    `127.0.0.1:${metricsPort}`,
  ]);
  const a = app("A"), b = app("B");
  const inspectA = freePort(), inspectB = freePort();
  const host = `api.localhost:${port}`;
  const first = await member(a.addr.port, port, "api", [
    "--inspect",
    `127.0.0.1:${inspectA}`,
  ]);
  const secret = (await first.waitFor("stderr", /pool secret (\S+)/))[1]!;
  // The second member takes the secret from the environment, as replicas do.
  const second = await member(b.addr.port, port, "api", [
    "--inspect",
    `127.0.0.1:${inspectB}`,
  ], { GROKTUNNEL_POOL_SECRET: secret });
  try {
    await t.step(
      "200 requests on new connections are spread within 40/60",
      async () => {
        const seen = await spread(port, host, 200);
        assert.deepEqual([...seen.keys()].sort(), ["A", "B"]);
        for (const id of ["A", "B"]) {
          const n = seen.get(id)!;
          assert.ok(n >= 80 && n <= 120, `${id} got ${n} of 200`);
        }
      },
    );

    await t.step(
      "each member's inspector shows what reached it, and says it is in a pool of 2",
      async () => {
        for (
          const [inspect, id] of [[inspectA, "A"], [inspectB, "B"]] as const
        ) {
          const tunnels = await (await fetch(
            `http://127.0.0.1:${inspect}/api/tunnels`,
          )).json();
          assert.deepEqual(tunnels.tunnels[0].pool, { members: 2 });
          // Captures are written as they finish: wait for all of them.
          const got = await within(
            10_000,
            (async () => {
              for (;;) {
                const r = await (await fetch(
                  `http://127.0.0.1:${inspect}/api/requests/http?limit=1000`,
                )).json();
                const bodies = r.requests.map((
                  q: { response: { raw: string } },
                ) => atob(q.response.raw).split("\r\n\r\n")[1]);
                if (bodies.length >= 80) return bodies as string[];
                await new Promise((r) => setTimeout(r, 100));
              }
            })(),
            "captures",
          );
          assert.ok(got.every((body) => body === id), `${id}'s inspector`);
        }
      },
    );

    await t.step(
      "a keep-alive connection stays with one member for 30 requests",
      async () => {
        for (let c = 0; c < 4; c++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          const ids = new Set<string>();
          let pending = "";
          try {
            for (let i = 0; i < 30; i++) {
              await conn.write(
                encoder.encode(`GET /${i} HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
              );
              const buf = new Uint8Array(4096);
              while (!/\r\n\r\n[AB]$/.test(pending)) {
                const n = await within(5000, conn.read(buf), "keep-alive read");
                assert.notEqual(n, null);
                pending += decoder.decode(buf.subarray(0, n!));
              }
              assert.match(pending, /^HTTP\/1\.1 200/);
              ids.add(pending.at(-1)!);
              pending = "";
            }
          } finally {
            conn.close();
          }
          assert.equal(ids.size, 1, `connection ${c} saw ${[...ids]}`);
        }
      },
    );

    await t.step(
      "a WebSocket stays with one member for 20 messages",
      async () => {
        for (let c = 0; c < 4; c++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          try {
            await conn.write(encoder.encode(
              `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
            ));
            const ws = new WsPeer(conn);
            assert.match(await ws.readHead(), /^HTTP\/1\.1 101/);
            const ids = new Set<string>();
            for (let i = 0; i < 20; i++) {
              await ws.send(1, encoder.encode(`m${i}`));
              ids.add(decoder.decode((await ws.receive()).payload));
            }
            assert.equal(ids.size, 1, `WebSocket ${c} saw ${[...ids]}`);
          } finally {
            conn.close();
          }
        }
      },
    );

    await t.step(
      "without the pool secret 409, with a wrong one 403, past --max-pool-members 503",
      async () => {
        for (
          const [flags, status] of [
            [[], 409],
            [["--pool-secret", "not-the-secret"], 403],
          ] as const
        ) {
          const p = poolClient(a.addr.port, port, "api", [
            "--no-inspect",
            ...flags,
          ]);
          assert.equal(
            (await within(15_000, p.done, "refused member")).code,
            1,
          );
          assert.match(p.stderr, new RegExp(`refused the tunnel: ${status} `));
        }
        // A full pool may have room later: the third member keeps trying.
        const third = poolClient(a.addr.port, port, "api", ["--no-inspect"], {
          GROKTUNNEL_POOL_SECRET: secret,
        });
        try {
          await third.waitFor("stderr", /503 The pool is full \(2 members/);
          assert.equal(third.stdout, "");
        } finally {
          await third.stop();
        }
        assert.equal(count(server.stderr, /joined by/), 1);
      },
    );

    await t.step(
      "metrics count one pooled tunnel with two members",
      async () => {
        const text = await (await fetch(
          `http://127.0.0.1:${metricsPort}/metrics`,
        )).text();
        assert.match(text, /^groktunnel_tunnels\{kind="pooled"\} 1$/m);
        assert.match(text, /^groktunnel_pool_members 2$/m);
        // The first answer on each connection, by class: one 418 among them.
        assert.equal((await rawRequest(port, host, "/teapot")).status, 418);
        const after = await (await fetch(
          `http://127.0.0.1:${metricsPort}/metrics`,
        )).text();
        assert.match(
          after,
          /^groktunnel_http_first_responses_total\{class="4xx"\} 1$/m,
        );
      },
    );

    await t.step(
      "a plain client asking for the pool's name gets 409",
      async () => {
        const p = new Proc([
          String(a.addr.port),
          "-p",
          String(port),
          "--subdomain",
          "api",
          "--no-inspect",
        ]);
        assert.equal((await within(15_000, p.done, "plain client")).code, 1);
        assert.match(
          p.stderr,
          /refused the tunnel: 409 The name "api" is in use/,
        );
      },
    );
  } finally {
    await first.stop();
    await second.stop();
    await server.stop();
    await a.shutdown();
    await b.shutdown();
  }
});

/** An app whose health (`/healthz`) the test turns off and on. */
function toggledApp(id: string, port = 0) {
  const state = { healthy: true };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/healthz"
        ? new Response(state.healthy ? "ok" : "sick", {
          status: state.healthy ? 200 : 503,
        })
        : new Response(id),
  );
  return { server, state };
}

/** Waits until the server's admin API lists the pool's members in `states`. */
async function serverSays(adminPort: number, name: string, states: string[]) {
  let last = "";
  await within(
    15_000,
    (async () => {
      for (;;) {
        const t = await (await fetch(
          `http://127.0.0.1:${adminPort}/api/tunnels/${name}`,
        )).json();
        last = JSON.stringify(
          t.members?.map((m: { state: string }) => m.state),
        );
        if (last === JSON.stringify(states)) return;
        await new Promise((r) => setTimeout(r, 25));
      }
    })(),
    `members ${states} (last ${last})`,
  );
}

Deno.test("a member whose app stops gets no new connections: told by a refused visitor, or by --health-path", async (t) => {
  const adminPort = freePort();
  const { server, port } = await poolServer([
    "--admin",
    `127.0.0.1:${adminPort}`,
    "--max-tunnels-per-ip",
    "2",
  ]);
  const says = (states: string[]) => serverSays(adminPort, "health", states);
  const host = `health.localhost:${port}`;
  const a = toggledApp("A"), b = toggledApp("B");
  const aPort = a.server.addr.port;
  const first = await member(aPort, port, "health", [
    "--no-inspect",
    "--health-path",
    "/healthz",
    "--health-interval",
    "0.5",
  ]);
  const secret = (await first.waitFor("stderr", /pool secret (\S+)/))[1]!;
  // No --health-path: while down, it tries a connect each interval.
  const second = await member(b.server.addr.port, port, "health", [
    "--no-inspect",
    "--health-interval",
    "0.5",
  ], { GROKTUNNEL_POOL_SECRET: secret });
  let aServer = a.server;
  try {
    await t.step(
      "members count toward --max-tunnels-per-ip as tunnels do",
      async () => {
        const p = new Proc([
          String(aPort),
          "-p",
          String(port),
          "--subdomain",
          "other",
          "--no-inspect",
        ]);
        try {
          await p.waitFor(
            "stderr",
            /429 Too many tunnels from 127\.0\.0\.1 \(limit 2\)/,
          );
          assert.equal(p.stdout, "");
        } finally {
          await p.stop();
        }
      },
    );

    await t.step(
      "with --health-path: a failing probe takes the member out before any visitor is hurt, a passing one brings it back",
      async () => {
        a.state.healthy = false;
        await first.waitFor(
          "stderr",
          /GET \/healthz answered 503\): this member takes no new/,
        );
        await says(["down", "up"]);
        assert.deepEqual([...(await spread(port, host, 60))], [["B", 60]]);
        a.state.healthy = true;
        await first.waitFor("stderr", /answers again/);
        await says(["up", "up"]);
        // One at a time: ties are taken in turn.
        const seen = await spread(port, host, 60, 1);
        assert.ok((seen.get("A") ?? 0) >= 20, `A got ${seen.get("A")} of 60`);
      },
    );

    await t.step(
      "with --health-path: its app stopped, no visitor reaches it",
      async () => {
        const lines = count(first.stderr, /does not answer/);
        await aServer.shutdown();
        await another(first, /does not answer/, lines);
        await says(["down", "up"]);
        assert.deepEqual([...(await spread(port, host, 60))], [["B", 60]]);
      },
    );

    await t.step(
      "every member down: the visitor gets the 502 page",
      async () => {
        await b.server.shutdown();
        // B has no --health-path: a visitor's refused connection tells it.
        const r1 = await rawRequest(port, host);
        assert.equal(r1.status, 502);
        await second.waitFor("stderr", /does not answer/);
        await says(["down", "down"]);
        const r2 = await rawRequest(port, host);
        assert.equal(r2.status, 502);
        assert.match(r2.text, /every member of the pool is down/);
      },
    );

    await t.step(
      "without --health-path: one refused visitor tells it, the rest go to the other; its app back, it is too",
      async () => {
        const back = count(first.stderr, /answers again/);
        aServer = toggledApp("A", aPort).server;
        await another(first, /answers again/, back);
        await says(["up", "down"]);
        assert.deepEqual([...(await spread(port, host, 20))], [["A", 20]]);
        const bBack = toggledApp("B", b.server.addr.port);
        try {
          await second.waitFor("stderr", /answers again/);
          await says(["up", "up"]);
          const seen = await spread(port, host, 40, 1);
          assert.ok((seen.get("B") ?? 0) >= 10, `B got ${seen.get("B")}`);
          // B's app stops again: sequential visitors, at most one 502.
          await bBack.server.shutdown();
          const statuses: number[] = [];
          for (let i = 0; i < 40; i++) {
            statuses.push((await rawRequest(port, host)).status);
          }
          assert.ok(
            statuses.filter((s) => s !== 200).length <= 1,
            `statuses: ${statuses}`,
          );
        } finally {
          await bBack.server.shutdown().catch(() => {});
        }
      },
    );
  } finally {
    await first.stop();
    await second.stop();
    await server.stop();
    await aServer.shutdown().catch(() => {});
    await b.server.shutdown().catch(() => {});
  }
});

/** A server and a pool `name` of two members, in front of apps A and B. */
async function twoMembers(name: string) {
  const { server, port } = await poolServer();
  const a = app("A"), b = app("B");
  const first = await member(a.addr.port, port, name, ["--no-inspect"]);
  const secret = (await first.waitFor("stderr", /pool secret (\S+)/))[1]!;
  const second = await member(b.addr.port, port, name, ["--no-inspect"], {
    GROKTUNNEL_POOL_SECRET: secret,
  });
  const pool = {
    server,
    port,
    host: `${name}.localhost:${port}`,
    a,
    b,
    first,
    second,
    secret,
    async stop() {
      await pool.first.stop();
      await pool.second.stop();
      await server.stop();
      await a.shutdown();
      await b.shutdown();
    },
  };
  return pool;
}

/** Steady load until `stop()`: `workers` loops of one request per new connection. */
function load(port: number, host: string, workers: number) {
  const results: Array<{ started: number; ok: boolean; id: string }> = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const started = performance.now();
      try {
        const r = await rawRequest(port, host, "/");
        results.push({ started, ok: r.status === 200, id: r.text });
      } catch (err) {
        results.push({ started, ok: false, id: (err as Error).message });
      }
    }
  });
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

Deno.test("kill -9 of a member under 50 parallel requests: after the server notices, within the heartbeat bound, no request fails", async () => {
  // The server drops a silent session after its PING timeout: the bound.
  const HEARTBEAT_BOUND = DEFAULT_PING_TIMEOUT;
  const pool = await twoMembers("killed");
  const { server, port, host, second } = pool;
  const traffic = load(port, host, 50);
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const killed = performance.now();
    second.child.kill("SIGKILL");
    await server.waitFor("stderr", /member \S+ left/, HEARTBEAT_BOUND);
    const noticed = performance.now();
    assert.ok(noticed - killed <= HEARTBEAT_BOUND);
    await new Promise((r) => setTimeout(r, 1500));
    const results = await traffic.stop();
    const before = results.filter((r) => r.started < killed);
    const after = results.filter((r) => r.started > noticed);
    assert.ok(before.some((r) => r.id === "B"), "B served before the kill");
    assert.ok(after.length >= 100, `${after.length} requests after`);
    assert.deepEqual(
      after.filter((r) => !r.ok).map((r) => r.id),
      [],
      "failed after the server noticed",
    );
    assert.ok(after.every((r) => r.id === "A"));
    // What failed was in flight on the killed member: 50 at most.
    const failed = results.filter((r) => !r.ok).length;
    assert.ok(failed <= 50, `${failed} failed`);
  } finally {
    await traffic.stop();
    await pool.stop();
  }
});

Deno.test("a rolling restart with Ctrl-C under steady load loses no request", async () => {
  const pool = await twoMembers("rolling");
  const { server, port, host, a, b } = pool;
  const env = { GROKTUNNEL_POOL_SECRET: pool.secret };
  const traffic = load(port, host, 10);
  try {
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await pool.first.stop("SIGINT")).code, 0);
    pool.first = await member(a.addr.port, port, "rolling", [
      "--no-inspect",
    ], env);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await pool.second.stop("SIGINT")).code, 0);
    pool.second = await member(b.addr.port, port, "rolling", [
      "--no-inspect",
    ], env);
    await new Promise((r) => setTimeout(r, 500));
    const results = await traffic.stop();
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => r.id),
      [],
      "failed requests",
    );
    assert.ok(results.length >= 200, `${results.length} requests`);
    const last = results.slice(-50).map((r) => r.id);
    assert.ok(last.includes("A") && last.includes("B"), `last: ${last}`);
    assert.equal(count(server.stderr, /member \S+ left/), 2);
    assert.equal(count(server.stderr, /joined by/), 3);
  } finally {
    await traffic.stop();
    await pool.stop();
  }
});

/** A redis-server whose key `who` is `id`. */
async function redis(id: string, dir: string) {
  const r = await startRedis(dir);
  const out = await new Deno.Command("redis-cli", {
    args: ["-p", String(r.port), "SET", "who", id],
    stdout: "piped",
  }).output();
  assert.equal(decoder.decode(out.stdout).trim(), "OK");
  return r;
}

/** `GET who` over one new connection to `port`, in Redis's inline form. */
async function who(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode("GET who\r\n"));
    let text = "";
    const buf = new Uint8Array(256);
    while (!/^\$\d+\r\n.*\r\n/.test(text)) {
      const n = await within(5000, conn.read(buf), "redis reply");
      if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
      text += decoder.decode(buf.subarray(0, n));
    }
    return text.split("\r\n")[1]!;
  } finally {
    conn.close();
  }
}

Deno.test("a TCP pool spreads Redis clients over two redis-servers", async () => {
  const publicPort = freePort();
  const { server, port } = await poolServer([
    "--tcp-ports",
    `${publicPort}-${publicPort}`,
  ]);
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-pool-redis-" });
  const r1 = await redis("one", dir), r2 = await redis("two", dir);
  const args = (p: number) => [
    "tcp",
    String(p),
    "-p",
    String(port),
    "--remote-port",
    String(publicPort),
    "--pool",
  ];
  const first = new Proc(args(r1.port));
  await first.waitFor("stdout", /^tcp:\/\/localhost:\d+$/m);
  const secret = (await first.waitFor("stderr", /pool secret (\S+)/))[1]!;
  const second = new Proc(args(r2.port), { GROKTUNNEL_POOL_SECRET: secret });
  try {
    const url = (await second.waitFor("stdout", /^tcp:\/\/\S+$/m))[0];
    assert.equal(url, `tcp://localhost:${publicPort}`);
    await server.waitFor("stderr", /joined by/);
    const seen = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const id = await who(publicPort);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ["one", "two"]);
    for (const [id, n] of seen) {
      assert.ok(n >= 16 && n <= 24, `${id} got ${n} of 40`);
    }
    // One member leaves: its port stays, served by the other.
    assert.equal((await first.stop("SIGINT")).code, 0);
    for (let i = 0; i < 10; i++) assert.equal(await who(publicPort), "two");
  } finally {
    await first.stop();
    await second.stop();
    await server.stop();
    for (const r of [r1, r2]) {
      r.child.kill("SIGTERM");
      await r.child.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
