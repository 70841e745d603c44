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
      if (path === "/healthz" && id.endsWith("-sick")) {
        return new Response("sick\n", { status: 503 });
      }
      return new Response(id);
    },
  );
}

/** A member of the pool `name` for `localPort`; resolves once it is up. */
async function member(
  localPort: number,
  serverPort: number,
  name: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Proc> {
  const p = new Proc([
    String(localPort),
    "-p",
    String(serverPort),
    "--subdomain",
    name,
    "--pool",
    "--quiet",
    ...extra,
  ], env);
  await p.waitFor("stdout", /^http:\/\/\S+$/m);
  return p;
}

/** The server's log line count of `re` (members joining, leaving). */
function count(text: string, re: RegExp): number {
  return text.match(new RegExp(re.source, "g"))?.length ?? 0;
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
        const key = r.status === 200 ? r.text : `status ${r.status}`;
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
          const p = new Proc([
            String(a.addr.port),
            "-p",
            String(port),
            "--subdomain",
            "api",
            "--pool",
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
        const third = new Proc([
          String(a.addr.port),
          "-p",
          String(port),
          "--subdomain",
          "api",
          "--pool",
          "--no-inspect",
        ], { GROKTUNNEL_POOL_SECRET: secret });
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
